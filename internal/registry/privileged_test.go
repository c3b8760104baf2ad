package registry_test

import (
	"reflect"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// TestScopePrivilegedRoundTrips: a scope declared privileged reads back
// privileged, alone and in the list; UpdateScope without WithPrivileged
// keeps the flag, with it changes it; the audit events say privileged only
// when it is set or changes.
func TestScopePrivilegedRoundTrips(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if _, err := f.reg.CreateScope(ctx, "billing:admin", "refunds", registry.WithPrivileged(true)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.CreateScope(ctx, "billing:read", "reads"); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"billing:admin": true, "billing:read": false}
		check := func(step string) {
			t.Helper()
			for name, priv := range want {
				s, err := f.reg.Scope(ctx, name)
				if err != nil || s.Privileged != priv {
					t.Fatalf("%s: scope %s = %+v, %v; want privileged %v", step, name, s, err, priv)
				}
			}
			all, err := f.reg.Scopes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range all {
				if p, ok := want[s.Name]; ok && s.Privileged != p {
					t.Fatalf("%s: Scopes lists %s privileged %v, want %v", step, s.Name, s.Privileged, p)
				}
			}
		}
		check("created")

		if _, err := f.reg.UpdateScope(ctx, "billing:admin", "refunds and credits"); err != nil {
			t.Fatal(err)
		}
		check("description changed")
		if _, err := f.reg.UpdateScope(ctx, "billing:admin", "refunds and credits", registry.WithPrivileged(false)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.UpdateScope(ctx, "billing:read", "reads", registry.WithPrivileged(true)); err != nil {
			t.Fatal(err)
		}
		want = map[string]bool{"billing:admin": false, "billing:read": true}
		check("flags swapped")

		var got []map[string]string
		for _, e := range storetest.AuditChain(t, f.st) {
			got = append(got, e.Details)
		}
		wantDetails := []map[string]string{
			{"privileged": "true"},
			nil,
			nil,
			{"privileged_before": "true", "privileged": "false"},
			{"privileged_before": "false", "privileged": "true"},
		}
		if len(got) != len(wantDetails) {
			t.Fatalf("audit details = %v, want %v", got, wantDetails)
		}
		for i := range got {
			if len(got[i]) == 0 && len(wantDetails[i]) == 0 {
				continue
			}
			if !reflect.DeepEqual(got[i], wantDetails[i]) {
				t.Fatalf("audit event %d details = %v, want %v", i, got[i], wantDetails[i])
			}
		}
	})
}

// TestPrivilegedBuiltInScopes: the built-in scopes that show or write
// sensitive values are privileged, in the list and in a new store.
func TestPrivilegedBuiltInScopes(t *testing.T) {
	t.Parallel()
	want := []string{registry.ScopeConfigReadSensitive, registry.ScopeConfigWriteSensitive}
	if got := registry.PrivilegedBuiltInScopes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("PrivilegedBuiltInScopes = %v, want %v", got, want)
	}
	forEachEngine(t, func(t *testing.T, f fixture) {
		for _, name := range want {
			s, err := f.reg.Scope(t.Context(), name)
			if err != nil || !s.Privileged {
				t.Fatalf("built-in %s in a new store = %+v, %v; want privileged", name, s, err)
			}
		}
	})
}
