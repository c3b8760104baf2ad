package rotation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// holderID names this process as a lock holder: host, pid and a random part,
// so two engines in one process never share a lease.
func holderID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
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
}

// acquire takes the named lock, polling every interval until wait has passed;
// it returns nil and no error when wait passes without the lock.
func acquire(ctx context.Context, st store.Store, name, holder string, ttl, wait, interval time.Duration) (*lease, error) {
	deadline := time.Now().Add(wait)
	for {
		ok, err := st.TryLock(ctx, name, holder, ttl)
		if err != nil {
			return nil, err
		}
		if ok {
			l := &lease{st: st, name: name, holder: holder, stop: make(chan struct{})}
			l.done.Add(1)
			go l.renew(ttl)
			return l, nil
		}
		if !time.Now().Add(interval).Before(deadline) {
			return nil, nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
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
			_, _ = l.st.TryLock(ctx, l.name, l.holder, ttl)
			cancel()
		}
	}
}

// release stops renewing and frees the lock.
func (l *lease) release() error {
	close(l.stop)
	l.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return l.st.Unlock(ctx, l.name, l.holder)
}
