package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestRotateTakesOverACrashedRunsLock: a run lock left by a rotate that
// crashed on this host is taken over at once, and the run says from whom,
// instead of waiting in silence for its lease to lapse.
func TestRotateTakesOverACrashedRunsLock(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("a pid's liveness is not asked on Windows")
	}
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to start and wait for")
	}
	crashed := exec.Command(bin)
	if err := crashed.Run(); err != nil {
		t.Fatal(err)
	}
	dead := crashed.Process.Pid

	w := newWorld(t)
	files := w.withFileTokens(t, t.TempDir(), "api")
	ctx := t.Context()
	reg, err := registry.Open(ctx, registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	// This process's own holder, as a lease shows it, with the dead
	// process's pid in place of ours: what a crashed rotate leaves.
	var mine string
	ti, err := reg.Token(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	eng := rotation.New(reg, destination.NewRouter(nil), rotation.WithHook(func(ctx context.Context, step rotation.Step, _ string) error {
		if step == rotation.AfterCreate {
			l, _, err := reg.Store().Lease(ctx, store.TokenLock(ti.ID))
			mine = l.Holder
			return err
		}
		return nil
	}))
	if _, err := eng.Rotate(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	host, rest, _ := strings.Cut(mine, "/")
	_, rest, _ = strings.Cut(rest, "/")
	holder := fmt.Sprintf("%s/%d/%s", host, dead, rest)
	if ok, err := reg.Store().TryLock(ctx, store.RunLock, holder, 2*time.Minute); err != nil || !ok {
		t.Fatalf("plant the crashed run's lock: %v %v", ok, err)
	}
	old := readValue(t, files["api"])

	r := w.with("TOKENWARD_NOW", "2026-12-21T09:00:00Z").run(t, "", "rotate")
	hostname, _ := os.Hostname()
	want := fmt.Sprintf("tokenward: took over the store's run lock from pid %d on host %s since ", dead, hostname)
	if r.code != exitOK || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "that process is gone") {
		t.Fatalf("exit %d; stderr does not say %q:\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	if readValue(t, files["api"]) == old {
		t.Fatalf("the run did not rotate:\n%s", r.stdout)
	}
}

// TestLockNotice: a run that waits for a lock says whom it waits for, since
// when, when the lease lapses and how long it waits; in a workflow as a
// notice too.
func TestLockNotice(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name     string
		workflow bool
		held     rotation.LockHeld
		want     string
	}{
		{"a run waits", false, rotation.LockHeld{Lock: store.RunLock, Holder: "ci-7/4242/ab/run/1 since 2026-12-01T09:00:00Z", Host: "ci-7", PID: 4242,
			Since: at("2026-12-01T09:00:00Z"), ExpiresAt: at("2026-12-01T09:02:30Z"), WaitUntil: at("2026-12-01T09:06:00Z")},
			"tokenward: the store's run lock is held by pid 4242 on host ci-7 since 2026-12-01T09:00:00Z; its lease lapses at 2026-12-01T09:02:30Z " +
				"unless that process renews it (a crashed one does not); waiting until 2026-12-01T09:06:00Z at the latest\n"},
		{"a token's lock, a holder that does not say", true, rotation.LockHeld{Lock: store.TokenLock("tok_1"), Token: "api", Holder: "crashed",
			ExpiresAt: at("2026-12-01T09:02:30Z"), WaitUntil: at("2026-12-01T09:06:00Z")},
			"::notice::the lock of token api is held by holder crashed; its lease lapses at 2026-12-01T09:02:30Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			env := map[string]string{}
			if tc.workflow {
				env["GITHUB_ACTIONS"] = "true"
			}
			getenv := func(k string) string { return env[k] }
			c := &cli{stdout: &out, stderr: &errOut, getenv: getenv,
				gha: githubactions.New(githubactions.WithWriter(&out), githubactions.WithGetenv(getenv))}
			c.lockNotice(tc.held)
			got := errOut.String()
			if tc.workflow {
				got = out.String()
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("printed %q, want %q", got, tc.want)
			}
		})
	}
}
