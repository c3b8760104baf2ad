package registry_test

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// TestAuditReaderNeedsNoKeyAndWritesNothing: an audit reader opens the
// store without the master key, reads the head a keyed registry signed,
// verifies the chain with the signing key, and appends nothing.
func TestAuditReaderNeedsNoKeyAndWritesNothing(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			env := keyEnv(t, engines.DSN(t, engine))
			admin, err := registry.Open(ctx, registry.Config{Getenv: getenv(env), Create: true})
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			createScopes(t, admin, 3)
			signed, err := admin.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head, err := admin.AuditHead(ctx); err != nil || head != signed {
				t.Fatalf("registry audit head %v, %v; want the checkpoint's %v", head, err, signed)
			}
			keys, err := registry.Keyring(registry.Config{Getenv: getenv(env)})
			if err != nil {
				t.Fatal(err)
			}
			pubs, err := keys.PublicKeys()
			if err != nil {
				t.Fatal(err)
			}

			delete(env, seal.EnvKey)
			ar, err := registry.OpenAuditReader(ctx, registry.Config{Getenv: getenv(env)})
			if err != nil {
				t.Fatalf("open an audit reader without a key: %v", err)
			}
			defer ar.Close()
			head, err := ar.Head(ctx)
			if err != nil || head != signed {
				t.Fatalf("audit reader head %v, %v; want %v", head, err, signed)
			}
			rep, err := ar.Verify(ctx, audit.Options{Keys: map[string]ed25519.PublicKey{pubs[0].ID: pubs[0].Key}, Witnesses: []audit.Head{signed}})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if rep.Head != signed || rep.Signed != signed || rep.Witnesses != 1 {
				t.Fatalf("report %+v: want the head %v signed and witnessed", rep, signed)
			}
			if again, err := admin.AuditHead(ctx); err != nil || again != signed {
				t.Fatalf("after reading, the head is %v, %v; want %v unchanged", again, err, signed)
			}
		})
	}
}

// TestOpenAuditReaderCreatesNoStore: a missing store is an error, even
// with Create, and nothing is created.
func TestOpenAuditReaderCreatesNoStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokenwrad.db")
	_, err := registry.OpenAuditReader(t.Context(), registry.Config{Store: path, Create: true})
	if !errors.Is(err, store.ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the audit reader created the store: %v", err)
	}
}
