package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/pgtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// lifetime is the tokens' policy in these tests: a previous version stays
// valid for an hour after a rotation.
var lifetime = store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour}

// seenWithin is how long a change may take to reach every instance before
// a test fails. The issue asks for one second; the deadline is wider so a
// loaded machine does not fail the test, and each latency is logged.
const seenWithin = 5 * time.Second

// admin opens a registry that may change the store at dsn (created), on a
// settable clock.
func admin(t *testing.T, dsn string, clock *clocktest.Clock) *registry.Registry {
	t.Helper()
	st, err := store.Open(t.Context(), dsn, store.Create())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return registry.New(st, seal.NewKeyring(sealtest.Key(t)), registry.WithClock(clock.Now), registry.WithActor("test"))
}

// instance starts a Source on a read-only store of its own at dsn, as one
// `tokenward serve` would, and runs it until the test ends.
func instance(t *testing.T, dsn string, opts ...server.SourceOption) *server.Source {
	t.Helper()
	st, err := store.Open(t.Context(), dsn, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return run(t, st, opts...)
}

// run starts a Source on st and runs it until the test ends; the test's
// cleanup waits for Run to return.
func run(t *testing.T, st store.Store, opts ...server.SourceOption) *server.Source {
	t.Helper()
	src, err := server.NewSource(t.Context(), st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return src
}

// verify checks value against snap at now, as the server's handlers do.
func verify(snap *server.Snapshot, value string, now time.Time, scopes ...string) token.Result {
	res, err := token.Verify(context.Background(), value, scopes, now, func(_ context.Context, id string) (*token.Record, error) {
		if e := snap.Lookup(id); e != nil {
			return &e.Record, nil
		}
		return nil, nil
	})
	if err != nil {
		panic(err) // a snapshot lookup cannot fail
	}
	return res
}

// eventually polls every source until ok holds for its current snapshot,
// logs how long each took from the call, and fails past seenWithin.
func eventually(t *testing.T, what string, srcs []*server.Source, ok func(*server.Snapshot) bool) {
	t.Helper()
	start := time.Now()
	waiting := map[int]bool{}
	for i := range srcs {
		waiting[i] = true
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		for i := range waiting {
			if snap, err := srcs[i].Current(); err == nil && ok(snap) {
				took := time.Since(start)
				note := ""
				if took > time.Second {
					note = " (more than the one second the issue asks)"
				}
				t.Logf("%s: seen by instance %d after %v%s", what, i+1, took.Round(time.Millisecond), note)
				delete(waiting, i)
			}
		}
		if len(waiting) == 0 {
			return
		}
		if time.Since(start) > seenWithin {
			for i := range waiting {
				snap, err := srcs[i].Current()
				t.Errorf("%s: not seen by instance %d within %v (snapshot %v, %v; status %+v)", what, i+1, seenWithin, snap.Seq(), err, srcs[i].Status())
			}
			t.FailNow()
		}
		<-tick.C
	}
}

// TestSourcesSeeChanges: two instances on one store (one SQLite file, one
// PostgreSQL database) both answer a destroy, a role's new scope, a
// finished rotation, the end of an overlap and a revocation within the
// deadline, each measured.
func TestSourcesSeeChanges(t *testing.T) {
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			clock := clocktest.New()
			reg := admin(t, dsn, clock)
			for _, s := range []string{"billing:read", "billing:write"} {
				if _, err := reg.CreateScope(ctx, s, ""); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := reg.CreateRole(ctx, registry.RoleSpec{Name: "reader", Scopes: []string{"billing:read"}}); err != nil {
				t.Fatal(err)
			}
			values := map[string]string{}
			for _, name := range []string{"doomed", "rotating"} {
				if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: name, Owner: "team-" + name, Roles: []string{"reader"}, Lifetime: lifetime}); err != nil {
					t.Fatal(err)
				}
				issued, err := reg.IssueFirst(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				values[name] = issued.Value
			}
			srcs := []*server.Source{instance(t, dsn), instance(t, dsn)}
			for i, src := range srcs {
				snap, err := src.Current()
				if err != nil {
					t.Fatal(err)
				}
				for name, v := range values {
					res := verify(snap, v, clock.Now(), "billing:read")
					if res.Code != token.Valid || res.TokenName != name {
						t.Fatalf("instance %d, before any change: %s verifies %+v", i+1, name, res)
					}
					if e := snap.Lookup(res.VersionID); e.Token.Owner != "team-"+name || e.IssuedAt.IsZero() || e.Token.Retired {
						t.Fatalf("instance %d: entry of %s: %+v %+v", i+1, name, e, e.Token)
					}
				}
			}

			if err := reg.DeleteToken(ctx, "doomed"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "destroy", srcs, func(s *server.Snapshot) bool {
				res := verify(s, values["doomed"], clock.Now())
				return res.Code == token.Revoked && s.Lookup(res.VersionID).Token.Retired
			})

			if _, err := reg.UpdateRole(ctx, registry.RoleSpec{Name: "reader", Scopes: []string{"billing:read", "billing:write"}}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a role's new scope", srcs, func(s *server.Snapshot) bool {
				return verify(s, values["rotating"], clock.Now(), "billing:write").Code == token.Valid
			})

			limit := store.RateLimit{Requests: 100, Per: time.Minute}
			if _, err := reg.UpdateToken(ctx, registry.TokenSpec{Name: "rotating", Owner: "team-rotating", Roles: []string{"reader"}, Lifetime: lifetime,
				AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}, RateLimit: limit}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a token's new restrictions", srcs, func(s *server.Snapshot) bool {
				info := s.Lookup(verify(s, values["rotating"], clock.Now()).VersionID).Token
				return info.RateLimit == limit && len(info.AllowedCIDRs) == 2 &&
					info.AllowedCIDRs[0] == netip.MustParsePrefix("10.0.0.0/8") && info.AllowedCIDRs[1] == netip.MustParsePrefix("2001:db8::/32")
			})

			pending, _, err := reg.BeginRotation(ctx, "rotating")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reg.FinishRotation(ctx, "rotating", pending.VersionID); err != nil {
				t.Fatal(err)
			}
			old := values["rotating"]
			eventually(t, "a finished rotation", srcs, func(s *server.Snapshot) bool {
				cur, prev := verify(s, pending.Value, clock.Now()), verify(s, old, clock.Now())
				return cur.Code == token.Valid && s.Lookup(cur.VersionID).State == token.StateCurrent &&
					prev.Code == token.Valid && s.Lookup(prev.VersionID).State == token.StatePrevious
			})

			// Past the overlap the previous version is expired at once, by
			// the clock, before anything revokes it.
			clock.Advance(lifetime.Overlap + time.Second)
			for i, src := range srcs {
				snap, err := src.Current()
				if err != nil {
					t.Fatal(err)
				}
				if res := verify(snap, old, clock.Now()); res.Code != token.Expired {
					t.Errorf("instance %d: the previous version past its overlap verifies %s, want expired", i+1, res.Code)
				}
				if res := verify(snap, pending.Value, clock.Now()); res.Code != token.Valid {
					t.Errorf("instance %d: the current version verifies %s, want valid", i+1, res.Code)
				}
			}

			if n, err := reg.RevokeExpired(ctx); err != nil || n != 1 {
				t.Fatalf("revoke expired: %d, %v; want 1 revoked", n, err)
			}
			eventually(t, "a revocation", srcs, func(s *server.Snapshot) bool {
				return verify(s, old, clock.Now()).Code == token.Revoked
			})

			head, err := reg.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i, src := range srcs {
				st := src.Status()
				if !st.Loaded || st.Seq != head.Seq || st.Size != 3 || st.Invalidations < 1 || st.Stale || st.LastError != "" {
					t.Errorf("instance %d: status %+v; want loaded at seq %d with 3 versions, invalidations counted, fresh", i+1, st, head.Seq)
				}
			}
		})
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// outage is a store going away under a running Source and coming back.
type outage struct {
	dsn  string // where the store is; its password must never show
	down func(t *testing.T)
	up   func(t *testing.T)
	// wrap is the store the Source reads, given the one opened at dsn.
	wrap func(store.Store) store.Store
}

// switchable is a store whose reads can be made to fail, as a SQLite file
// on a disk that went away would.
type switchable struct {
	store.Store
	down atomic.Bool
}

var errGone = errors.New("disk I/O error")

func (s *switchable) AuditHead(ctx context.Context) (audit.Head, error) {
	if s.down.Load() {
		return audit.Head{}, errGone
	}
	return s.Store.AuditHead(ctx)
}

func (s *switchable) VerificationData(ctx context.Context) (store.VerificationData, error) {
	if s.down.Load() {
		return store.VerificationData{}, errGone
	}
	return s.Store.VerificationData(ctx)
}

// TestSourceFailsClosedWhenTheStoreStops: a Source keeps answering while
// its store is unreachable, up to the maximum staleness measured on its
// clock, then returns ErrStale; it answers again, and follows changes
// again, once the store is back. Neither its status nor its log ever shows
// the DSN's password.
func TestSourceFailsClosedWhenTheStoreStops(t *testing.T) {
	const password = "Sup3r-s3cret-pw"
	cases := map[string]func(t *testing.T) outage{
		"sqlite": func(t *testing.T) outage {
			var sw *switchable
			return outage{
				dsn:  engines.DSN(t, "sqlite"),
				down: func(*testing.T) { sw.down.Store(true) },
				up:   func(*testing.T) { sw.down.Store(false) },
				wrap: func(st store.Store) store.Store { sw = &switchable{Store: st}; return sw },
			}
		},
		// A server of its own, since halting it would break the other
		// tests' databases on the shared one.
		"postgres": func(t *testing.T) outage {
			if os.Getenv(pgtest.EnvDSN) != "" {
				if os.Getenv("CI") != "" {
					t.Fatal("under CI this test needs a PostgreSQL server pgtest starts itself: unset " + pgtest.EnvDSN)
				}
				t.Skip("SKIPPING POSTGRES: the server named by " + pgtest.EnvDSN + " is not ours to halt")
			}
			srv, err := pgtest.Start()
			if err != nil {
				srv = nil
			}
			t.Cleanup(srv.Stop)
			dsn := srv.NewDatabase(t, err)
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			// pgtest's server trusts loopback logins, so any password
			// works: the point is that it never shows.
			u.User = url.UserPassword(u.User.Username(), password)
			return outage{
				dsn:  u.String(),
				down: func(t *testing.T) { must(t, srv.Halt()) },
				up:   func(t *testing.T) { must(t, srv.Restart()) },
				wrap: func(st store.Store) store.Store { return st },
			}
		},
	}
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			o := cases[engine](t)
			ctx := t.Context()
			clock := clocktest.New()
			reg := admin(t, o.dsn, clock)
			if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: "api", Lifetime: lifetime}); err != nil {
				t.Fatal(err)
			}
			issued, err := reg.IssueFirst(ctx, "api")
			if err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(ctx, o.dsn, store.ReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			var logs lockedBuffer
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("the source's log:\n%s", logs.String())
				}
			})
			const maxStale = time.Minute
			src := run(t, o.wrap(st), server.WithClock(clock.Now), server.WithMaxStaleness(maxStale),
				server.WithPollInterval(20*time.Millisecond), server.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))

			o.down(t)
			until(t, "the source notices the store is gone", func() bool { return src.Status().LastError != "" })
			steps := []struct {
				advance time.Duration
				want    error
			}{
				{0, nil},
				{maxStale - time.Second, nil},
				{2 * time.Second, server.ErrStale},
			}
			for _, s := range steps {
				clock.Advance(s.advance)
				snap, err := src.Current()
				if !errors.Is(err, s.want) {
					t.Fatalf("store gone, clock moved on %v: Current() = %v, want %v", s.advance, err, s.want)
				}
				if err == nil && verify(snap, issued.Value, clock.Now()).Code != token.Valid {
					t.Fatal("store gone, inside the maximum staleness: the token no longer verifies from the snapshot")
				}
			}
			if st := src.Status(); !st.Stale || !st.Loaded || st.LastError == "" {
				t.Errorf("stale status: %+v", st)
			}
			lastErr := src.Status().LastError
			t.Logf("last error while the store was gone: %s", lastErr)

			o.up(t)
			until(t, "the source answers again once the store is back", func() bool { _, err := src.Current(); return err == nil })
			if st := src.Status(); st.Stale || st.LastError != "" {
				t.Errorf("status after recovery: %+v", st)
			}
			// It follows changes again: on PostgreSQL through a listener
			// that reconnected.
			if engine == "postgres" {
				until(t, "the listener reconnects", func() bool {
					return strings.Count(logs.String(), "listening for the store's changes") >= 2
				})
			}
			if err := admin(t, o.dsn, clock).DeleteToken(ctx, "api"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a destroy after the store came back", []*server.Source{src}, func(s *server.Snapshot) bool {
				return verify(s, issued.Value, clock.Now()).Code == token.Revoked
			})

			for what, text := range map[string]string{"the status's last error": lastErr, "the log": logs.String()} {
				if strings.Contains(text, password) || strings.Contains(text, url.QueryEscape(password)) {
					t.Errorf("%s shows the DSN's password: %s", what, text)
				}
			}
			if !strings.Contains(logs.String(), "cannot read the store") {
				t.Errorf("the log does not say the store could not be read:\n%s", logs.String())
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// until polls cond until it holds, failing after 30s (a PostgreSQL restart
// included).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		<-tick.C
	}
}

// TestSourceFailsClosedOnABadStoredNetwork: an allowed network that does
// not parse (a row written around tokenward) leaves the token allowed from
// nowhere, never from anywhere.
func TestSourceFailsClosedOnABadStoredNetwork(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.Open(ctx, engines.DSN(t, "sqlite"), store.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := clocktest.Start
	err = st.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateToken(ctx, store.Token{ID: "t1", Name: "odd", Lifetime: lifetime, CreatedAt: now, UpdatedAt: now,
			AllowedCIDRs: []string{"10.0.0.0/8", "ten-dot-nothing"}}); err != nil {
			return err
		}
		return tx.CreateVersion(ctx, store.Version{ID: "v1", TokenID: "t1", State: token.StateCurrent, Fingerprint: "tw_v1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	src, err := server.NewSource(ctx, st, server.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Current()
	if err != nil {
		t.Fatal(err)
	}
	nets := snap.Lookup("v1").Token.AllowedCIDRs
	if len(nets) != 2 || nets[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("allowed networks %v, want 10.0.0.0/8 and one that contains nothing", nets)
	}
	for _, addr := range []string{"0.0.0.0", "203.0.113.7", "::1"} {
		if nets[1].Contains(netip.MustParseAddr(addr)) {
			t.Errorf("the network that did not parse contains %s", addr)
		}
	}
	if !strings.Contains(logs.String(), "does not parse") {
		t.Errorf("the log does not say a network did not parse:\n%s", logs.String())
	}
}

// TestNewSourceRefuses: bad options and an unreadable store are errors
// that say what to fix.
func TestNewSourceRefuses(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), engines.DSN(t, "sqlite"), store.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gone := &switchable{Store: st}
	gone.down.Store(true)
	cases := []struct {
		name string
		st   store.Store
		opts []server.SourceOption
		want string
	}{
		{"no staleness", st, []server.SourceOption{server.WithMaxStaleness(0)}, "--max-staleness"},
		{"negative poll", st, []server.SourceOption{server.WithPollInterval(-time.Second)}, "poll interval"},
		{"store unreadable", gone, nil, errGone.Error()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := server.NewSource(t.Context(), c.st, c.opts...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewSource: %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// slowLoads is a store whose bulk reads, after the first, wait until the
// test lets them go.
type slowLoads struct {
	store.Store
	loads   atomic.Int32
	started chan struct{}
	release chan struct{}
}

func (s *slowLoads) VerificationData(ctx context.Context) (store.VerificationData, error) {
	if s.loads.Add(1) > 1 {
		s.started <- struct{}{}
		<-s.release
	}
	return s.Store.VerificationData(ctx)
}

// TestReloadDoesNotBlockCurrent: while a reload is under way, Current
// answers at once from the snapshot it has; the new one replaces it when
// the reload is done.
func TestReloadDoesNotBlockCurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := engines.DSN(t, "sqlite")
	reg := admin(t, dsn, clocktest.New())
	st, err := store.Open(ctx, dsn, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	slow := &slowLoads{Store: st, started: make(chan struct{}, 1), release: make(chan struct{})}
	src := run(t, slow, server.WithPollInterval(5*time.Millisecond))
	var once sync.Once
	release := func() { once.Do(func() { close(slow.release) }) }
	t.Cleanup(release) // before Run's cleanup waits for it, should the test fail
	before, err := src.Current()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateScope(ctx, "billing:read", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-slow.started:
	case <-time.After(seenWithin):
		t.Fatalf("no reload within %v of a change", seenWithin)
	}
	for range 100 {
		if snap, err := src.Current(); err != nil || snap != before {
			t.Fatalf("during a reload: Current() = %v, %v; want the snapshot it had", snap.Seq(), err)
		}
	}
	release()
	until(t, "the reloaded snapshot", func() bool {
		snap, err := src.Current()
		return err == nil && snap.Seq() > before.Seq()
	})
}

// TestSourceLeavesCredentialsOut: a credential's versions (passwords of
// another system) are not in the snapshot, so serve never answers for them.
func TestSourceLeavesCredentialsOut(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.Open(ctx, engines.DSN(t, "sqlite"), store.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := clocktest.Start
	err = st.Update(ctx, func(tx store.Tx) error {
		for _, tk := range []store.Token{
			{ID: "t1", Name: "api", Lifetime: lifetime, CreatedAt: now, UpdatedAt: now},
			{ID: "c1", Name: "billing-db", Lifetime: lifetime, CreatedAt: now, UpdatedAt: now,
				Kind: store.KindCredential, Issuer: []byte(`{"redis":{"admin_url_env":"R","user":"app"}}`)},
		} {
			if err := tx.CreateToken(ctx, tk); err != nil {
				return err
			}
			v := store.Version{ID: "v-" + tk.ID, TokenID: tk.ID, State: token.StateCurrent, Fingerprint: "fp-" + tk.ID,
				CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := tx.CreateVersion(ctx, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := server.NewSource(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Current()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Lookup("v-t1") == nil || snap.Lookup("v-c1") != nil || snap.Len() != 1 {
		t.Fatalf("snapshot of %d versions: token's %v, credential's %v; want only the token's", snap.Len(), snap.Lookup("v-t1") != nil, snap.Lookup("v-c1") != nil)
	}
}

// TestSourceSkipsUnrelatedChanges: a change verification does not read (a
// setting, a user's value) moves the snapshot's counter without reading
// every token again — the entries stay the very same — while a change of a
// token still reloads it, on both engines.
func TestSourceSkipsUnrelatedChanges(t *testing.T) {
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			clock := clocktest.New()
			reg := admin(t, dsn, clock)
			if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: "api", Lifetime: lifetime}); err != nil {
				t.Fatal(err)
			}
			issued, err := reg.IssueFirst(ctx, "api")
			must(t, err)
			src := instance(t, dsn, server.WithPollInterval(10*time.Millisecond))
			head := func() int64 {
				h, err := reg.Store().AuditHead(ctx)
				must(t, err)
				return h.Seq
			}
			atHead := func(want int64) func(*server.Snapshot) bool {
				return func(s *server.Snapshot) bool { return s.Seq() == want }
			}
			snap, err := src.Current()
			must(t, err)
			before := snap.Lookup(issued.VersionID)
			if before == nil {
				t.Fatal("the issued version is not in the first snapshot")
			}
			must(t, reg.CreateSetting(ctx, registry.SettingSpec{Key: "ui.theme", Type: registry.TypeString, Default: json.RawMessage(`"dark"`), UserEditable: true}))
			must(t, reg.UpdateUserValues(ctx, "alice", map[string]json.RawMessage{"ui.theme": json.RawMessage(`"light"`)}, nil))
			eventually(t, "a setting and a user's value", []*server.Source{src}, atHead(head()))
			snap, _ = src.Current()
			if snap.Lookup(issued.VersionID) != before {
				t.Fatal("a change of configuration reloaded the snapshot")
			}
			if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: "other", Lifetime: lifetime}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a new token", []*server.Source{src}, atHead(head()))
			snap, _ = src.Current()
			if e := snap.Lookup(issued.VersionID); e == nil || e == before {
				t.Fatalf("a new token did not reload the snapshot (entry %p, before %p)", e, before)
			}
		})
	}
}
