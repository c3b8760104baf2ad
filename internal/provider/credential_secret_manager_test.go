package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuerfake"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

// credentialSecretManagerConfig is the billing database's credential
// delivered to Vault and Secrets Manager only, each entry with its field.
const credentialSecretManagerConfig = `
resource "tokenward_credential" "billing_db" {
  name          = "billing-db"
  ttl           = "30d"
  rotate_before = "7d"
  overlap       = "1d"
  issuer = {
    postgres = { admin_dsn_env = "BILLING_DB_ADMIN_DSN", users = ["billing_a", "billing_b"], member_of = "billing_app" }
  }
  vault_secrets = [
    { path = "apps/billing", key = "DATABASE_URL", field = "dsn" },
    { path = "apps/billing", key = "DB_USER", field = "username" },
    { path = "apps/billing" },
  ]
  aws_secrets = [{ name = "billing/db-password" }, { name = "billing/db-url", field = "dsn" }]
}
`

// secretManagerEngine is a rotation engine that writes to the fake Vault
// and Secrets Manager env points at, as the tokenward binary would.
func secretManagerEngine(t *testing.T, env map[string]string, srv *issuerfake.Server) *rotation.Engine {
	t.Helper()
	getenv := func(k string) string { return env[k] }
	vc, _, err := destination.VaultConfigFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	vault, err := destination.NewVault(vc)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := destination.AWSConfigFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	aws, err := destination.NewAWS(ac)
	if err != nil {
		t.Fatal(err)
	}
	router := destination.NewRouter(nil, destination.WithVault(vault), destination.WithAWS(aws))
	return rotation.New(tokenRegistry(t, env), router, rotation.WithIssuers(srv.Open))
}

// TestAccCredentialSecretManagers: create delivers each chosen field of
// the credential to Vault fields and Secrets Manager secrets marked as the
// credential's; a rotation by the engine writes the new user's values
// (Secrets Manager keeps the old password as AWSPREVIOUS) and the next plan
// is empty; destroy withdraws only what is the credential's. No password
// is in the state, a plan or the store.
func TestAccCredentialSecretManagers(t *testing.T) {
	env := testEnv(t)
	env["BILLING_DB_ADMIN_DSN"] = "postgres://admin:admin-secret@db.internal:5432/billing"
	vs, as := secretManagers(t, env)
	srv := issuerfake.New(func(k string) string { return env[k] })
	vs.Put("apps/other", map[string]string{"K": "theirs"}, nil)
	as.Seed("other/secret", "theirs", nil)
	seen := map[string]bool{"admin-secret": true}
	users := map[string]string{} // user -> password, as delivered
	var current, previous string
	delivered := func(wantUser string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			v, ok := vs.Get("apps/billing")
			if !ok || v.CustomMetadata["managed-by"] != "tokenward/billing-db" {
				return fmt.Errorf("vault holds no secret of the credential's: %+v", v.CustomMetadata)
			}
			u, err := url.Parse(v.Data["DATABASE_URL"])
			if err != nil || u.User == nil {
				return fmt.Errorf("vault's DATABASE_URL is not a DSN")
			}
			pw, _ := u.User.Password()
			if u.User.Username() != wantUser || v.Data["DB_USER"] != wantUser {
				return fmt.Errorf("vault holds user %q and %q, want %s", u.User.Username(), v.Data["DB_USER"], wantUser)
			}
			if v.Data["BILLING_DB"] != pw {
				return fmt.Errorf("vault's password field (key from the name, the default field) is not the DSN's password")
			}
			if err := srv.Login(wantUser, pw); err != nil {
				return err
			}
			for name, want := range map[string]string{"billing/db-password": pw, "billing/db-url": v.Data["DATABASE_URL"]} {
				a, ok := as.Get(name)
				if !ok || a.Current != want || a.Tags["managed-by"] != "tokenward/billing-db" {
					return fmt.Errorf("secrets manager's %s holds another value, or no tag: %v", name, a.Tags)
				}
			}
			previous, current = current, pw
			if previous != "" {
				if a, _ := as.Get("billing/db-password"); a.Previous != previous {
					return fmt.Errorf("AWSPREVIOUS is not the password before the rotation")
				}
			}
			seen[pw], users[wantUser] = true, pw
			return nil
		}
	}
	stateClean := func(s *terraform.State) error {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return noPassword("the state", string(b), seen)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: credentialFactories(env, srv),
		Steps: []resource.TestStep{
			{
				Config: credentialSecretManagerConfig,
				Check:  resource.ComposeTestCheckFunc(delivered("billing_a"), stateClean),
			},
			{
				PreConfig: func() {
					if _, err := secretManagerEngine(t, env, srv).Rotate(context.Background(), "billing-db"); err != nil {
						t.Fatal(err)
					}
				},
				Config: credentialSecretManagerConfig,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(), planHolds{seen},
				}},
				Check: resource.ComposeTestCheckFunc(
					delivered("billing_b"),
					resource.TestCheckResourceAttr(credentialAddr, "user", "billing_b"),
					stateClean,
				),
			},
			{
				// Imported by its name, it reads back as declared.
				ResourceName: credentialAddr, ImportState: true, ImportStateId: "billing-db", ImportStateVerify: true,
				ImportStateVerifyIdentifierAttribute: "name", ImportStateVerifyIgnore: []string{"rotation_triggers"},
			},
		},
		CheckDestroy: func(*terraform.State) error {
			if _, ok := vs.Get("apps/billing"); ok {
				return fmt.Errorf("the credential's Vault secret survived the destroy")
			}
			for _, name := range []string{"billing/db-password", "billing/db-url"} {
				if a, ok := as.Get(name); !ok || !a.Scheduled {
					return fmt.Errorf("the credential's AWS secret %s is not scheduled for deletion: %+v", name, a.Tags)
				}
			}
			if v, ok := vs.Get("apps/other"); !ok || v.Data["K"] != "theirs" {
				return fmt.Errorf("another owner's Vault secret was touched")
			}
			if a, ok := as.Get("other/secret"); !ok || a.Scheduled || a.Current != "theirs" {
				return fmt.Errorf("another owner's AWS secret was touched")
			}
			for u, pw := range users {
				if srv.Login(u, pw) == nil {
					return fmt.Errorf("user %s still logs in after destroy", u)
				}
			}
			return nil
		},
	})
	b, err := os.ReadFile(env["TOKENWARD_STORE"])
	if err != nil {
		t.Fatal(err)
	}
	if err := noPassword("the store file", string(b), seen); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 {
		t.Fatalf("%d users delivered, want both", len(users))
	}
}
