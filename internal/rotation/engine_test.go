package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

var engines *storetest.Engines

func TestMain(m *testing.M) {
	engines = storetest.Start()
	code := m.Run()
	engines.Stop()
	stopIssuerServers()
	os.Exit(code)
}

const day = 24 * time.Hour

// memory is a destination writer that keeps values in memory and fails the
// destinations it is told to.
type memory struct {
	mu     sync.Mutex
	values map[string]string
	fail   map[string]error
	writes int
}

func newMemory() *memory { return &memory{values: map[string]string{}, fail: map[string]error{}} }

func (m *memory) Write(_ context.Context, d store.Destination, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail[d.Key]; err != nil {
		return err
	}
	m.writes++
	m.values[d.Key] = value
	return nil
}

func (m *memory) Delete(_ context.Context, d store.Destination) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.values, d.Key)
	return nil
}

func (m *memory) get(key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.values[key]
}

func (m *memory) setFail(key string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.fail, key)
		return
	}
	m.fail[key] = err
}

type fixture struct {
	reg   *registry.Registry
	st    store.Store
	dsn   string
	keys  *seal.Keyring
	clock *clocktest.Clock
	mem   *memory
}

func forEachEngine(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		c := clocktest.New()
		keys := seal.NewKeyring(sealtest.Key(t))
		f := &fixture{st: st, dsn: dsn, keys: keys, clock: c, mem: newMemory()}
		f.reg = registry.New(st, keys, registry.WithClock(c.Now), registry.WithActor("test"))
		fn(t, f)
	})
}

func (f *fixture) engine(opts ...rotation.Option) *rotation.Engine {
	return rotation.New(f.reg, f.mem, append([]rotation.Option{rotation.WithLockWait(5 * time.Second)}, opts...)...)
}

// declare creates a token with two destinations and issues its first version.
func (f *fixture) declare(t *testing.T, name string) []store.Destination {
	t.Helper()
	ctx := t.Context()
	if _, err := f.reg.Scope(ctx, "billing:read"); err != nil {
		if _, err := f.reg.CreateScope(ctx, "billing:read", "reads invoices"); err != nil {
			t.Fatal(err)
		}
	}
	var ds []store.Destination
	for _, repo := range []string{"acme/api", "acme/web"} {
		d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: repo, Name: strings.ToUpper(strings.ReplaceAll(name, "-", "_"))})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	_, err := f.reg.CreateToken(ctx, registry.TokenSpec{
		Name: name, Owner: "platform", Scopes: []string{"billing:read"},
		Lifetime:     store.Lifetime{TTL: 30 * day, RotateBefore: 7 * day, Overlap: day},
		Destinations: ds,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine().Rotate(ctx, name); err != nil {
		t.Fatal(err)
	}
	return ds
}

func (f *fixture) verify(t *testing.T, value string) token.Code {
	t.Helper()
	r, err := f.reg.Verify(t.Context(), value, []string{"billing:read"})
	if err != nil {
		t.Fatal(err)
	}
	return r.Code
}

// checkInvariants asserts DESIGN.md's invariants for a token: every
// destination holds a value that verifies, at most one pending, current and
// previous version.
func (f *fixture) checkInvariants(t *testing.T, name string, ds []store.Destination) registry.TokenInfo {
	t.Helper()
	for _, d := range ds {
		v := f.mem.get(d.Key)
		if v == "" {
			t.Fatalf("%s holds no value", d.Key)
		}
		if c := f.verify(t, v); c != token.Valid {
			t.Fatalf("%s holds a value that verifies as %s", d.Key, c)
		}
	}
	vs, err := f.versions(t, name)
	if err != nil {
		t.Fatal(err)
	}
	count := map[token.State]int{}
	for _, v := range vs {
		count[v.State]++
	}
	if count[token.StatePending] > 1 || count[token.StateCurrent] != 1 || count[token.StatePrevious] > 1 {
		t.Fatalf("versions of %s by state: %v", name, count)
	}
	ti, err := f.reg.Token(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ti
}

func (f *fixture) versions(t *testing.T, name string) (out []store.Version, err error) {
	t.Helper()
	err = f.st.View(t.Context(), func(tx store.Tx) error {
		tk, err := tx.GetToken(t.Context(), name)
		if err != nil {
			return err
		}
		out, err = tx.ListVersions(t.Context(), tk.ID)
		return err
	})
	return out, err
}

func TestRotationLifecycle(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		ds := f.declare(t, "billing-api")
		first := f.mem.get(ds[0].Key)
		if f.mem.get(ds[1].Key) != first || f.verify(t, first) != token.Valid {
			t.Fatal("first issue did not reach both destinations with a valid value")
		}

		// Not due yet: a run rotates nothing and says when the next is due.
		rep, err := f.engine().Run(ctx, rotation.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Planned) != 0 || !rep.NextDue.Equal(f.clock.Now().Add(23*day)) {
			t.Fatalf("run before due: planned %v, next due %v", rep.Planned, rep.NextDue)
		}

		f.clock.Advance(23 * day)
		rep, err = f.engine().Run(ctx, rotation.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rotated() != 1 || len(rep.Failed()) != 0 {
			t.Fatalf("run when due: %+v", rep.Results)
		}
		r := rep.Results[0]
		if r.Reason != rotation.ReasonDue || r.From == "" || r.To == "" || r.From == r.To || len(r.Delivered) != 2 {
			t.Fatalf("result %+v", r)
		}
		second := f.mem.get(ds[0].Key)
		if second == first || f.verify(t, second) != token.Valid {
			t.Fatal("destinations do not hold a new valid value")
		}
		if c := f.verify(t, first); c != token.Valid {
			t.Fatalf("old value inside the overlap: %s", c)
		}
		ti := f.checkInvariants(t, "billing-api", ds)
		if ti.Previous == nil || !ti.Previous.ExpiresAt.Equal(f.clock.Now().Add(day)) {
			t.Fatalf("previous version %+v; want it to expire after the overlap", ti.Previous)
		}

		f.clock.Advance(day)
		if c := f.verify(t, first); c != token.Expired {
			t.Fatalf("old value after the overlap: %s", c)
		}
		rep, err = f.engine().Run(ctx, rotation.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Revoked != 1 {
			t.Fatalf("revoked %d previous versions after the overlap, want 1", rep.Revoked)
		}
		if c := f.verify(t, first); c != token.Revoked {
			t.Fatalf("old value after the run: %s", c)
		}
		events := storetest.AuditChain(t, f.st)
		runs := 0
		for _, e := range events {
			if e.Action == "rotation.run" {
				runs++
			}
			for _, v := range e.Details {
				if strings.Contains(v, first) || strings.Contains(v, second) {
					t.Fatalf("audit event %s holds a token value", e.Action)
				}
			}
		}
		if runs != 3 {
			t.Fatalf("%d rotation.run events, want 3", runs)
		}
	})
}

func TestRotationStoppedAtEveryStep(t *testing.T) {
	t.Parallel()
	for _, step := range rotation.Steps {
		t.Run(string(step), func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f *fixture) {
				ctx := t.Context()
				ds := f.declare(t, "billing-api")
				f.clock.Advance(23 * day)
				crash := errors.New("power cut")
				stop := rotation.WithHook(func(_ context.Context, s rotation.Step, _ string) error {
					if s == step {
						return crash
					}
					return nil
				})
				rep, err := f.engine(stop).Run(ctx, rotation.RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Failed()) != 1 || !errors.Is(rep.Results[0].Err, crash) {
					t.Fatalf("stopped run: %+v", rep.Results)
				}
				// Stopped anywhere, consumers still hold values that verify.
				f.checkInvariants(t, "billing-api", ds)
				writes := f.mem.writes

				rep, err = f.engine().Run(ctx, rotation.RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ti := f.checkInvariants(t, "billing-api", ds)
				if ti.Pending != nil {
					t.Fatalf("a pending version is left after the rerun")
				}
				switch step {
				case rotation.AfterFinish:
					// The rotation was complete; the rerun has nothing to do.
					if len(rep.Planned) != 0 {
						t.Fatalf("rerun after a finished rotation planned %v", rep.Planned)
					}
				default:
					if rep.Rotated() != 1 || !rep.Results[0].Resumed {
						t.Fatalf("rerun: %+v", rep.Results)
					}
					if step != rotation.AfterCreate && f.mem.writes != writes {
						t.Fatalf("rerun wrote %d more times to destinations that held the value", f.mem.writes-writes)
					}
				}
				vs, err := f.versions(t, "billing-api")
				if err != nil {
					t.Fatal(err)
				}
				if len(vs) != 2 {
					t.Fatalf("%d versions minted, want 2: a rerun must deliver the pending value, not mint another", len(vs))
				}
				storetest.AuditChain(t, f.st)
			})
		})
	}
}

func TestRotationFailedDestination(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		ds := f.declare(t, "billing-api")
		old := f.mem.get(ds[1].Key)
		f.clock.Advance(23 * day)
		f.mem.setFail(ds[1].Key, errors.New("404 repository acme/web not found"))
		rep, err := f.engine().Run(ctx, rotation.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		failed := rep.Failed()
		if len(failed) != 1 || !errors.Is(failed[0].Err, rotation.ErrDelivery) || !strings.Contains(failed[0].Err.Error(), ds[1].Key) {
			t.Fatalf("failed = %+v", failed)
		}
		if !rep.NextDue.Equal(f.clock.Now()) {
			t.Fatalf("next due %v after a failure, want now", rep.NextDue)
		}
		if f.mem.get(ds[1].Key) != old || f.verify(t, old) != token.Valid {
			t.Fatal("the failed destination lost its valid value")
		}
		f.checkInvariants(t, "billing-api", ds)

		f.mem.setFail(ds[1].Key, nil)
		rep, err = f.engine().Run(ctx, rotation.RunOptions{})
		if err != nil || rep.Rotated() != 1 || rep.Results[0].Reason != rotation.ReasonResume {
			t.Fatalf("next run: %v %+v", err, rep.Results)
		}
		ti := f.checkInvariants(t, "billing-api", ds)
		if ti.Pending != nil || f.mem.get(ds[0].Key) != f.mem.get(ds[1].Key) {
			t.Fatal("the next run did not finish the rotation")
		}
	})
}

func TestRotationBoundsAndDryRun(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		for i := range 5 {
			f.declare(t, fmt.Sprintf("token-%d", i))
		}
		f.clock.Advance(23 * day)
		writes := f.mem.writes
		rep, err := f.engine().Run(ctx, rotation.RunOptions{DryRun: true})
		if err != nil || len(rep.Planned) != 5 || len(rep.Results) != 0 || f.mem.writes != writes {
			t.Fatalf("dry run: %v, planned %d, results %d, writes %d", err, len(rep.Planned), len(rep.Results), f.mem.writes-writes)
		}
		rep, err = f.engine().Run(ctx, rotation.RunOptions{MaxRotations: 2})
		if err != nil || rep.Rotated() != 2 || len(rep.StillDue) != 3 {
			t.Fatalf("bounded run: %v, rotated %d, still due %d", err, rep.Rotated(), len(rep.StillDue))
		}
		rep, err = f.engine().Run(ctx, rotation.RunOptions{Selection: rotation.Selection{Tokens: []string{"token-4", "token-0"}}})
		if err != nil || rep.Rotated() != 1 || rep.Results[0].Token != "token-4" {
			t.Fatalf("selected run: %v %+v", err, rep.Results)
		}
		if _, err := f.engine().Run(ctx, rotation.RunOptions{Selection: rotation.Selection{Tokens: []string{"nope"}}}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		rep, err = f.engine().Run(ctx, rotation.RunOptions{Selection: rotation.Selection{Force: true, Tokens: []string{"token-0"}}})
		if err != nil || rep.Rotated() != 1 || rep.Results[0].Reason != rotation.ReasonForced {
			t.Fatalf("forced run: %v %+v", err, rep.Results)
		}
	})
}

func TestConcurrentRunsRotateEachTokenOnce(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		const n = 12
		for i := range n {
			f.declare(t, fmt.Sprintf("token-%02d", i))
		}
		f.clock.Advance(23 * day)
		var wg sync.WaitGroup
		reports := make([]rotation.Report, 2)
		errs := make([]error, 2)
		for i := range 2 {
			// Each run has its own store handle, as two processes would.
			st, err := store.Open(ctx, f.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			reg := registry.New(st, f.keys, registry.WithClock(f.clock.Now))
			e := rotation.New(reg, f.mem, rotation.WithLockWait(time.Minute), rotation.WithWorkers(3))
			wg.Add(1)
			go func() {
				defer wg.Done()
				reports[i], errs[i] = e.Run(ctx, rotation.RunOptions{})
			}()
		}
		wg.Wait()
		rotated := 0
		for i := range 2 {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			rotated += reports[i].Rotated()
		}
		if rotated != n {
			t.Fatalf("the two runs rotated %d tokens together, want %d", rotated, n)
		}
		finishes := map[string]int{}
		for _, e := range storetest.AuditChain(t, f.st) {
			if e.Action == "rotation.finish" {
				finishes[e.Subject]++
			}
		}
		for i := range n {
			// One finish for the first issue, one for the rotation.
			if c := finishes[fmt.Sprintf("token/token-%02d", i)]; c != 2 {
				t.Fatalf("token-%02d finished %d times, want 2", i, c)
			}
		}
	})
}

func TestRotationToFiles(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		dir := t.TempDir()
		env := filepath.Join(dir, "app.env")
		if err := os.WriteFile(env, []byte("# kept\nOTHER=1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		dotenv, err := destination.New(destination.KindFile, destination.Config{Path: env, Key: "BILLING_TOKEN", Format: destination.FormatDotenv})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := destination.New(destination.KindFile, destination.Config{Path: filepath.Join(dir, "token"), Format: destination.FormatRaw})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.CreateScope(ctx, "billing:read", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: "billing", Scopes: []string{"billing:read"},
			Lifetime: store.Lifetime{TTL: 30 * day, RotateBefore: 7 * day, Overlap: day}, Destinations: []store.Destination{dotenv, raw}}); err != nil {
			t.Fatal(err)
		}
		e := rotation.New(f.reg, destination.NewRouter(nil))
		if _, err := e.Rotate(ctx, "billing"); err != nil {
			t.Fatal(err)
		}
		content, _ := os.ReadFile(env)
		lines := strings.Split(strings.TrimSpace(string(content)), "\n")
		if len(lines) != 3 || lines[0] != "# kept" || lines[1] != "OTHER=1" || !strings.HasPrefix(lines[2], "BILLING_TOKEN=tw_") {
			t.Fatalf("dotenv file:\n%s", content)
		}
		value := strings.TrimPrefix(lines[2], "BILLING_TOKEN=")
		if c := f.verify(t, value); c != token.Valid {
			t.Fatalf("delivered value verifies as %s", c)
		}
		rawValue, _ := os.ReadFile(filepath.Join(dir, "token"))
		if strings.TrimSpace(string(rawValue)) != value {
			t.Fatal("raw file does not hold the value")
		}
		// The existing 0644 file keeps its mode capped at 0640; the new one
		// gets 0600.
		for p, want := range map[string]os.FileMode{env: 0o640, filepath.Join(dir, "token"): 0o600} {
			if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
				t.Fatalf("%s mode %v, %v; want %v", p, st.Mode(), err, want)
			}
		}
		ti, _ := f.reg.Token(ctx, "billing")
		if err := e.Withdraw(ctx, ti.Destinations); err != nil {
			t.Fatal(err)
		}
		content, _ = os.ReadFile(env)
		if string(content) != "# kept\nOTHER=1\n" {
			t.Fatalf("withdrawn dotenv file:\n%s", content)
		}
		if _, err := os.Stat(filepath.Join(dir, "token")); !os.IsNotExist(err) {
			t.Fatalf("raw file still there: %v", err)
		}
		// Withdrawing again is fine.
		if err := e.Withdraw(ctx, ti.Destinations); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRotationFailingLongerThanTTL: a destination that fails for longer than
// a ttl must not leave the pending version expired, or the rotation could
// never finish.
func TestRotationFailingLongerThanTTL(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		ds := f.declare(t, "billing-api")
		f.clock.Advance(23 * day)
		f.mem.setFail(ds[1].Key, errors.New("403 Resource not accessible by integration"))
		if rep, err := f.engine().Run(ctx, rotation.RunOptions{}); err != nil || len(rep.Failed()) != 1 {
			t.Fatalf("first run: %v %+v", err, rep.Results)
		}
		f.clock.Advance(31 * day) // past the pending version's first expiry
		f.mem.setFail(ds[1].Key, nil)
		rep, err := f.engine().Run(ctx, rotation.RunOptions{})
		if err != nil || rep.Rotated() != 1 || !rep.Results[0].Resumed {
			t.Fatalf("run after the outage: %v %+v", err, rep.Results)
		}
		ti := f.checkInvariants(t, "billing-api", ds)
		if !ti.Current.ExpiresAt.Equal(f.clock.Now().Add(30 * day)) {
			t.Fatalf("new current expires %v", ti.Current.ExpiresAt)
		}
	})
}
