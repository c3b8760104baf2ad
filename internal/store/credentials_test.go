package store_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestCredentialRecords: a credential's kind and issuer configuration, and
// the user each of its versions was staged on, are kept by every path that
// writes them and returned by every path that reads them, on both engines;
// a token keeps none.
func TestCredentialRecords(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		cred := newToken("cred1", "billing-db", nil, nil)
		cred.Kind = store.KindCredential
		cred.Issuer = json.RawMessage(`{"postgres":{"admin_dsn_env":"BILLING_DB_ADMIN_DSN","users":["a","b"]}}`)
		plain := newToken("tok1", "deploy", nil, nil)
		v := store.Version{ID: "ver1", TokenID: cred.ID, State: token.StatePending, Fingerprint: "cred_ver1…", Sealed: []byte("sealed"),
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), User: "billing_a"}
		update(t, st, func(tx store.Tx) error {
			for _, tk := range []store.Token{cred, plain} {
				if err := tx.CreateToken(ctx, tk); err != nil {
					return err
				}
			}
			return tx.CreateVersion(ctx, v)
		})
		check := func(t *testing.T, wantIssuer string) {
			t.Helper()
			update(t, st, func(tx store.Tx) error {
				got, err := tx.GetToken(ctx, cred.Name)
				if err != nil {
					return err
				}
				if got.Kind != store.KindCredential || string(got.Issuer) != wantIssuer {
					t.Errorf("credential: kind %q, issuer %s; want %q, %s", got.Kind, got.Issuer, store.KindCredential, wantIssuer)
				}
				list, err := tx.ListTokens(ctx)
				if err != nil {
					return err
				}
				for _, tk := range list {
					if tk.Name == plain.Name && (tk.Kind != "" || tk.Issuer != nil) {
						t.Errorf("token: kind %q, issuer %s; want none", tk.Kind, tk.Issuer)
					}
				}
				gv, err := tx.GetVersion(ctx, v.ID)
				if err != nil {
					return err
				}
				if gv.User != v.User {
					t.Errorf("version user = %q, want %q", gv.User, v.User)
				}
				return nil
			})
		}
		t.Run("created", func(t *testing.T) { check(t, string(cred.Issuer)) })
		cred.Issuer = json.RawMessage(`{"redis":{"admin_url_env":"CACHE_ADMIN_URL","user":"cache_app"}}`)
		update(t, st, func(tx store.Tx) error { return tx.UpdateToken(ctx, cred) })
		t.Run("changed", func(t *testing.T) { check(t, string(cred.Issuer)) })
	})
}

// TestMigrationToCredentials: a store of the schema before migration 6
// upgrades to one where its tokens are tokens and their versions name no
// user.
func TestMigrationToCredentials(t *testing.T) {
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
			if _, err := p.UpTo(ctx, 5); err != nil {
				t.Fatal(err)
			}
			db := rawDB(t, dsn)
			for _, q := range []string{
				`INSERT INTO tokens (id, name, owner, description, ttl, rotate_before, overlap, created_at, updated_at) VALUES ('tok1', 'old', '', '', 100, 10, 1, 1, 1)`,
				`INSERT INTO token_versions (id, token_id, state, secret_hash, fingerprint, created_at, expires_at) VALUES ('ver1', 'tok1', 'current', '` + "0123456789abcdef0123456789abcdef" + `', 'tw_ver1…', 1, 100)`,
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
				if tk.Kind != "" || tk.Issuer != nil {
					t.Errorf("upgraded token: kind %q, issuer %s; want a token", tk.Kind, tk.Issuer)
				}
				v, err := tx.GetVersion(ctx, "ver1")
				if err != nil {
					return err
				}
				if v.User != "" {
					t.Errorf("upgraded version user = %q, want none", v.User)
				}
				return nil
			})
		})
	}
}
