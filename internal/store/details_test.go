package store_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestListTokenDetails checks that the bulk reads answer what reading token
// by token does: ListTokens as GetTokenByID, ListTokenDetails as
// EffectiveScopes, ListDestinations and ListVersions, for tokens with and
// without scopes, roles, destinations and versions, and none for a retired
// token.
func TestListTokenDetails(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		seedScopes(t, st, "a:read", "b:read", "c:write", "Z:admin")
		update(t, st, func(tx store.Tx) error {
			if err := tx.CreateRole(ctx, store.Role{Name: "reader", Scopes: []string{"b:read", "a:read"}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			if err := tx.CreateRole(ctx, store.Role{Name: "empty", CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			tokens := []store.Token{
				newToken("t1", "zeta", []string{"c:write", "a:read", "Z:admin"}, []string{"reader", "empty"}),
				newToken("t2", "alpha", nil, nil),
				newToken("t3", "mid", nil, []string{"reader"}),
				newToken("t4", "gone", []string{"a:read"}, nil),
			}
			for _, tk := range tokens {
				if err := tx.CreateToken(ctx, tk); err != nil {
					return err
				}
			}
			for i, s := range []token.State{token.StatePrevious, token.StateCurrent, token.StatePending} {
				v := version(fmt.Sprintf("t1v%d", i), "t1", s, nil)
				v.CreatedAt = t0.Add(time.Duration(i) * time.Hour)
				if err := tx.CreateVersion(ctx, v); err != nil {
					return err
				}
			}
			for _, v := range []store.Version{version("t3v", "t3", token.StateCurrent, []byte("sealed")), version("t4v", "t4", token.StateCurrent, nil)} {
				if err := tx.CreateVersion(ctx, v); err != nil {
					return err
				}
			}
			if err := tx.SetDestinations(ctx, "t1", []store.Destination{
				{Key: "file:/b.env:TOKEN", Kind: "file", Config: json.RawMessage(`{"path":"/b.env"}`)},
				{Key: "file:/a.env:TOKEN", Kind: "file", Config: json.RawMessage(`{"path":"/a.env"}`)},
			}); err != nil {
				return err
			}
			if err := tx.SetDestinations(ctx, "t4", []store.Destination{{Key: "file:/c.env:TOKEN", Kind: "file", Config: json.RawMessage(`{"path":"/c.env"}`)}}); err != nil {
				return err
			}
			return tx.RetireToken(ctx, "t4", t0)
		})
		err := st.View(ctx, func(tx store.Tx) error {
			tks, err := tx.ListTokens(ctx)
			if err != nil {
				return err
			}
			var names []string
			for _, tk := range tks {
				names = append(names, tk.Name)
				one, err := tx.GetTokenByID(ctx, tk.ID)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(tk, one) {
					t.Errorf("ListTokens has %+v\nGetTokenByID %+v", tk, one)
				}
			}
			if want := []string{"alpha", "mid", "zeta"}; !reflect.DeepEqual(names, want) {
				t.Errorf("ListTokens lists %v, want %v", names, want)
			}
			tds, err := tx.ListTokenDetails(ctx)
			if err != nil {
				return err
			}
			if len(tds) != len(tks) {
				t.Fatalf("ListTokenDetails has %d tokens, ListTokens %d", len(tds), len(tks))
			}
			for i, td := range tds {
				want := store.TokenDetails{Token: tks[i]}
				if want.EffectiveScopes, err = tx.EffectiveScopes(ctx, td.ID); err != nil {
					return err
				}
				if want.Destinations, err = tx.ListDestinations(ctx, td.ID); err != nil {
					return err
				}
				if want.Versions, err = tx.ListVersions(ctx, td.ID); err != nil {
					return err
				}
				if !reflect.DeepEqual(td, want) {
					t.Errorf("ListTokenDetails has %+v\none by one %+v", td, want)
				}
			}
			t1 := tds[2]
			if want := []string{"Z:admin", "a:read", "b:read", "c:write"}; !reflect.DeepEqual(t1.EffectiveScopes, want) {
				t.Errorf("zeta's effective scopes are %v, want %v", t1.EffectiveScopes, want)
			}
			if len(t1.Versions) != 3 || t1.Versions[0].ID != "t1v2" || len(t1.Destinations) != 2 || t1.Destinations[0].Key != "file:/b.env:TOKEN" {
				t.Errorf("zeta's versions %v or destinations %v are not all there in order", t1.Versions, t1.Destinations)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
