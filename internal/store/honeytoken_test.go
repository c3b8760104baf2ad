package store_test

import (
	"os"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// TestHoneytoken: the honeytoken mark is kept by CreateToken and returned
// by every read, VerificationData included, on both engines; UpdateToken
// never changes it, like a token's kind, and a retired honeytoken is still
// one (its values must keep answering as unknown).
func TestHoneytoken(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		decoy := newToken("tok1", "decoy", nil, nil)
		decoy.Honeytoken = true
		real := newToken("tok2", "real", nil, nil)
		update(t, st, func(tx store.Tx) error {
			if err := tx.CreateToken(ctx, decoy); err != nil {
				return err
			}
			return tx.CreateToken(ctx, real)
		})
		check := func(t *testing.T, want map[string]bool) {
			t.Helper()
			update(t, st, func(tx store.Tx) error {
				for name, honey := range want {
					tk, err := tx.GetToken(ctx, name)
					if err == nil && honey != tk.Honeytoken {
						t.Errorf("GetToken(%s).Honeytoken = %v, want %v", name, tk.Honeytoken, honey)
					}
				}
				for _, tk := range []store.Token{decoy, real} {
					got, err := tx.GetTokenByID(ctx, tk.ID)
					if err != nil {
						return err
					}
					if got.Honeytoken != want[tk.Name] {
						t.Errorf("GetTokenByID(%s).Honeytoken = %v, want %v", tk.ID, got.Honeytoken, want[tk.Name])
					}
				}
				return nil
			})
			data, err := st.VerificationData(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(data.Tokens) != 2 {
				t.Fatalf("verification data holds %d tokens, want 2", len(data.Tokens))
			}
			for _, tk := range data.Tokens {
				if tk.Honeytoken != want[tk.Name] {
					t.Errorf("VerificationData %s: Honeytoken = %v, want %v", tk.Name, tk.Honeytoken, want[tk.Name])
				}
			}
		}
		want := map[string]bool{"decoy": true, "real": false}
		t.Run("created", func(t *testing.T) { check(t, want) })

		// An update that asks to flip the mark changes nothing of it: the
		// provider replaces the token instead (new values).
		decoy.Honeytoken, real.Honeytoken = false, true
		decoy.Owner = "security"
		update(t, st, func(tx store.Tx) error {
			if err := tx.UpdateToken(ctx, decoy); err != nil {
				return err
			}
			return tx.UpdateToken(ctx, real)
		})
		t.Run("update keeps it", func(t *testing.T) { check(t, want) })

		update(t, st, func(tx store.Tx) error { return tx.RetireToken(ctx, decoy.ID, t0.Add(time.Hour)) })
		t.Run("retired", func(t *testing.T) { check(t, want) })
	})
}

// TestMigrationToHoneytoken: a store of the schema before migration 9, with
// a token, upgrades to one where that token is not a honeytoken.
func TestMigrationToHoneytoken(t *testing.T) {
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
			if _, err := p.UpTo(ctx, 7); err != nil {
				t.Fatal(err)
			}
			q := `INSERT INTO tokens (id, name, owner, description, ttl, rotate_before, overlap, created_at, updated_at) VALUES ('tok1', 'old', '', '', 100, 10, 1, 1, 1)`
			if _, err := rawDB(t, dsn).ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
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
				if tk.Honeytoken {
					t.Errorf("upgraded token = %+v, want no honeytoken", tk)
				}
				return nil
			})
		})
	}
}
