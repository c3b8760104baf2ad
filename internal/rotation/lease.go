package rotation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// holderID names this process as a lock holder: host, pid and a random part,
// so two engines in one process never share a lease. acquire adds when the
// lock was taken, so a waiter can say since when it waits.
func holderID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", hostIdentity(), os.Getpid(), hex.EncodeToString(b))
}

// hostIdentity names the host a pid belongs to: the host name, with the pid
// namespace where the system has them, so that a container sharing the
// host's name never judges another container's pid.
func hostIdentity() string {
	host, _ := os.Hostname()
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		// pid:[4026531836]. The inode alone repeats across machines (the
		// initial namespace has the same one everywhere), so the boot's id
		// tells two machines of one host name apart.
		host += "~" + strings.TrimSuffix(strings.TrimPrefix(ns, "pid:["), "]")
		if boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
			host += "~" + strings.TrimSpace(string(boot))
		}
	}
	return host
}

// sinceMark separates a holder from the time it took the lock.
const sinceMark = " since "

// LockHeld says that a lock a run or a rotation needs is held by another
// holder: whom it waits for and until when, or that the holder was gone and
// the lock was taken over at once.
type LockHeld struct {
	Lock      string    // the store's lock: store.RunLock or store.TokenLock(id)
	Token     string    // the token whose lock it is; empty for the run lock
	Holder    string    // the holder as the store records it
	Host      string    // the holder's host name; empty when the holder does not say
	PID       int       // the holder's process id; 0 when the holder does not say
	Since     time.Time // when the holder took the lock; zero when it does not say
	ExpiresAt time.Time // when its lease runs out unless the holder renews it
	WaitUntil time.Time // when this process stops waiting for it
	TakenOver bool      // the holder ran on this host and its process is gone: the lock was taken at once
}

// parseHolder reads what a holder made by holderID and acquire says about
// itself; a holder in another form leaves the fields empty.
func parseHolder(holder string) (hostID string, pid int, since time.Time) {
	id, at, ok := strings.Cut(holder, sinceMark)
	if ok {
		since, _ = time.Parse(time.RFC3339, at)
	}
	parts := strings.SplitN(id, "/", 3)
	if len(parts) < 3 {
		return "", 0, since
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return "", 0, since
	}
	return parts[0], pid, since
}

// holderGone tells whether a holder's process is known to have ended: it
// ran on this host (and pid namespace) and no process has its pid. A holder
// on another host, or whose process may still run, is never judged gone.
func holderGone(holder string) bool {
	host, pid, _ := parseHolder(holder)
	return pid != 0 && pid != os.Getpid() && host == hostIdentity() && processGone(pid)
}

// lease is a held store lock, renewed in the background until released, so a
// long delivery (a rate limit can make GitHub wait minutes) keeps its lock
// while a crashed holder's lock still expires.
type lease struct {
	st     store.Store
	name   string
	holder string
	stop   chan struct{}
	done   sync.WaitGroup
	lost   context.CancelFunc // called when a renewal finds the lock taken
}

// acquire takes the named lock, polling every interval until wait has passed;
// it returns nil and no error when wait passes without the lock. A holder
// whose process is gone (same host, no such pid: a crash) is taken over at
// once rather than waited for until its lease lapses. notice, when not nil,
// hears of each holder it waits for and each it takes over. The
// returned context ends when the lease is lost (a renewal found another
// holder, after this process stalled past the lease), so work done under
// it stops rather than continuing unprotected.
func acquire(ctx context.Context, st store.Store, name, holder string, ttl, wait, interval time.Duration, notice func(LockHeld)) (*lease, context.Context, error) {
	deadline := time.Now().Add(wait)
	told := map[string]bool{} // holders reported or taken over
	for {
		mine := holder + sinceMark + time.Now().UTC().Format(time.RFC3339)
		ok, err := st.TryLock(ctx, name, mine, ttl)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			lctx, cancel := context.WithCancelCause(ctx)
			l := &lease{st: st, name: name, holder: mine, stop: make(chan struct{}),
				lost: func() { cancel(fmt.Errorf("lost the %s lock to another holder", name)) }}
			l.done.Add(1)
			go l.renew(ttl)
			return l, lctx, nil
		}
		other, held, err := st.Lease(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		if held && !told[other.Holder] {
			told[other.Holder] = true
			host, pid, since := parseHolder(other.Holder)
			h := LockHeld{Lock: name, Holder: other.Holder, Host: strings.SplitN(host, "~", 2)[0], PID: pid, Since: since,
				ExpiresAt: other.ExpiresAt, WaitUntil: deadline}
			if holderGone(other.Holder) {
				// Unlock frees the lock only if that holder still has it, so
				// a live process that took it meanwhile keeps it.
				if err := st.Unlock(ctx, name, other.Holder); err != nil {
					return nil, nil, err
				}
				h.TakenOver = true
				if notice != nil {
					notice(h)
				}
				continue
			}
			if notice != nil {
				notice(h)
			}
		}
		if !time.Now().Add(interval).Before(deadline) {
			return nil, nil, nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (l *lease) renew(ttl time.Duration) {
	defer l.done.Done()
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			// A failed renewal is retried on the next tick; the lease lasts
			// ttl, three ticks.
			ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
			held, err := l.st.TryLock(ctx, l.name, l.holder, ttl)
			cancel()
			if err == nil && !held {
				l.lost()
				return
			}
		}
	}
}

// release stops renewing and frees the lock.
func (l *lease) release() error {
	close(l.stop)
	l.done.Wait()
	l.lost()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return l.st.Unlock(ctx, l.name, l.holder)
}
