package provider_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/jackc/pgx/v5"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/pgtest"
)

// connects tells whether a consumer logs in with a DSN and runs a query.
func connects(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var one int
	return c.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// TestAccCredentialPostgres, on a real PostgreSQL that checks passwords:
// apply a credential delivered as a DSN to a file, log in with what the
// file holds; rotate, and both the old and the new DSN log in inside the
// overlap; after it, a run retires the old one and only the new logs in;
// destroy locks both users. It skips without PostgreSQL, and fails under
// CI.
func TestAccCredentialPostgres(t *testing.T) {
	srv, startErr := pgtest.StartWithPasswords()
	if srv != nil {
		t.Cleanup(srv.Stop)
	}
	adminDSN := srv.NewDatabase(t, startErr)
	var b [4]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	owner, users := "billing_"+s, []string{"billing_" + s + "_a", "billing_" + s + "_b"}
	ctx := context.Background()
	super, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := super.Exec(ctx, "CREATE ROLE "+owner+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	super.Close(ctx)

	env := testEnv(t)
	env["BILLING_DB_ADMIN_DSN"] = adminDSN
	getenv := func(k string) string { return env[k] }
	reg := tokenRegistry(t, env)
	file := filepath.Join(t.TempDir(), "db.env")
	open := rotation.WithIssuers(func(ctx context.Context, c issuer.Config) (issuer.Issuer, error) { return issuer.Open(ctx, c, getenv) })
	var first, second string
	config := fmt.Sprintf(`
resource "tokenward_credential" "billing_db" {
  name          = "billing-db"
  ttl           = "30d"
  rotate_before = "7d"
  overlap       = "1h"
  issuer = {
    postgres = {
      admin_dsn_env = "BILLING_DB_ADMIN_DSN"
      users         = [%q, %q]
      member_of     = %q
    }
  }
  files = [{ path = %q, key = "DATABASE_URL", field = "dsn" }]
}
`, users[0], users[1], owner, file)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr(credentialAddr, "user", users[0]),
					func(*terraform.State) error {
						first = dotenvValue(t, file, "DATABASE_URL")
						if err := connects(first); err != nil {
							return fmt.Errorf("the first DSN: %w", err)
						}
						return nil
					},
				),
			},
			{
				PreConfig: func() {
					if _, err := rotation.New(reg, destination.NewRouter(nil), open).Rotate(ctx, "billing-db"); err != nil {
						t.Fatal(err)
					}
					second = dotenvValue(t, file, "DATABASE_URL")
				},
				Config: config,
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr(credentialAddr, "user", users[1]),
					func(*terraform.State) error {
						if second == first {
							return fmt.Errorf("the rotation left the file as it was")
						}
						for what, dsn := range map[string]string{"old": first, "new": second} {
							if err := connects(dsn); err != nil {
								return fmt.Errorf("the %s DSN inside the overlap: %w", what, err)
							}
						}
						// After the overlap, a run retires the old user.
						later := map[string]string{}
						for k, v := range env {
							later[k] = v
						}
						later["TOKENWARD_NOW"] = time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
						lreg, err := registry.Open(ctx, registry.Config{Getenv: func(k string) string { return later[k] }, Actor: "test"})
						if err != nil {
							return err
						}
						defer lreg.Close()
						rep, err := rotation.New(lreg, destination.NewRouter(nil), open).Run(ctx, rotation.RunOptions{})
						if err != nil {
							return err
						}
						if rep.Retired != 1 || rep.RetireFailed != nil {
							return fmt.Errorf("the run after the overlap retired %d (%v), want 1", rep.Retired, rep.RetireFailed)
						}
						if connects(first) == nil {
							return fmt.Errorf("the old DSN logs in after the overlap")
						}
						return connects(second)
					},
				),
			},
		},
		CheckDestroy: func(*terraform.State) error {
			if connects(second) == nil {
				return fmt.Errorf("the current DSN logs in after destroy")
			}
			return nil
		},
	})
}
