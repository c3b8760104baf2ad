package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// deadPID is the pid of a process that has ended and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("a pid's liveness is not asked on Windows: leases lapse by themselves there")
	}
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to start and wait for")
	}
	cmd := exec.Command(bin)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestRunLockHolder: a run that finds the run lock held says by whom (host,
// pid), since when and when the lease lapses; a holder on this host whose
// process is gone (a crash) is taken over at once, without waiting for its
// lease; a live holder, one on another host or one that does not say is
// waited for.
func TestRunLockHolder(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	dead := deadPID(t)
	since := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	// The planted lease is measured by a clock of its own, so it never
	// lapses during the test and its end is known.
	leaseNow := time.Now().Add(time.Hour).Truncate(time.Second)
	cases := []struct {
		name     string
		holder   string
		takeOver bool
		wantPID  int
		wantHost string
	}{
		{"a crashed run on this host", fmt.Sprintf("%s/%d/dead0001/run/1 since %s", rotation.HostIdentity(), dead, since.Format(time.RFC3339)), true, dead, host},
		{"a live process on this host", fmt.Sprintf("%s/%d/live0001/run/1 since %s", rotation.HostIdentity(), os.Getppid(), since.Format(time.RFC3339)), false, os.Getppid(), host},
		{"a dead pid on another host", fmt.Sprintf("elsewhere/%d/away0001/run/1 since %s", dead, since.Format(time.RFC3339)), false, dead, "elsewhere"},
		{"this host in another pid namespace", fmt.Sprintf("%s~1/%d/ns000001/run/1 since %s", host, dead, since.Format(time.RFC3339)), false, dead, host},
		{"this host name and namespace on another machine", fmt.Sprintf("%s/%d/boot0001/run/1 since %s", otherBoot(rotation.HostIdentity()), dead, since.Format(time.RFC3339)), false, dead, host},
		{"a holder that does not say", "crashed", false, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachEngine(t, func(t *testing.T, f *fixture) {
				ctx := t.Context()
				planter, err := store.Open(ctx, f.dsn, store.WithLeaseClock(func() time.Time { return leaseNow }))
				if err != nil {
					t.Fatal(err)
				}
				defer planter.Close()
				if ok, err := planter.TryLock(ctx, store.RunLock, tc.holder, 2*time.Minute); err != nil || !ok {
					t.Fatalf("plant the lease: %v %v", ok, err)
				}
				var mu sync.Mutex
				var heard []rotation.LockHeld
				// No wait: only a takeover can get the lock.
				e := f.engine(rotation.WithLockWait(0), rotation.WithLockNotice(func(h rotation.LockHeld) {
					mu.Lock()
					defer mu.Unlock()
					heard = append(heard, h)
				}))
				_, err = e.Run(ctx, rotation.RunOptions{})
				if tc.takeOver && err != nil {
					t.Fatalf("the lock of a gone holder was not taken over: %v", err)
				}
				if !tc.takeOver && !errors.Is(err, rotation.ErrLocked) {
					t.Fatalf("run = %v, want ErrLocked", err)
				}
				if len(heard) != 1 {
					t.Fatalf("heard %d notices, want 1: %+v", len(heard), heard)
				}
				h := heard[0]
				if h.Lock != store.RunLock || h.Token != "" || h.Holder != tc.holder || h.TakenOver != tc.takeOver ||
					h.PID != tc.wantPID || h.Host != tc.wantHost || !h.ExpiresAt.Equal(leaseNow.Add(2*time.Minute)) {
					t.Fatalf("notice %+v, want holder %q, pid %d on %q, taken over %v, lapsing at %s",
						h, tc.holder, tc.wantPID, tc.wantHost, tc.takeOver, leaseNow.Add(2*time.Minute))
				}
				if tc.wantPID != 0 && !h.Since.Equal(since) {
					t.Errorf("since %s, want %s", h.Since, since)
				}
				l, held, err := f.st.Lease(ctx, store.RunLock)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case tc.takeOver && held:
					t.Errorf("the run did not release the lock it took over: %+v", l)
				case !tc.takeOver && (!held || l.Holder != tc.holder):
					t.Errorf("the holder lost its lock: %+v %v", l, held)
				}
			})
		})
	}
}

// TestHeldLockSaysSince: the lease a run holds names its host, its pid and
// when it took the lock: what another run reports, and what it judges a
// crashed holder by.
func TestHeldLockSaysSince(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		f.declare(t, "api")
		f.clock.Advance(23 * day)
		before := time.Now().UTC().Truncate(time.Second)
		var during store.Lease
		e := f.engine(rotation.WithHook(func(ctx context.Context, step rotation.Step, _ string) error {
			if step == rotation.AfterCreate {
				l, _, err := f.st.Lease(ctx, store.RunLock)
				during = l
				return err
			}
			return nil
		}))
		if _, err := e.Run(ctx, rotation.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		prefix := fmt.Sprintf("%s/%d/", rotation.HostIdentity(), os.Getpid())
		id, at, ok := strings.Cut(during.Holder, " since ")
		since, err := time.Parse(time.RFC3339, at)
		if !ok || !strings.HasPrefix(id, prefix) || err != nil || since.Before(before) || since.After(time.Now()) {
			t.Fatalf("the run's lease holder is %q, want %s… since a time in this test", during.Holder, prefix)
		}
	})
}

// otherBoot is id with another boot's id in place of its own: the same host
// name and pid namespace inode, seen from another machine.
func otherBoot(id string) string {
	parts := strings.Split(id, "~")
	if len(parts) < 3 {
		return id + "~another-machine" // no boot id here: any other identity
	}
	parts[len(parts)-1] = "00000000-0000-0000-0000-000000000000"
	return strings.Join(parts, "~")
}
