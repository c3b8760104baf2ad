package rotation_test

import (
	"errors"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// secret is a repository secret destination of repo.
func secret(t *testing.T, repo string) store.Destination {
	t.Helper()
	d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: repo, Name: "BILLING_API"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// billingSpec is the declaration of token billing-api with destinations ds.
func (f *fixture) billingSpec(t *testing.T, ds ...store.Destination) registry.TokenSpec {
	t.Helper()
	if _, err := f.reg.Scope(t.Context(), "billing:read"); err != nil {
		if _, err := f.reg.CreateScope(t.Context(), "billing:read", "reads invoices"); err != nil {
			t.Fatal(err)
		}
	}
	return registry.TokenSpec{
		Name: "billing-api", Owner: "platform", Scopes: []string{"billing:read"},
		Lifetime:     store.Lifetime{TTL: 30 * day, RotateBefore: 7 * day, Overlap: day},
		Destinations: ds,
	}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ds := []store.Destination{secret(t, "acme/api"), secret(t, "acme/web")}
		res, err := f.engine().Issue(t.Context(), f.billingSpec(t, ds...))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Delivered) != 2 || res.To == "" {
			t.Fatalf("Issue = %+v, want both destinations delivered", res)
		}
		f.checkInvariants(t, "billing-api", ds)

		// A second declaration of the name changes nothing.
		value := f.mem.get(ds[0].Key)
		_, err = f.engine().Issue(t.Context(), f.billingSpec(t))
		var undone *rotation.UndoError
		if !errors.Is(err, registry.ErrExists) || errors.As(err, &undone) {
			t.Fatalf("Issue of an existing name = %v, want the registry's ErrExists", err)
		}
		if f.mem.get(ds[0].Key) != value || f.verify(t, value) != token.Valid {
			t.Fatal("a refused Issue changed the existing token's value")
		}
	})
}

// TestIssueUndoesFailedDelivery: when one destination fails, Issue removes
// the token and withdraws the value from the destinations it reached, so
// the next Issue starts afresh.
func TestIssueUndoesFailedDelivery(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		ds := []store.Destination{secret(t, "acme/api"), secret(t, "acme/web")}
		f.mem.setFail(ds[1].Key, errors.New("404 repository acme/web not found"))
		_, err := f.engine().Issue(ctx, f.billingSpec(t, ds...))
		var undone *rotation.UndoError
		if !errors.As(err, &undone) || !errors.Is(err, rotation.ErrDelivery) {
			t.Fatalf("Issue = %v, want an UndoError of a failed delivery", err)
		}
		if undone.Restore != nil || undone.Withdraw != nil {
			t.Fatalf("undo failed: %v, %v", undone.Restore, undone.Withdraw)
		}
		if _, err := f.reg.Token(ctx, "billing-api"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("after a failed Issue the token is still there: %v", err)
		}
		if v := f.mem.get(ds[0].Key); v != "" {
			t.Fatalf("after a failed Issue %s keeps the value %s", ds[0].Key, token.Fingerprint(v))
		}

		f.mem.setFail(ds[1].Key, nil)
		if _, err := f.engine().Issue(ctx, f.billingSpec(t, ds...)); err != nil {
			t.Fatalf("Issue after the fix: %v", err)
		}
		f.checkInvariants(t, "billing-api", ds)
	})
}

func TestRedeclare(t *testing.T) {
	t.Parallel()
	api, web, ops := "acme/api", "acme/web", "acme/ops"
	cases := []struct {
		name        string
		before, now []string
		rotate      bool
		wantRotated bool
	}{
		{"same destinations", []string{api, web}, []string{web, api}, false, false},
		{"asked to rotate", []string{api, web}, []string{api, web}, true, true},
		{"destination added", []string{api}, []string{api, ops}, false, true},
		{"destination removed", []string{api, web}, []string{api}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f *fixture) {
				ctx := t.Context()
				dests := func(repos []string) (out []store.Destination) {
					for _, r := range repos {
						out = append(out, secret(t, r))
					}
					return out
				}
				before, now := dests(tc.before), dests(tc.now)
				if _, err := f.engine().Issue(ctx, f.billingSpec(t, before...)); err != nil {
					t.Fatal(err)
				}
				first := f.mem.get(before[0].Key)
				spec := f.billingSpec(t, now...)
				spec.Owner = "billing"
				got, err := f.engine().Redeclare(ctx, rotation.Redeclaration{TokenSpec: spec, Before: before, Rotate: tc.rotate})
				if err != nil || got.Leftover != nil {
					t.Fatalf("Redeclare: %v, leftover %v", err, got.Leftover)
				}
				if got.Rotated != tc.wantRotated {
					t.Fatalf("Rotated = %v, want %v", got.Rotated, tc.wantRotated)
				}
				ti := f.checkInvariants(t, "billing-api", now)
				if ti.Owner != "billing" || !rotation.SameDestinations(ti.Destinations, now) {
					t.Fatalf("the store holds owner %q and %d destinations, want the new declaration", ti.Owner, len(ti.Destinations))
				}
				if changed := f.mem.get(now[0].Key) != first; changed != tc.wantRotated {
					t.Fatalf("the value changed: %v, want %v", changed, tc.wantRotated)
				}
				for _, d := range before {
					if hasDest(now, d) {
						continue
					}
					if v := f.mem.get(d.Key); v != "" {
						t.Fatalf("the removed destination %s keeps a value", d.Key)
					}
				}
			})
		})
	}
}

func hasDest(ds []store.Destination, d store.Destination) bool {
	for _, x := range ds {
		if x.Key == d.Key {
			return true
		}
	}
	return false
}

// TestRedeclareRevertsFailedRotation: when a rotation to new destinations
// fails, Redeclare puts the previous destinations back, takes the new value
// back from the destination it reached, and the next Redeclare resumes the
// rotation with the same new value.
func TestRedeclareRevertsFailedRotation(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		kept, added, broken := secret(t, "acme/api"), secret(t, "acme/ops"), secret(t, "acme/web")
		if _, err := f.engine().Issue(ctx, f.billingSpec(t, kept)); err != nil {
			t.Fatal(err)
		}
		first := f.mem.get(kept.Key)
		f.mem.setFail(broken.Key, errors.New("404 repository acme/web not found"))
		change := rotation.Redeclaration{TokenSpec: f.billingSpec(t, kept, added, broken), Before: []store.Destination{kept}}
		got, err := f.engine().Redeclare(ctx, change)
		var undone *rotation.UndoError
		if !errors.As(err, &undone) || !errors.Is(err, rotation.ErrDelivery) || got.Rotated {
			t.Fatalf("Redeclare = %+v, %v; want an UndoError of a failed delivery", got, err)
		}
		if undone.Restore != nil || undone.Withdraw != nil {
			t.Fatalf("undo failed: %v, %v", undone.Restore, undone.Withdraw)
		}
		ti, err := f.reg.Token(ctx, "billing-api")
		if err != nil {
			t.Fatal(err)
		}
		if !rotation.SameDestinations(ti.Destinations, []store.Destination{kept}) {
			t.Fatalf("after a failed rotation the store has %d destinations, want the 1 it had", len(ti.Destinations))
		}
		if ti.Pending == nil {
			t.Fatal("the failed rotation's pending value was not kept for the retry")
		}
		if v := f.mem.get(added.Key); v != "" {
			t.Fatalf("the added destination keeps the new value %s, which nothing manages", token.Fingerprint(v))
		}
		if f.verify(t, first) != token.Valid {
			t.Fatal("the current value stopped verifying after a failed rotation")
		}
		pending := ti.Pending.Fingerprint

		f.mem.setFail(broken.Key, nil)
		got, err = f.engine().Redeclare(ctx, change)
		if err != nil || !got.Rotated || !got.Result.Resumed || got.Result.To != pending {
			t.Fatalf("retried Redeclare = %+v, %v; want the rotation resumed with %s", got, err, pending)
		}
		f.checkInvariants(t, "billing-api", []store.Destination{kept, added, broken})
	})
}

func TestSameDestinations(t *testing.T) {
	t.Parallel()
	d := func(key, config string) store.Destination { return store.Destination{Key: key, Config: []byte(config)} }
	a, b := d("file:/a#A", `{"path":"/a"}`), d("file:/b#B", `{"path":"/b"}`)
	cases := []struct {
		name string
		x, y []store.Destination
		want bool
	}{
		{"both empty", nil, []store.Destination{}, true},
		{"same order", []store.Destination{a, b}, []store.Destination{a, b}, true},
		{"other order", []store.Destination{a, b}, []store.Destination{b, a}, true},
		{"one more", []store.Destination{a}, []store.Destination{a, b}, false},
		{"same count, other places", []store.Destination{a, a}, []store.Destination{a, b}, false},
		{"same key, other configuration", []store.Destination{a}, []store.Destination{d(a.Key, `{"path":"/a","format":"raw"}`)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rotation.SameDestinations(tc.x, tc.y); got != tc.want {
				t.Errorf("sameDestinations = %v, want %v", got, tc.want)
			}
		})
	}
}
