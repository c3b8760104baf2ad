package rotation_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuerfake"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

func adminEnv(k string) string {
	return map[string]string{
		"BILLING_DB_ADMIN_DSN": "postgres://admin:admin-secret@db.internal:5432/billing",
		"CACHE_ADMIN_URL":      "redis://admin:admin-secret@cache.internal:6379/0",
	}[k]
}

var issuerKinds = []struct {
	name   string
	config issuer.Config
	fields []string
}{
	{"postgres", issuer.Config{Postgres: &issuer.PostgresConfig{AdminDSNEnv: "BILLING_DB_ADMIN_DSN", Users: []string{"billing_a", "billing_b"}, MemberOf: "billing_app"}}, []string{"password", "username", "dsn"}},
	{"redis", issuer.Config{Redis: &issuer.RedisConfig{AdminURLEnv: "CACHE_ADMIN_URL", User: "cache_app"}}, []string{"password", "username", "url"}},
}

// credEngine is an engine whose issuers are the fake server srv.
func (f *fixture) credEngine(srv *issuerfake.Server, opts ...rotation.Option) *rotation.Engine {
	return f.engine(append([]rotation.Option{rotation.WithIssuers(srv.Open)}, opts...)...)
}

// declareCredential creates a credential with a destination per field and
// rotates it for the first time.
func (f *fixture) declareCredential(t *testing.T, srv *issuerfake.Server, cfg issuer.Config, fields []string) []store.Destination {
	t.Helper()
	var ds []store.Destination
	for _, field := range fields {
		d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: "acme/billing", Name: "DB_" + strings.ToUpper(field), Field: field})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	_, err := f.credEngine(srv).IssueCredential(t.Context(), registry.CredentialSpec{
		Name: "billing-db", Owner: "team-billing", Issuer: cfg,
		Lifetime:     store.Lifetime{TTL: 30 * day, RotateBefore: 7 * day, Overlap: day},
		Destinations: ds,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// held is the credential the destinations hold: the user and password
// from their own secrets, and those of the DSN/URL, which must agree.
func (f *fixture) held(t *testing.T, ds []store.Destination) issuer.Credential {
	t.Helper()
	c := issuer.Credential{Username: f.mem.get(ds[1].Key), Password: f.mem.get(ds[0].Key)}
	u, err := url.Parse(f.mem.get(ds[2].Key))
	if err != nil {
		t.Fatalf("the %s destination holds no URL", ds[2].Key)
	}
	pw, _ := u.User.Password()
	if u.User.Username() != c.Username || pw != c.Password {
		t.Fatalf("the destinations disagree: the DSN's user %s, the username secret's %s", u.User.Username(), c.Username)
	}
	if c.Password == "" || c.Username == "" {
		t.Fatal("a destination holds nothing")
	}
	return c
}

func TestCredentialLifecycle(t *testing.T) {
	t.Parallel()
	for _, kind := range issuerKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f *fixture) {
				ctx := t.Context()
				srv := issuerfake.New(adminEnv)
				ds := f.declareCredential(t, srv, kind.config, kind.fields)
				first := f.held(t, ds)
				if err := srv.Login(first.Username, first.Password); err != nil {
					t.Fatalf("first credential: %v", err)
				}
				if len(first.Password) < 40 {
					t.Errorf("password of %d characters; want a long one", len(first.Password))
				}

				f.clock.Advance(23 * day)
				rep, err := f.credEngine(srv).Run(ctx, rotation.RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Rotated() != 1 || rep.Results[0].Issuer != kind.name || rep.Results[0].User == "" {
					t.Fatalf("run when due: %+v", rep.Results)
				}
				second := f.held(t, ds)
				if second.Password == first.Password {
					t.Fatal("the rotation delivered the same password")
				}
				if kind.name == "postgres" && second.Username == first.Username {
					t.Fatalf("the rotation stayed on user %s; want the other one", first.Username)
				}
				for what, c := range map[string]issuer.Credential{"old": first, "new": second} {
					if err := srv.Login(c.Username, c.Password); err != nil {
						t.Errorf("%s credential inside the overlap: %v", what, err)
					}
				}

				f.clock.Advance(day)
				rep, err = f.credEngine(srv).Run(ctx, rotation.RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Retired != 1 || rep.RetireFailed != nil {
					t.Fatalf("retired %d after the overlap (%v), want 1", rep.Retired, rep.RetireFailed)
				}
				if err := srv.Login(first.Username, first.Password); err == nil {
					t.Error("the old credential logs in after the overlap")
				}
				if err := srv.Login(second.Username, second.Password); err != nil {
					t.Errorf("the new credential after the overlap: %v", err)
				}
				ti, err := f.reg.Credential(ctx, "billing-db")
				if err != nil {
					t.Fatal(err)
				}
				if ti.Previous != nil {
					t.Errorf("a previous version is left after it was retired")
				}

				// The next rotation reuses the retired slot.
				f.clock.Advance(22 * day)
				if rep, err = f.credEngine(srv).Run(ctx, rotation.RunOptions{}); err != nil || rep.Rotated() != 1 {
					t.Fatalf("third rotation: %+v, %v", rep.Results, err)
				}
				third := f.held(t, ds)
				if kind.name == "postgres" && third.Username != first.Username {
					t.Errorf("third rotation on %s; want %s again", third.Username, first.Username)
				}
				for what, c := range map[string]issuer.Credential{"second": second, "third": third} {
					if err := srv.Login(c.Username, c.Password); err != nil {
						t.Errorf("%s credential inside the overlap: %v", what, err)
					}
				}
				noValueIn(t, f, first, second, third)
			})
		})
	}
}

// noValueIn fails when a password appears in the audit chain or the
// store's versions.
func noValueIn(t *testing.T, f *fixture, cs ...issuer.Credential) {
	t.Helper()
	for _, e := range storetest.AuditChain(t, f.st) {
		for k, v := range e.Details {
			for _, c := range cs {
				if strings.Contains(v, c.Password) {
					t.Fatalf("audit event %s detail %s holds a password", e.Action, k)
				}
			}
		}
	}
	vs, err := f.versions(t, "billing-db")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		for _, c := range cs {
			if strings.Contains(v.Fingerprint, c.Password) || strings.Contains(string(v.Sealed), c.Password) {
				t.Fatalf("version %s keeps a password in the clear", v.ID)
			}
		}
	}
}

// TestCredentialStoppedAtEveryStep: a rotation stopped after any step, or
// failing at the issuer, leaves the old credential working in every
// destination; the next run finishes with the same password, without
// minting another.
func TestCredentialStoppedAtEveryStep(t *testing.T) {
	t.Parallel()
	type stop struct {
		name string
		step rotation.Step // stopped by the hook here, or
		fail string        // by the issuer failing this op
	}
	var cases []stop
	for _, s := range rotation.Steps {
		cases = append(cases, stop{name: "after " + string(s), step: s})
	}
	cases = append(cases, stop{name: "stage fails", fail: issuerfake.OpStage}, stop{name: "test fails", fail: issuerfake.OpTest},
		stop{name: "issuer unreachable", fail: issuerfake.OpOpen})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f *fixture) {
				ctx := t.Context()
				srv := issuerfake.New(adminEnv)
				kind := issuerKinds[0]
				ds := f.declareCredential(t, srv, kind.config, kind.fields)
				old := f.held(t, ds)
				f.clock.Advance(23 * day)
				crash := errors.New("power cut")
				var opts []rotation.Option
				if tc.step != "" {
					opts = append(opts, rotation.WithHook(func(_ context.Context, s rotation.Step, _ string) error {
						if s == tc.step {
							return crash
						}
						return nil
					}))
				} else {
					srv.FailNext(tc.fail, 1)
				}
				rep, err := f.credEngine(srv, opts...).Run(ctx, rotation.RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Failed()) != 1 {
					t.Fatalf("stopped run: %+v", rep.Results)
				}
				if tc.step != "" && !errors.Is(rep.Results[0].Err, crash) || tc.fail != "" && !errors.Is(rep.Results[0].Err, issuerfake.ErrInjected) {
					t.Fatalf("stopped run failed with %v", rep.Results[0].Err)
				}
				// Stopped anywhere, the old credential still logs in, and
				// what the destinations hold (old or new) logs in.
				if err := srv.Login(old.Username, old.Password); err != nil {
					t.Fatalf("the old credential after the stop: %v", err)
				}
				if c := f.held(t, ds); srv.Login(c.Username, c.Password) != nil {
					t.Fatalf("the destinations hold a credential that does not log in")
				}

				rep, err = f.credEngine(srv).Run(ctx, rotation.RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ti, err := f.reg.Credential(ctx, "billing-db")
				if err != nil {
					t.Fatal(err)
				}
				if ti.Pending != nil || ti.Current == nil || ti.Previous == nil {
					t.Fatalf("after the rerun: pending %v, current %v, previous %v", ti.Pending, ti.Current, ti.Previous)
				}
				if tc.step == rotation.AfterFinish {
					if len(rep.Planned) != 0 {
						t.Fatalf("rerun after a finished rotation planned %v", rep.Planned)
					}
				} else if rep.Rotated() != 1 || rep.Results[0].Resumed != (tc.fail != issuerfake.OpOpen) {
					t.Fatalf("rerun: %+v", rep.Results)
				}
				now := f.held(t, ds)
				if now.Password == old.Password || srv.Login(now.Username, now.Password) != nil || srv.Login(old.Username, old.Password) != nil {
					t.Fatal("after the rerun: want the new credential delivered and both logging in inside the overlap")
				}
				vs, err := f.versions(t, "billing-db")
				if err != nil {
					t.Fatal(err)
				}
				if len(vs) != 2 {
					t.Fatalf("%d versions, want 2: a rerun must stage the pending password, not mint another", len(vs))
				}
				storetest.AuditChain(t, f.st)
			})
		})
	}
}

// TestCredentialRetireFails: when the issuer cannot retire the previous
// version, the run says so, the store keeps it as previous, and the next
// run retires it.
func TestCredentialRetireFails(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		srv := issuerfake.New(adminEnv)
		kind := issuerKinds[0]
		ds := f.declareCredential(t, srv, kind.config, kind.fields)
		old := f.held(t, ds)
		f.clock.Advance(23 * day)
		if _, err := f.credEngine(srv).Run(ctx, rotation.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(day)
		srv.FailNext(issuerfake.OpRetire, 1)
		rep, err := f.credEngine(srv).Run(ctx, rotation.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Retired != 0 || !errors.Is(rep.RetireFailed, issuerfake.ErrInjected) || !rep.NextDue.Equal(rep.At) {
			t.Fatalf("failed retire: retired %d, %v, next due %v", rep.Retired, rep.RetireFailed, rep.NextDue)
		}
		if ti, _ := f.reg.Credential(ctx, "billing-db"); ti.Previous == nil {
			t.Fatal("the store revoked a version its issuer did not retire")
		}
		rep, err = f.credEngine(srv).Run(ctx, rotation.RunOptions{})
		if err != nil || rep.Retired != 1 {
			t.Fatalf("rerun: retired %d, %v", rep.Retired, err)
		}
		if srv.Login(old.Username, old.Password) == nil {
			t.Fatal("the old credential logs in after it was retired")
		}
	})
}

// TestCredentialTwoRunsAtOnce: two runs started together rotate a due
// credential once.
func TestCredentialTwoRunsAtOnce(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		srv := issuerfake.New(adminEnv)
		kind := issuerKinds[0]
		f.declareCredential(t, srv, kind.config, kind.fields)
		f.clock.Advance(23 * day)
		staged := srv.Calls(issuerfake.OpStage)
		var wg sync.WaitGroup
		reps := make([]rotation.Report, 2)
		errs := make([]error, 2)
		for i := range reps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reps[i], errs[i] = f.credEngine(srv).Run(ctx, rotation.RunOptions{})
			}()
		}
		wg.Wait()
		rotated := 0
		for i := range reps {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			rotated += reps[i].Rotated()
		}
		if rotated != 1 || srv.Calls(issuerfake.OpStage)-staged != 1 {
			t.Fatalf("two runs rotated %d times and staged %d passwords; want once", rotated, srv.Calls(issuerfake.OpStage)-staged)
		}
		vs, err := f.versions(t, "billing-db")
		if err != nil || len(vs) != 2 {
			t.Fatalf("%d versions (%v), want 2", len(vs), err)
		}
	})
}

// TestDeleteCredential: deleting a credential retires every user's login
// at the issuer and withdraws it from its destinations.
func TestDeleteCredential(t *testing.T) {
	t.Parallel()
	for _, kind := range issuerKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f *fixture) {
				ctx := t.Context()
				srv := issuerfake.New(adminEnv)
				ds := f.declareCredential(t, srv, kind.config, kind.fields)
				first := f.held(t, ds)
				f.clock.Advance(23 * day)
				if _, err := f.credEngine(srv).Run(ctx, rotation.RunOptions{}); err != nil {
					t.Fatal(err)
				}
				second := f.held(t, ds)
				if err := f.credEngine(srv).DeleteCredential(ctx, "billing-db", true); err != nil {
					t.Fatal(err)
				}
				for what, c := range map[string]issuer.Credential{"previous": first, "current": second} {
					if srv.Login(c.Username, c.Password) == nil {
						t.Errorf("the %s credential logs in after the delete", what)
					}
				}
				for _, d := range ds {
					if f.mem.get(d.Key) != "" {
						t.Errorf("%s still holds a value", d.Key)
					}
				}
				if _, err := f.reg.Credential(ctx, "billing-db"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("credential after the delete: %v", err)
				}
			})
		})
	}
}

// warningIssuer is the fake's issuer with a caveat to report, as the Redis
// issuer has when its ACL change is kept only in memory.
type warningIssuer struct {
	issuer.Issuer
	told bool
}

func (w *warningIssuer) Warnings() []string {
	if w.told {
		return nil
	}
	w.told = true
	return []string{"the ACL change is kept only in memory"}
}

// TestCredentialWarnings: what an issuer warns of reaches the result.
func TestCredentialWarnings(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		srv := issuerfake.New(adminEnv)
		kind := issuerKinds[1]
		open := rotation.WithIssuers(func(ctx context.Context, c issuer.Config) (issuer.Issuer, error) {
			is, err := srv.Open(ctx, c)
			if err != nil {
				return nil, err
			}
			return &warningIssuer{Issuer: is}, nil
		})
		f.declareCredential(t, srv, kind.config, kind.fields)
		res, err := f.engine(open).Rotate(t.Context(), "billing-db")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Warnings) != 1 || res.Warnings[0] != "the ACL change is kept only in memory" {
			t.Fatalf("warnings %v", res.Warnings)
		}
	})
}

// TestIssueCredentialUndone: a first rotation that fails leaves nothing
// behind, whether the issuer could not be reached or refused to stage, so
// the next attempt starts afresh.
func TestIssueCredentialUndone(t *testing.T) {
	t.Parallel()
	for _, op := range []string{issuerfake.OpOpen, issuerfake.OpStage, issuerfake.OpTest} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f *fixture) {
				ctx := t.Context()
				srv := issuerfake.New(adminEnv)
				kind := issuerKinds[0]
				srv.FailNext(op, 1)
				spec := registry.CredentialSpec{Name: "billing-db", Issuer: kind.config,
					Lifetime: store.Lifetime{TTL: 30 * day, RotateBefore: 7 * day, Overlap: day}}
				_, err := f.credEngine(srv).IssueCredential(ctx, spec)
				var undone *rotation.UndoError
				if !errors.As(err, &undone) || undone.Restore != nil || !errors.Is(err, issuerfake.ErrInjected) {
					t.Fatalf("IssueCredential = %v; want an undone failure", err)
				}
				if _, err := f.reg.Credential(ctx, "billing-db"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("after the undo: %v", err)
				}
				if n, login := srv.Passwords(kind.config.Postgres.Users[0]); login {
					t.Errorf("user %s logs in (%d passwords) after the undo", kind.config.Postgres.Users[0], n)
				}
				if _, err := f.credEngine(srv).IssueCredential(ctx, spec); err != nil {
					t.Fatalf("the next attempt: %v", err)
				}
			})
		})
	}
}
