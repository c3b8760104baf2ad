package registry_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

func keyEnv(t *testing.T, dsn string) map[string]string {
	t.Helper()
	return registrytest.Env(t, dsn)
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// TestOpenRefusesAMissingStore: a mistyped store is an error that names the
// absolute path and says how to create a store; nothing is created.
func TestOpenRefusesAMissingStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokenwrad.db")
	env := keyEnv(t, path)
	for name, open := range map[string]func() error{
		"Open": func() error {
			_, err := registry.Open(t.Context(), registry.Config{Getenv: getenv(env)})
			return err
		},
		"OpenStore": func() error {
			_, err := registry.OpenStore(t.Context(), registry.Config{Getenv: getenv(env)})
			return err
		},
		"OpenVerifier": func() error {
			_, err := registry.OpenVerifier(t.Context(), registry.Config{Getenv: getenv(env)})
			return err
		},
	} {
		err := open()
		for _, want := range []string{path, "--create", registry.EnvStoreCreate + "=1", "terraform apply", "mistyped"} {
			if !errors.Is(err, store.ErrMissing) || !strings.Contains(err.Error(), want) {
				t.Fatalf("%s: got %v, want ErrMissing saying %q", name, err, want)
			}
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s created the store: %v", name, err)
		}
	}
	reg, err := registry.Open(t.Context(), registry.Config{Getenv: getenv(env), Create: true})
	if err != nil {
		t.Fatalf("with Create: %v", err)
	}
	reg.Close()
}

// TestOpenVerifierNeedsNoKeyAndWritesNothing: a verifier opens the store
// without the master key, verifies a value, writes nothing (not even a key
// check on a store that has none) and cannot change anything.
func TestOpenVerifierNeedsNoKeyAndWritesNothing(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			env := keyEnv(t, dsn)
			admin, err := registry.Open(ctx, registry.Config{Getenv: getenv(env), Create: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := admin.CreateScope(ctx, "billing:read", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.CreateToken(ctx, registry.TokenSpec{Name: "ci", Scopes: []string{"billing:read"},
				Lifetime: store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour}}); err != nil {
				t.Fatal(err)
			}
			issued, err := admin.IssueFirst(ctx, "ci")
			if err != nil {
				t.Fatal(err)
			}
			admin.Close()
			before := sum(t, dsn, engine)

			noKey := map[string]string{registry.EnvStore: dsn}
			v, err := registry.OpenVerifier(ctx, registry.Config{Getenv: getenv(noKey)})
			if err != nil {
				t.Fatalf("open to verify without a key: %v", err)
			}
			res, err := v.Verify(ctx, issued.Value, []string{"billing:read"})
			if err != nil || res.Code != token.Valid {
				t.Fatalf("verify: %+v %v", res, err)
			}
			if _, err := v.CreateScope(ctx, "admin:write", ""); !errors.Is(err, store.ErrReadOnly) {
				t.Fatalf("a change through the verifier: %v, want ErrReadOnly", err)
			}
			v.Close()
			if sum(t, dsn, engine) != before {
				t.Fatal("opening to verify changed the store")
			}
		})
	}
}

// sum fingerprints a store's content: a SQLite file's bytes, or the rows a
// verifier could touch in PostgreSQL.
func sum(t *testing.T, dsn, engine string) string {
	t.Helper()
	if engine == "sqlite" {
		b, err := os.ReadFile(dsn)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return string(s[:])
	}
	st, err := store.Open(t.Context(), dsn, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	head, err := st.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var check []byte
	if err := st.View(t.Context(), func(tx store.Tx) (err error) { check, err = tx.KeyCheck(t.Context()); return err }); err != nil {
		t.Fatal(err)
	}
	return head.Hash + base64.StdEncoding.EncodeToString(check)
}

// TestOpenDeferredCreatesOnTheFirstChange: a missing store reads as empty and
// is created, with its key check, by the first change; RefuseCreate stops
// that.
func TestOpenDeferredCreatesOnTheFirstChange(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tokenward.db")
	env := keyEnv(t, path)
	reg, err := registry.OpenDeferred(ctx, registry.Config{Getenv: getenv(env)})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	builtIn := len(registry.BuiltInScopes()) // every store has them, an empty one too
	if scopes, err := reg.Scopes(ctx); err != nil || len(scopes) != builtIn {
		t.Fatalf("scopes of a missing store: %v %v", scopes, err)
	}
	if pristine, err := reg.Pristine(ctx); reg.StoreExists() || err != nil || !pristine {
		t.Fatalf("exists %v, pristine %v %v", reg.StoreExists(), pristine, err)
	}
	if reg.Location() != path {
		t.Fatalf("location = %q", reg.Location())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reading created the store: %v", err)
	}
	if _, err := reg.CreateScope(ctx, "billing:read", ""); err != nil {
		t.Fatal(err)
	}
	if pristine, err := reg.Pristine(ctx); !reg.StoreExists() || err != nil || pristine {
		t.Fatalf("after a change: exists %v, pristine %v %v", reg.StoreExists(), pristine, err)
	}
	if scopes, err := reg.Scopes(ctx); err != nil || len(scopes) != builtIn+1 {
		t.Fatalf("scopes after the change: %v %v", scopes, err)
	}
	wrong := keyEnv(t, path)
	if _, err := registry.Open(ctx, registry.Config{Getenv: getenv(wrong)}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("the created store has no key check: %v", err)
	}

	t.Run("refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokenward.db")
		reg, err := registry.OpenDeferred(ctx, registry.Config{Getenv: getenv(keyEnv(t, path))})
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		lost := errors.New("the store was lost")
		reg.RefuseCreate(lost)
		if _, err := reg.CreateScope(ctx, "billing:read", ""); !errors.Is(err, lost) {
			t.Fatalf("change after RefuseCreate: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused change created the store: %v", err)
		}
	})
}
