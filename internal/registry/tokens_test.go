package registry_test

import (
	"errors"
	"fmt"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

const day = 24 * time.Hour

var lifetime = store.Lifetime{TTL: 90 * day, RotateBefore: 14 * day, Overlap: day}

func setupToken(t *testing.T, f fixture) {
	t.Helper()
	ctx := t.Context()
	for _, s := range []string{"billing:read", "billing:*", "users:read"} {
		if _, err := f.reg.CreateScope(ctx, s, "scope "+s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.reg.CreateRole(ctx, registry.RoleSpec{Name: "biller", Scopes: []string{"billing:*"}}); err != nil {
		t.Fatal(err)
	}
	_, err := f.reg.CreateToken(ctx, registry.TokenSpec{
		Name: "ci-deploy", Owner: "platform", Scopes: []string{"users:read"}, Roles: []string{"biller"}, Lifetime: lifetime,
		Destinations: []store.Destination{{Key: "file:/tmp/x.env:TOKEN", Kind: "file"}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// issue issues the first version of the setupToken token.
func issue(t *testing.T, f fixture) registry.Issued {
	t.Helper()
	v, err := f.reg.IssueFirst(t.Context(), "ci-deploy")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// begin begins a rotation of the setupToken token.
func begin(t *testing.T, f fixture) registry.Issued {
	t.Helper()
	p, _, err := f.reg.BeginRotation(t.Context(), "ci-deploy")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func verify(t *testing.T, f fixture, value string, scopes ...string) token.Result {
	t.Helper()
	res, err := f.reg.Verify(t.Context(), value, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		first := issue(t, f)
		if first.State != token.StateCurrent || !first.ExpiresAt.Equal(f.clock.Now().Add(90*day)) {
			t.Fatalf("first version = %+v", first)
		}
		if _, err := f.reg.IssueFirst(ctx, "ci-deploy"); !errors.Is(err, registry.ErrAlreadyIssued) {
			t.Fatalf("second IssueFirst: got %v, want ErrAlreadyIssued", err)
		}
		res := verify(t, f, first.Value, "billing:write", "users:read")
		if res.Code != token.Valid || res.TokenName != "ci-deploy" || strings.Join(res.Scopes, ",") != "billing:*,users:read" {
			t.Fatalf("verify first = %+v", res)
		}
		if got := verify(t, f, first.Value, "admin:write").Code; got != token.InsufficientScope {
			t.Fatalf("missing scope: %s", got)
		}

		// Step 1: create. A retry returns the same pending value.
		f.clock.Advance(80 * day)
		pending, resumed, err := f.reg.BeginRotation(ctx, "ci-deploy")
		if err != nil || resumed {
			t.Fatalf("begin: %v resumed=%v", err, resumed)
		}
		again, resumed, err := f.reg.BeginRotation(ctx, "ci-deploy")
		if err != nil || !resumed || again.Value != pending.Value || again.VersionID != pending.VersionID {
			t.Fatalf("retry of begin minted another value: %v resumed=%v", err, resumed)
		}
		// A delivered pending value is already accepted, so a consumer that
		// picks it up before the finish does not break.
		if got := verify(t, f, pending.Value).Code; got != token.Valid {
			t.Fatalf("pending verifies as %s", got)
		}
		if err := f.reg.RecordDelivery(ctx, "ci-deploy", pending.VersionID, "file:/tmp/x.env:TOKEN", nil); err != nil {
			t.Fatal(err)
		}
		fin, err := f.reg.FinishRotation(ctx, "ci-deploy", pending.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		if fin.Current.ID != pending.VersionID || fin.Previous == nil || fin.Previous.ID != first.VersionID || fin.Revoked != nil {
			t.Fatalf("finish = %+v", fin)
		}
		if want := f.clock.Now().Add(day); !fin.Previous.ExpiresAt.Equal(want) {
			t.Fatalf("previous expires %v, want now+overlap %v", fin.Previous.ExpiresAt, want)
		}
		if _, err := f.reg.FinishRotation(ctx, "ci-deploy", pending.VersionID); err != nil {
			t.Fatalf("finishing twice must be a no-op: %v", err)
		}
		info, err := f.reg.Token(ctx, "ci-deploy")
		if err != nil {
			t.Fatal(err)
		}
		if info.Pending != nil || info.Current.Sealed != nil || info.Current.ID != pending.VersionID {
			t.Fatalf("after finish: %+v", info)
		}
		if want := info.Current.ExpiresAt.Add(-14 * day); !info.NextRotationAt().Equal(want) {
			t.Fatalf("next rotation %v, want %v", info.NextRotationAt(), want)
		}

		// The old value works inside the overlap and not after.
		f.clock.Advance(day - time.Second)
		if got := verify(t, f, first.Value).Code; got != token.Valid {
			t.Fatalf("previous inside overlap: %s", got)
		}
		f.clock.Advance(time.Second)
		if got := verify(t, f, first.Value).Code; got != token.Expired {
			t.Fatalf("previous after overlap: %s", got)
		}
		n, err := f.reg.RevokeExpired(ctx)
		if err != nil || n != 1 {
			t.Fatalf("revoke expired: %d %v", n, err)
		}
		if got := verify(t, f, first.Value).Code; got != token.Revoked {
			t.Fatalf("revoked previous: %s", got)
		}

		// A second rotation revokes the version that was previous.
		second, _, err := f.reg.BeginRotation(ctx, "ci-deploy")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.FinishRotation(ctx, "ci-deploy", "not-pending"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("finish of a version that is not pending: %v", err)
		}
		fin, err = f.reg.FinishRotation(ctx, "ci-deploy", second.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		if fin.Previous.ID != pending.VersionID {
			t.Fatalf("second finish = %+v", fin)
		}

		// Scope changes apply at once, without a rotation.
		_, err = f.reg.UpdateToken(ctx, registry.TokenSpec{Name: "ci-deploy", Owner: "platform", Scopes: []string{"users:read"}, Lifetime: lifetime})
		if err != nil {
			t.Fatal(err)
		}
		if got := verify(t, f, second.Value, "billing:read").Code; got != token.InsufficientScope {
			t.Fatalf("role removed, billing:read still granted: %s", got)
		}

		if err := f.reg.DeleteToken(ctx, "ci-deploy"); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{first.Value, pending.Value, second.Value} {
			if got := verify(t, f, v).Code; got != token.Revoked {
				t.Fatalf("value of a deleted token verifies as %s, want revoked", got)
			}
		}
		if _, err := f.reg.Token(ctx, "ci-deploy"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("deleted token still found: %v", err)
		}
		// Its scopes are free to delete, and its name to reuse.
		if err := f.reg.DeleteScope(ctx, "users:read"); err != nil {
			t.Fatalf("scope of a deleted token: %v", err)
		}
		if _, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: "ci-deploy", Lifetime: lifetime}); err != nil {
			t.Fatalf("reuse the name of a deleted token: %v", err)
		}
		events := storetest.AuditChain(t, f.st)
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
			if e.Actor != "test" {
				t.Errorf("event %d actor %q", e.Seq, e.Actor)
			}
		}
		want := "scope.create scope.create scope.create role.create token.create version.issue rotation.create version.deliver rotation.finish version.revoke rotation.create rotation.finish token.update token.delete scope.delete token.create"
		if got := strings.Join(actions, " "); got != want {
			t.Fatalf("audit actions:\n got %s\nwant %s", got, want)
		}
	})
}

func TestRotationCapsPreviousAtItsOwnExpiry(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		first := issue(t, f)
		// Rotating an hour before expiry: the overlap (a day) must not
		// extend the old version past its own expiry.
		f.clock.Advance(90*day - time.Hour)
		p, _, err := f.reg.BeginRotation(ctx, "ci-deploy")
		if err != nil {
			t.Fatal(err)
		}
		fin, err := f.reg.FinishRotation(ctx, "ci-deploy", p.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		if !fin.Previous.ExpiresAt.Equal(first.ExpiresAt) {
			t.Fatalf("previous expires %v, want its own expiry %v", fin.Previous.ExpiresAt, first.ExpiresAt)
		}
	})
}

func TestScopeAndRoleInUse(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		setupToken(t, f)
		before := len(storetest.AuditChain(t, f.st))
		cases := []struct {
			name string
			del  func() error
			want []string
		}{
			{"scope granted to a token", func() error { return f.reg.DeleteScope(ctx, "users:read") }, []string{"ci-deploy"}},
			{"scope in a role", func() error { return f.reg.DeleteScope(ctx, "billing:*") }, []string{"biller"}},
			{"role held by a token", func() error { return f.reg.DeleteRole(ctx, "biller") }, []string{"ci-deploy"}},
		}
		for _, tc := range cases {
			err := tc.del()
			if !errors.Is(err, registry.ErrInUse) {
				t.Fatalf("%s: got %v, want ErrInUse", tc.name, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %q does not name %s", tc.name, err, w)
				}
			}
		}
		if after := len(storetest.AuditChain(t, f.st)); after != before {
			t.Fatalf("refused deletions wrote %d audit events", after-before)
		}
		if err := f.reg.DeleteScope(ctx, "billing:read"); err != nil {
			t.Fatalf("unused scope: %v", err)
		}
	})
}

func TestTokenValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		spec  registry.TokenSpec
		field string
	}{
		{"bad name", registry.TokenSpec{Name: "has space", Lifetime: lifetime}, "name"},
		{"empty name", registry.TokenSpec{Name: "", Lifetime: lifetime}, "name"},
		{"bad scope", registry.TokenSpec{Name: "a", Scopes: []string{"Billing"}, Lifetime: lifetime}, "scopes"},
		{"bad role", registry.TokenSpec{Name: "a", Roles: []string{"-x"}, Lifetime: lifetime}, "roles"},
		{"zero ttl", registry.TokenSpec{Name: "a", Lifetime: store.Lifetime{RotateBefore: day}}, "ttl"},
		{"zero rotate_before", registry.TokenSpec{Name: "a", Lifetime: store.Lifetime{TTL: day}}, "rotate_before"},
		{"rotate_before = ttl", registry.TokenSpec{Name: "a", Lifetime: store.Lifetime{TTL: day, RotateBefore: day}}, "rotate_before"},
		{"overlap > rotate_before", registry.TokenSpec{Name: "a", Lifetime: store.Lifetime{TTL: 9 * day, RotateBefore: day, Overlap: 2 * day}}, "overlap"},
		{"negative overlap", registry.TokenSpec{Name: "a", Lifetime: store.Lifetime{TTL: 9 * day, RotateBefore: day, Overlap: -1}}, "overlap"},
		{"duplicate destination", registry.TokenSpec{Name: "a", Lifetime: lifetime, Destinations: []store.Destination{{Key: "k", Kind: "file"}, {Key: "k", Kind: "file"}}}, "destinations"},
	}
	forEachEngine(t, func(t *testing.T, f fixture) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.reg.CreateToken(t.Context(), tc.spec)
				var ie *registry.InvalidError
				if !errors.As(err, &ie) || ie.Field != tc.field {
					t.Fatalf("got %v, want an InvalidError on %s", err, tc.field)
				}
			})
		}
		if got := len(storetest.AuditChain(t, f.st)); got != 0 {
			t.Fatalf("invalid requests wrote %d audit events", got)
		}
	})
}

func TestCheckScopeName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"billing:read", true}, {"billing:*", true}, {"user-profile.v2:write_all", true},
		{"billing", false}, {"Billing:read", false}, {"billing:", false}, {":read", false},
		{"*:read", false}, {"billing:read:more", false}, {"billing:re ad", false}, {"", false},
		{strings.Repeat("a", 130) + ":read", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := registry.CheckScopeName(tc.name); (err == nil) != tc.ok {
				t.Fatalf("CheckScopeName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

func TestVerifyRejectsGarbageWithoutLookup(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		for _, v := range []string{"", "tw_", "ghp_abcdef", "tw_" + strings.Repeat("a", 50)} {
			if got := verify(t, f, v).Code; got != token.Malformed {
				t.Errorf("verify(%q) = %s, want malformed", v, got)
			}
		}
	})
}

// TestDestinationBelongsToOneToken: a second token cannot deliver to a place
// another live token delivers to, however the place is spelled; once the
// first token is deleted, it can.
func TestDestinationBelongsToOneToken(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		dest := func(repo, name string) []store.Destination {
			d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: repo, Name: name})
			if err != nil {
				t.Fatal(err)
			}
			return []store.Destination{d}
		}
		if _, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: "first", Lifetime: lifetime, Destinations: dest("acme/api", "DEPLOY_TOKEN")}); err != nil {
			t.Fatal(err)
		}
		_, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: "second", Lifetime: lifetime, Destinations: dest("Acme/API", "deploy_token")})
		var inv *registry.InvalidError
		if !errors.As(err, &inv) || inv.Field != "destinations" || !strings.Contains(err.Error(), `token "first"`) {
			t.Fatalf("second token on the same secret: %v", err)
		}
		if _, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: "second", Lifetime: lifetime}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.UpdateToken(ctx, registry.TokenSpec{Name: "second", Lifetime: lifetime, Destinations: dest("acme/api", "DEPLOY_TOKEN")}); !errors.As(err, &inv) {
			t.Fatalf("update onto the first token's secret: %v", err)
		}
		// A token may keep its own destinations on update.
		if _, err := f.reg.UpdateToken(ctx, registry.TokenSpec{Name: "first", Owner: "platform", Lifetime: lifetime, Destinations: dest("acme/api", "DEPLOY_TOKEN")}); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.DeleteToken(ctx, "first"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.UpdateToken(ctx, registry.TokenSpec{Name: "second", Lifetime: lifetime, Destinations: dest("acme/api", "DEPLOY_TOKEN")}); err != nil {
			t.Fatalf("after the first token is deleted: %v", err)
		}
	})
}

// TestFileBelongsToOneToken: a raw destination owns its whole file, so no
// other destination, of any token and however the path is spelled, may name
// it; dotenv lines of one file need different keys. The refusal names the
// other token.
func TestFileBelongsToOneToken(t *testing.T) {
	t.Parallel()
	file := func(t *testing.T, path, format, key string) store.Destination {
		t.Helper()
		d, err := destination.New(destination.KindFile, destination.Config{Path: path, Format: format, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name         string
		first, other func(t *testing.T) store.Destination
		ok           bool
	}{
		{"dotenv, then raw", func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "dotenv", "A") },
			func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "raw", "") }, false},
		{"raw, then dotenv", func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "raw", "") },
			func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "dotenv", "B") }, false},
		{"raw, then raw spelled otherwise", func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "raw", "") },
			func(t *testing.T) store.Destination { return file(t, "/srv/./app/../app//a.env", "raw", "") }, false},
		{"dotenv, then raw spelled otherwise", func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "dotenv", "A") },
			func(t *testing.T) store.Destination { return file(t, "/srv/x/../app/a.env", "raw", "") }, false},
		{"dotenv, same key spelled otherwise", func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "dotenv", "A") },
			func(t *testing.T) store.Destination { return file(t, "/srv/app/./a.env", "dotenv", "A") }, false},
		{"dotenv, other key", func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "dotenv", "A") },
			func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "dotenv", "B") }, true},
		{"raw, then a longer name", func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env", "raw", "") },
			func(t *testing.T) store.Destination { return file(t, "/srv/app/a.env.bak", "raw", "") }, true},
	}
	forEachEngine(t, func(t *testing.T, f fixture) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ctx := t.Context()
				first, second := fmt.Sprintf("first-%d", i), fmt.Sprintf("second-%d", i)
				if _, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: first, Lifetime: lifetime, Destinations: []store.Destination{c.first(t)}}); err != nil {
					t.Fatal(err)
				}
				defer f.reg.DeleteToken(ctx, first)
				_, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: second, Lifetime: lifetime, Destinations: []store.Destination{c.other(t)}})
				if c.ok {
					if err != nil {
						t.Fatalf("another line of the file: %v", err)
					}
					f.reg.DeleteToken(ctx, second)
					return
				}
				var inv *registry.InvalidError
				if !errors.As(err, &inv) || inv.Field != "destinations" || !strings.Contains(err.Error(), `token "`+first+`"`) {
					t.Fatalf("got %v; want a refusal naming token %q", err, first)
				}
				// Nor may one token name the file twice that way.
				_, err = f.reg.CreateToken(ctx, registry.TokenSpec{Name: second, Lifetime: lifetime, Destinations: []store.Destination{c.first(t), c.other(t)}})
				if !errors.As(err, &inv) || inv.Field != "destinations" {
					t.Fatalf("one token naming the file twice: %v", err)
				}
			})
		}
	})
}
