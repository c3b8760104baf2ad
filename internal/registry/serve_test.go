package registry_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// TestOpenServer checks what a server's open may do: writable with the key,
// writable without one (Keys false, saying why), refused with a key that is
// not the store's, and refused for a store that does not exist.
func TestOpenServer(t *testing.T) {
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
			admin.Close()
			noKey := map[string]string{registry.EnvStore: dsn}
			wrongKey := map[string]string{registry.EnvStore: dsn, "TOKENWARD_MASTER_KEY": sealtest.Encoded(t)}
			badKey := map[string]string{registry.EnvStore: dsn, "TOKENWARD_MASTER_KEY": "not base64!"}
			cases := []struct {
				name    string
				env     map[string]string
				want    registry.ServeAccess
				wantErr string
			}{
				{"with the key", env, registry.ServeAccess{Writable: true, Keys: true}, ""},
				{"without a key", noKey, registry.ServeAccess{Writable: true,
					NoKeyWhy: "no master key is configured (TOKENWARD_MASTER_KEY or TOKENWARD_MASTER_KEY_FILE)"}, ""},
				{"a key that is not the store's", wrongKey, registry.ServeAccess{}, "key"},
				{"a key that does not parse", badKey, registry.ServeAccess{}, "master key"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					reg, access, err := registry.OpenServer(ctx, registry.Config{Getenv: getenv(c.env)})
					if c.wantErr != "" {
						if err == nil || !strings.Contains(err.Error(), c.wantErr) {
							t.Fatalf("OpenServer: %v, want an error about the %s", err, c.wantErr)
						}
						for _, v := range c.env {
							if strings.Contains(err.Error(), v) && v != dsn {
								t.Errorf("the error quotes the key: %v", err)
							}
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					defer reg.Close()
					if access != c.want {
						t.Errorf("access %+v, want %+v", access, c.want)
					}
					if reg.HasKeys() != c.want.Keys {
						t.Errorf("HasKeys %v, want %v", reg.HasKeys(), c.want.Keys)
					}
					// Writable: a change goes through, and the usage log takes events.
					if _, err := reg.CreateScope(ctx, "s:"+strings.ReplaceAll(c.name, " ", "-"), ""); err != nil {
						t.Errorf("a change through a writable open: %v", err)
					}
					if ul, err := reg.UsageLog(); err != nil {
						t.Error(err)
					} else if err := ul.AppendUsage(ctx, []store.UsageEvent{{Code: "valid", Endpoint: "verify"}}); err != nil {
						t.Errorf("append a usage event: %v", err)
					}
				})
			}
		})
	}
	t.Run("missing store", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "none.db")
		for _, env := range []map[string]string{{registry.EnvStore: path}, keyEnv(t, path)} {
			_, _, err := registry.OpenServer(t.Context(), registry.Config{Getenv: getenv(env)})
			if !errors.Is(err, store.ErrMissing) {
				t.Errorf("OpenServer of a missing store: %v, want ErrMissing", err)
			}
		}
	})
}

// TestOpenServerWithoutGrants checks a server on a PostgreSQL role that
// may only read (the verifier role): the open succeeds (it does not probe
// grants; Writable means opened for writing), and the usage log's writer
// and its maintenance fail with permission denied, which the server's
// recorder turns into a status naming the grant, instead of failing.
func TestOpenServerWithoutGrants(t *testing.T) {
	ctx := t.Context()
	dsn := engines.DSN(t, "postgres")
	admin, err := registry.Open(ctx, registry.Config{Getenv: getenv(keyEnv(t, dsn)), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	admin.Close()
	verifierDSN := guideRole(t, dsn, "TestPostgresVerifierRole", "tokenward_verifier")
	reg, access, err := registry.OpenServer(ctx, registry.Config{Getenv: getenv(map[string]string{registry.EnvStore: verifierDSN})})
	if err != nil {
		t.Fatalf("OpenServer as a read-only role: %v", err)
	}
	defer reg.Close()
	if access.Keys || access.NoKeyWhy == "" {
		t.Errorf("access %+v, want no key, saying why", access)
	}
	ul, err := reg.UsageLog()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.MaintainUsage(ctx, time.Hour, 7); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("maintenance as a read-only role: %v, want permission denied", err)
	}
	rec := server.NewRecorder(ul, server.WithUsageRetries(0, 0), server.WithUsageBatch(1, time.Hour))
	rec.Record(store.UsageEvent{At: time.Now(), Code: "valid", Endpoint: "verify"})
	for deadline := time.Now().Add(10 * time.Second); rec.Dropped() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the event was neither written nor dropped within 10s")
		}
	}
	if st := rec.Status(); !strings.Contains(st, "grant it INSERT on usage_events") {
		t.Errorf("status %q does not name the grant", st)
	}
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
