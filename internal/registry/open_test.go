package registry_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
)

// TestOpenRefusesAWrongMasterKey: a store opened with another key than the
// one it was created with is refused at once, with what to set; the new key
// first and the old one after it opens it, and after a rekey the new key
// alone does.
func TestOpenRefusesAWrongMasterKey(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			b64 := func(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
			oldKey, newKey := sealtest.Bytes(t), sealtest.Bytes(t)
			open := func(keys string) (*registry.Registry, error) {
				env := map[string]string{registry.EnvStore: dsn, seal.EnvKey: keys}
				return registry.Open(ctx, registry.Config{Getenv: func(k string) string { return env[k] }, Create: true})
			}
			reg, err := open(b64(oldKey))
			if err != nil {
				t.Fatal(err)
			}
			reg.Close()

			_, err = open(b64(newKey))
			if err == nil || !strings.Contains(err.Error(), "master key does not match the store") || !strings.Contains(err.Error(), seal.EnvKey) {
				t.Fatalf("open with another key: %v", err)
			}
			if strings.Contains(err.Error(), b64(newKey)) || strings.Contains(err.Error(), b64(oldKey)) {
				t.Fatal("the error shows a key")
			}
			reg, err = open(b64(newKey) + "," + b64(oldKey))
			if err != nil {
				t.Fatalf("new key first, old key after: %v", err)
			}
			if _, err := reg.Rekey(ctx); err != nil {
				t.Fatal(err)
			}
			reg.Close()
			reg, err = open(b64(newKey))
			if err != nil {
				t.Fatalf("the new key alone after a rekey: %v", err)
			}
			reg.Close()
		})
	}
}

// TestOpenChecksAStoreWithoutAKeyCheck: a store that sealed values before it
// had a key check (made by an older tokenward) is checked against one of
// them, so a wrong key never becomes the check.
func TestOpenChecksAStoreWithoutAKeyCheck(t *testing.T) {
	t.Parallel()
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		right := sealtest.Bytes(t)
		k, err := seal.NewKey(right)
		if err != nil {
			t.Fatal(err)
		}
		// New, not Open: no key check is stored, as before there was one.
		old := registry.New(st, seal.NewKeyring(k))
		if err := old.CreateSetting(ctx, registry.SettingSpec{Key: "smtp.password", Type: "string",
			Default: json.RawMessage(`"s3cret"`), Sensitive: true, UserEditable: true}); err != nil {
			t.Fatal(err)
		}
		open := func(key []byte) error {
			env := map[string]string{registry.EnvStore: dsn, seal.EnvKey: base64.StdEncoding.EncodeToString(key)}
			reg, err := registry.Open(ctx, registry.Config{Getenv: func(k string) string { return env[k] }})
			if err == nil {
				reg.Close()
			}
			return err
		}
		wrong := sealtest.Bytes(t)
		if err := open(wrong); err == nil || !strings.Contains(err.Error(), "does not match the store") {
			t.Fatalf("a wrong key on the first open: %v", err)
		}
		if err := open(right); err != nil {
			t.Fatalf("the right key after a wrong one was refused: %v", err)
		}
		if err := open(wrong); err == nil {
			t.Fatal("a wrong key after the check was stored")
		}
	})
}

// TestStoreFromAFile: TOKENWARD_STORE_FILE names a file holding the DSN (a
// PostgreSQL URL with its password stays out of the environment and argv);
// it is trimmed, and an empty or missing file or both variables set are
// errors that never show the DSN.
func TestStoreFromAFile(t *testing.T) {
	t.Parallel()
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		k, err := seal.NewKey(make([]byte, seal.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		keys := seal.NewKeyring(k)
		if _, err := registry.New(st, keys).CreateScope(ctx, "billing:read", ""); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		file := func(content string) string {
			p := filepath.Join(dir, fmt.Sprintf("dsn-%d", len(content)))
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		cases := []struct {
			name string
			env  map[string]string
			want string // in the error; empty when the store opens
		}{
			{"the file, trimmed", map[string]string{registry.EnvStoreFile: file("  " + dsn + "\n")}, ""},
			{"an empty file", map[string]string{registry.EnvStoreFile: file(" \n")}, "which is empty"},
			{"a missing file", map[string]string{registry.EnvStoreFile: filepath.Join(dir, "nope")}, "read TOKENWARD_STORE_FILE: open " + filepath.Join(dir, "nope")},
			{"both set", map[string]string{registry.EnvStore: dsn, registry.EnvStoreFile: file(dsn + "\n\n")}, "both TOKENWARD_STORE and TOKENWARD_STORE_FILE are set"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				opened, err := registry.OpenStore(ctx, registry.Config{Getenv: func(k string) string { return tc.env[k] }})
				if tc.want != "" {
					if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), dsn) {
						t.Fatalf("err = %v, want %q and no DSN", err, tc.want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer opened.Close()
				if _, err := registry.New(opened, keys).Scope(ctx, "billing:read"); err != nil {
					t.Fatalf("the store the file names is not the store: %v", err)
				}
			})
		}
	})
}
