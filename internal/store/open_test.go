package store_test

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// TestOpenRefusesAMissingStore: a DSN that names no tokenward store — no
// file, an empty file, another program's database, a PostgreSQL database
// without the schema — is an error that names where it looked, and leaves
// nothing behind; only Create makes a store there.
func TestOpenRefusesAMissingStore(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		foreign := filepath.Join(dir, "foreign.db")
		db := rawDB(t, foreign)
		if _, err := db.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		empty := filepath.Join(dir, "empty.db")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, path, reason string
		}{
			{"no file", filepath.Join(dir, "tokenwrad.db"), "the file does not exist"},
			{"empty file", empty, "holds no tokenward schema"},
			{"another program's database", foreign, "holds no tokenward schema"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := fileSum(t, tc.path)
				for _, opts := range [][]store.Option{nil, {store.ReadOnly()}, {store.ReadOnly(), store.Create()}} {
					_, err := store.Open(t.Context(), "sqlite:"+tc.path, opts...)
					if !errors.Is(err, store.ErrMissing) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.reason) {
						t.Fatalf("open %d options: got %v, want ErrMissing naming %s and %q", len(opts), err, tc.path, tc.reason)
					}
					if got := fileSum(t, tc.path); got != before {
						t.Fatalf("open %d options changed the file", len(opts))
					}
				}
				// Create makes a store in a new or empty file, and refuses to
				// add tables to another program's database: a mistyped path
				// on a first apply must not change the file it names.
				if tc.name == "another program's database" {
					_, err := store.Open(t.Context(), tc.path, store.Create())
					if err == nil || !strings.Contains(err.Error(), "another program's") || !strings.Contains(err.Error(), tc.path) {
						t.Fatalf("create in another program's database: got %v", err)
					}
					if got := fileSum(t, tc.path); got != before {
						t.Fatal("create changed another program's database")
					}
					return
				}
				st, err := store.Open(t.Context(), tc.path, store.Create())
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				st.Close()
				st, err = store.Open(t.Context(), tc.path)
				if err != nil {
					t.Fatalf("open after create: %v", err)
				}
				st.Close()
			})
		}
	})
	t.Run("sqlite relative path is named absolute", func(t *testing.T) {
		t.Parallel()
		_, err := store.Open(t.Context(), "no-such-tokenward.db")
		abs, _ := filepath.Abs("no-such-tokenward.db")
		if !errors.Is(err, store.ErrMissing) || !strings.Contains(err.Error(), abs) {
			t.Fatalf("got %v, want ErrMissing naming %s", err, abs)
		}
		if _, err := os.Stat("no-such-tokenward.db"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the open left a file behind: %v", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := engines.DSN(t, "postgres")
		for _, opts := range [][]store.Option{nil, {store.ReadOnly()}} {
			_, err := store.Open(t.Context(), dsn, opts...)
			if !errors.Is(err, store.ErrMissing) || !strings.Contains(err.Error(), "has no tokenward schema") ||
				!strings.Contains(err.Error(), store.Location(dsn)) {
				t.Fatalf("open %d options: got %v, want ErrMissing naming %s", len(opts), err, store.Location(dsn))
			}
		}
		var tables int
		if err := rawDB(t, dsn).QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Fatalf("a refused open created %d tables", tables)
		}
		st, err := store.Open(t.Context(), dsn, store.Create())
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		st.Close()
		if st, err = store.Open(t.Context(), dsn); err != nil {
			t.Fatalf("open after create: %v", err)
		}
		st.Close()
	})
}

func TestLocationHidesThePassword(t *testing.T) {
	t.Parallel()
	got := store.Location("postgres://tokenward:hunter22@db.example:5432/tw?sslmode=require")
	if got != "postgres://db.example:5432/tw" {
		t.Fatalf("Location = %q", got)
	}
	_, err := store.Open(t.Context(), "postgres://u:hunter22@127.0.0.1:1/db?connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "hunter22") || !strings.Contains(err.Error(), "postgres://127.0.0.1:1/db") {
		t.Fatalf("open error: %v", err)
	}
	// A password with characters a URL must escape: whether written raw
	// (the driver would split the URL inside it) or escaped, no piece of it
	// reaches the error.
	for _, tc := range []struct{ dsn, secret string }{
		{"postgres://u:p@SECRETPART@127.0.0.1:1/db?connect_timeout=1", "SECRETPART"},
		{"postgres://u:p@SECRETPART@127.0.0.1:99999/db", "SECRETPART"},
		{"postgres://u:SECRET/PART@127.0.0.1:1/db", "PART"},
		{"postgres://u:s3cr%40tpw@127.0.0.1:1/db?connect_timeout=1", "s3cr"},
		{"postgres://u:s3cr%40tpw@127.0.0.1:1/db?sslmode=bogus", "s3cr"},
	} {
		_, err := store.Open(t.Context(), tc.dsn)
		if err == nil || strings.Contains(err.Error(), tc.secret) {
			t.Errorf("open %s: error %v", store.Location(tc.dsn), err)
		}
	}
}

// TestReadOnlyChangesNothing: a read-only open reads what the store holds,
// refuses every change, and leaves the SQLite file's bytes as they were.
func TestReadOnlyChangesNothing(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		seedScopes(t, st, "billing:read")
		st.Close() // SQLite checkpoints its WAL into the file on the last close
		before := ""
		if st.Engine() == "sqlite" {
			before = fileSum(t, dsn)
		}
		ro, err := store.Open(ctx, dsn, store.ReadOnly())
		if err != nil {
			t.Fatalf("read-only open: %v", err)
		}
		defer ro.Close()
		if err := ro.View(ctx, func(tx store.Tx) error { _, err := tx.GetScope(ctx, "billing:read"); return err }); err != nil {
			t.Fatalf("read: %v", err)
		}
		if err := ro.Update(ctx, func(tx store.Tx) error { return tx.DeleteScope(ctx, "billing:read") }); !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("update: got %v, want ErrReadOnly", err)
		}
		if _, err := ro.TryLock(ctx, store.RunLock, "x", 0); !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("lock: got %v, want ErrReadOnly", err)
		}
		if st.Engine() == "sqlite" {
			ro.Close()
			if after := fileSum(t, dsn); after != before {
				t.Fatal("a read-only open changed the store file")
			}
		}
	})
}

// TestReadOnlyRefusesAnotherSchema: a reader runs no migration, so a store
// whose schema is older than this tokenward's is refused with what to do,
// and one that is newer is refused by every open.
func TestReadOnlyRefusesAnotherSchema(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			files, _ := filepath.Glob("migrations/" + engine + "/*.sql")
			if len(files) < 2 {
				t.Fatalf("want at least two %s migrations, found %d", engine, len(files))
			}
			dialect := goose.DialectSQLite3
			if engine == "postgres" {
				dialect = goose.DialectPostgres
			}
			// An older tokenward's store: every migration but the last.
			p, err := goose.NewProvider(dialect, rawDB(t, dsn), os.DirFS("migrations/"+engine))
			if err != nil {
				t.Fatal(err)
			}
			last, err := goose.NumericComponent(filepath.Base(files[len(files)-1]))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, last-1); err != nil {
				t.Fatal(err)
			}
			before := ""
			if engine == "sqlite" {
				before = fileSum(t, dsn)
			}
			_, err = store.Open(ctx, dsn, store.ReadOnly())
			if err == nil || !strings.Contains(err.Error(), "read-only open runs none") || !strings.Contains(err.Error(), "upgrade it first") {
				t.Fatalf("read-only open of an older schema: %v", err)
			}
			if engine == "sqlite" && fileSum(t, dsn) != before {
				t.Fatal("the refused read-only open changed the file")
			}
			// A writer upgrades it; then the reader may read it.
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			st.Close()
			ro, err := store.Open(ctx, dsn, store.ReadOnly())
			if err != nil {
				t.Fatalf("read-only open after the upgrade: %v", err)
			}
			ro.Close()

			// A newer tokenward's store.
			if _, err := rawDB(t, dsn).Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)`); err != nil {
				t.Fatal(err)
			}
			for _, opts := range [][]store.Option{nil, {store.ReadOnly()}, {store.Create()}} {
				_, err := store.Open(ctx, dsn, opts...)
				if err == nil || !strings.Contains(err.Error(), "version 99999, newer than this tokenward knows") {
					t.Fatalf("open %d options of a newer schema: %v", len(opts), err)
				}
			}
		})
	}
}

// fileSum is the SHA-256 of a file's bytes, "" when it does not exist.
func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(strings.TrimPrefix(path, "sqlite:"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return string(s[:])
}

// TestEmptyReadsNothingAndRefusesChanges: the stand-in a plan reads before a
// first apply has the schema, holds nothing but the built-in scopes, and
// takes no change.
func TestEmptyReadsNothingAndRefusesChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.Empty(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 3 { // several connections of the pool see the same schema
		if err := st.View(ctx, func(tx store.Tx) error {
			scopes, err := tx.ListScopes(ctx)
			for _, s := range scopes {
				if !strings.HasPrefix(s.Name, "tokenward:") { // the built-in scopes are in every store
					t.Errorf("scopes = %v", scopes)
				}
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if head, err := st.AuditHead(ctx); err != nil || head.Seq != 0 {
		t.Fatalf("head = %+v, %v", head, err)
	}
	if err := st.Update(ctx, func(store.Tx) error { return nil }); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("update: %v", err)
	}
}
