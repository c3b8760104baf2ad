package registry_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestBuiltInScopesMatchTheMigrations: a new store on each engine holds
// exactly the built-in scopes registry.BuiltInScopes lists, with the same
// descriptions, so adding one to the list without a migration (or the
// reverse) fails here.
func TestBuiltInScopesMatchTheMigrations(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		scopes, err := f.reg.Scopes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		type named struct {
			Name, Description string
			Privileged        bool
		}
		var got, want []named
		for _, s := range scopes {
			if registry.IsBuiltInScope(s.Name) {
				got = append(got, named{s.Name, s.Description, s.Privileged})
			}
		}
		for _, s := range registry.BuiltInScopes() {
			want = append(want, named{s.Name, s.Description, s.Privileged})
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Fatalf("built-in scopes in a new store = %+v, registry.BuiltInScopes = %+v", got, want)
		}
		if len(scopes) != len(want) {
			t.Fatalf("a new store holds %d scopes, want only the %d built in: %+v", len(scopes), len(want), scopes)
		}
	})
}

// TestBuiltInScopesCannotBeManaged: creating, changing or deleting a
// built-in scope, or creating any scope under tokenward:, is an
// InvalidError on name that says why, and changes nothing.
func TestBuiltInScopesCannotBeManaged(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		cases := []struct {
			name string
			do   func() error
			want string
		}{
			{"create a built-in", func() error { _, err := f.reg.CreateScope(ctx, registry.ScopeIntrospect, "mine"); return err }, "tokenward:introspect is built in"},
			{"create another under tokenward:", func() error { _, err := f.reg.CreateScope(ctx, "tokenward:admin", ""); return err }, "kept for tokenward's built-in scopes"},
			{"update a built-in", func() error { _, err := f.reg.UpdateScope(ctx, registry.ScopeIntrospect, "mine"); return err }, "cannot be changed"},
			{"delete a built-in", func() error { return f.reg.DeleteScope(ctx, registry.ScopeIntrospect) }, "cannot be deleted"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.do()
				var ie *registry.InvalidError
				if !errors.As(err, &ie) || ie.Field != "name" || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an InvalidError on name saying %q", err, tc.want)
				}
			})
		}
		s, err := f.reg.Scope(ctx, registry.ScopeIntrospect)
		if err != nil || s.Description != "call tokenward serve's introspection and verify endpoints" {
			t.Fatalf("built-in scope after the refusals = %+v, %v", s, err)
		}
		if got := len(storetest.AuditChain(t, f.st)); got != 0 {
			t.Fatalf("refused changes wrote %d audit events", got)
		}
	})
}

// TestBuiltInScopesAreGrantedLikeAny: a token holds tokenward:introspect
// directly or through a role, and verification checks it like any scope.
func TestBuiltInScopesAreGrantedLikeAny(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if _, err := f.reg.CreateRole(ctx, registry.RoleSpec{Name: "introspector", Scopes: []string{registry.ScopeIntrospect}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.CreateScope(ctx, "billing:read", ""); err != nil {
			t.Fatal(err)
		}
		for _, spec := range []registry.TokenSpec{
			{Name: "direct", Scopes: []string{registry.ScopeIntrospect}, Lifetime: lifetime},
			{Name: "by-role", Roles: []string{"introspector"}, Lifetime: lifetime},
			{Name: "without", Scopes: []string{"billing:read"}, Lifetime: lifetime},
		} {
			t.Run(spec.Name, func(t *testing.T) {
				if _, err := f.reg.CreateToken(ctx, spec); err != nil {
					t.Fatal(err)
				}
				v, err := f.reg.IssueFirst(ctx, spec.Name)
				if err != nil {
					t.Fatal(err)
				}
				want := token.Valid
				if spec.Name == "without" {
					want = token.InsufficientScope
				}
				if res := verify(t, f, v.Value, registry.ScopeIntrospect); res.Code != want {
					t.Fatalf("verify with %s = %s, want %s", registry.ScopeIntrospect, res.Code, want)
				}
			})
		}
		if err := f.reg.DeleteRole(ctx, "introspector"); !errors.Is(err, store.ErrInUse) {
			t.Fatalf("delete a role in use: %v", err)
		}
	})
}
