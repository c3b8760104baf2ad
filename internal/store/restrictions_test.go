package store_test

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
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

// TestMigrationToRestrictions: a store of the schema before migration 5,
// with a token and a scope of its own named tokenward:introspect, upgrades
// to one where the token has no restrictions and the scope, still granted,
// is the built-in one.
func TestMigrationToRestrictions(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			dialect := goose.DialectSQLite3
			if engine == "postgres" {
				dialect = goose.DialectPostgres
			}
			p, err := goose.NewProvider(dialect, rawDB(t, dsn), os.DirFS("migrations/"+engine))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 4); err != nil {
				t.Fatal(err)
			}
			db := rawDB(t, dsn)
			for _, q := range []string{
				`INSERT INTO scopes (name, description, created_at, updated_at) VALUES ('tokenward:introspect', 'mine', 1, 1)`,
				`INSERT INTO tokens (id, name, owner, description, ttl, rotate_before, overlap, created_at, updated_at) VALUES ('tok1', 'old', '', '', 100, 10, 1, 1, 1)`,
				`INSERT INTO token_scopes (token_id, scope) VALUES ('tok1', 'tokenward:introspect')`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			defer st.Close()
			update(t, st, func(tx store.Tx) error {
				tk, err := tx.GetToken(ctx, "old")
				if err != nil {
					return err
				}
				if tk.AllowedCIDRs != nil || tk.RateLimit != (store.RateLimit{}) || !reflect.DeepEqual(tk.Scopes, []string{"tokenward:introspect"}) {
					t.Errorf("upgraded token = %+v", tk)
				}
				s, err := tx.GetScope(ctx, "tokenward:introspect")
				if err != nil {
					return err
				}
				if s.Description != "call tokenward serve's introspection and verify endpoints" {
					t.Errorf("upgraded scope = %+v, want the built-in description", s)
				}
				return nil
			})
		})
	}
}
