package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestTokenRestrictions: a token's allowed networks and rate limit are kept
// by every path that writes a token and returned by every path that reads
// one, on both engines; clearing them stores none.
func TestTokenRestrictions(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		restricted := newToken("tok1", "ci-deploy", nil, nil)
		restricted.AllowedCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
		restricted.RateLimit = store.RateLimit{Requests: 100, Per: time.Minute}
		open := newToken("tok2", "open", nil, nil)
		update(t, st, func(tx store.Tx) error {
			if err := tx.CreateToken(ctx, restricted); err != nil {
				return err
			}
			return tx.CreateToken(ctx, open)
		})
		check := func(t *testing.T, want ...store.Token) {
			t.Helper()
			update(t, st, func(tx store.Tx) error {
				for _, w := range want {
					byName, err := tx.GetToken(ctx, w.Name)
					if err != nil {
						return err
					}
					byID, err := tx.GetTokenByID(ctx, w.ID)
					if err != nil {
						return err
					}
					for how, got := range map[string]store.Token{"by name": byName, "by id": byID} {
						if !reflect.DeepEqual(got.AllowedCIDRs, w.AllowedCIDRs) || got.RateLimit != w.RateLimit {
							t.Errorf("%s %s: allowed %#v, rate %+v; want %#v, %+v", w.Name, how, got.AllowedCIDRs, got.RateLimit, w.AllowedCIDRs, w.RateLimit)
						}
					}
				}
				list, err := tx.ListTokens(ctx)
				if err != nil {
					return err
				}
				for i, w := range want {
					if i >= len(list) || !reflect.DeepEqual(list[i].AllowedCIDRs, w.AllowedCIDRs) || list[i].RateLimit != w.RateLimit {
						t.Errorf("list[%d] = %+v, want the restrictions of %+v", i, list, w)
					}
				}
				return nil
			})
		}
		t.Run("created", func(t *testing.T) { check(t, restricted, open) })

		restricted.AllowedCIDRs = []string{"192.0.2.0/24"}
		restricted.RateLimit = store.RateLimit{Requests: 5, Per: time.Second}
		open.AllowedCIDRs = []string{"::1/128"}
		open.RateLimit = store.RateLimit{Requests: 1, Per: 24 * time.Hour}
		update(t, st, func(tx store.Tx) error {
			if err := tx.UpdateToken(ctx, restricted); err != nil {
				return err
			}
			return tx.UpdateToken(ctx, open)
		})
		t.Run("changed", func(t *testing.T) { check(t, restricted, open) })

		restricted.AllowedCIDRs, restricted.RateLimit = nil, store.RateLimit{}
		update(t, st, func(tx store.Tx) error { return tx.UpdateToken(ctx, restricted) })
		t.Run("cleared", func(t *testing.T) { check(t, restricted, open) })

		update(t, st, func(tx store.Tx) error { return tx.RetireToken(ctx, open.ID, t0.Add(time.Hour)) })
		t.Run("retired", func(t *testing.T) {
			update(t, st, func(tx store.Tx) error {
				got, err := tx.GetTokenByID(ctx, open.ID)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got.AllowedCIDRs, open.AllowedCIDRs) || got.RateLimit != open.RateLimit {
					t.Errorf("retired token: allowed %v, rate %+v", got.AllowedCIDRs, got.RateLimit)
				}
				return nil
			})
		})
	})
}
