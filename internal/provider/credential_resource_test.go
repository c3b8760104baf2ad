package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuerfake"
	"github.com/tokenward/terraform-provider-tokenward/internal/pluginserver"
	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

const credentialAddr = "tokenward_credential.billing_db"

// credentialFactories is the provider with its credentials' issuers on the
// fake server srv.
func credentialFactories(env map[string]string, srv *issuerfake.Server) map[string]func() (tfprotov6.ProviderServer, error) {
	getenv := func(k string) string { return env[k] }
	return map[string]func() (tfprotov6.ProviderServer, error){
		"tokenward": pluginserver.NewProtocol6WithError(provider.NewWithIssuers("test", getenv, srv.Open)(), pluginserver.WithShortcutCheck()),
	}
}

func credentialConfig(file, description, extra string) string {
	return fmt.Sprintf(`
resource "tokenward_credential" "billing_db" {
  name          = "billing-db"
  owner         = "team-billing"
  description   = %q
  ttl           = "30d"
  rotate_before = "7d"
  overlap       = "1d"
  issuer = {
    postgres = {
      admin_dsn_env = "BILLING_DB_ADMIN_DSN"
      users         = ["billing_a", "billing_b"]
      member_of     = "billing_app"
    }
  }
  files = [
    { path = %q, key = "DATABASE_URL", field = "dsn" },
    { path = %q, key = "DB_PASSWORD" },
    { path = %q, key = "DB_USER", field = "username" },%s
  ]
}
`, description, file, file, file, extra)
}

// heldDSN is the user and password the file's DATABASE_URL holds.
func heldDSN(t *testing.T, file string) (user, password string) {
	t.Helper()
	u, err := url.Parse(dotenvValue(t, file, "DATABASE_URL"))
	if err != nil || u.User == nil {
		t.Fatalf("%s holds no DSN", file)
	}
	pw, _ := u.User.Password()
	return u.User.Username(), pw
}

// noPassword fails when a password seen so far is in s.
func noPassword(what, s string, seen map[string]bool) error {
	for pw := range seen {
		if strings.Contains(s, pw) {
			return fmt.Errorf("%s holds a credential's password", what)
		}
	}
	return nil
}

type planHolds struct{ seen map[string]bool }

func (p planHolds) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	b, err := json.Marshal(req.Plan)
	if err == nil {
		err = noPassword("the plan JSON", string(b), p.seen)
	}
	resp.Error = err
}

// TestAccCredential: creating a credential stages its first password on
// the first user and delivers each field; a rotation by the engine moves it
// to the other user and the next refresh shows it, with both working; a
// new destination re-delivers; destroy retires both users and removes the
// lines. No password is ever in the state or a plan.
func TestAccCredential(t *testing.T) {
	env := testEnv(t)
	env["BILLING_DB_ADMIN_DSN"] = "postgres://admin:admin-secret@db.internal:5432/billing"
	srv := issuerfake.New(func(k string) string { return env[k] })
	reg := tokenRegistry(t, env)
	dir := t.TempDir()
	file := filepath.Join(dir, "db.env")
	other := filepath.Join(dir, "other.env")
	seen := map[string]bool{"admin-secret": true}
	// Terraform's and the provider's trace logs, gRPC payloads included.
	logFile := filepath.Join(dir, "terraform.log")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	logins := map[string]string{} // user -> password, as delivered
	collect := func(*terraform.State) error {
		user, pw := heldDSN(t, file)
		if dotenvValue(t, file, "DB_PASSWORD") != pw || dotenvValue(t, file, "DB_USER") != user {
			return fmt.Errorf("the DSN, password and user lines disagree")
		}
		seen[pw], logins[user] = true, pw
		return srv.Login(user, pw)
	}
	stateClean := func(s *terraform.State) error {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return noPassword("the state", string(b), seen)
	}
	engine := func() *rotation.Engine {
		return rotation.New(reg, destination.NewRouter(nil), rotation.WithIssuers(srv.Open))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: credentialFactories(env, srv),
		Steps: []resource.TestStep{
			{
				Config: credentialConfig(file, "billing's database", ""),
				Check: resource.ComposeTestCheckFunc(
					collect,
					resource.TestCheckResourceAttr(credentialAddr, "user", "billing_a"),
					resource.TestCheckResourceAttr(credentialAddr, "status", "active"),
					resource.TestMatchResourceAttr(credentialAddr, "fingerprint", regexp.MustCompile(`^cred_\w+…[0-9a-f]{4}$`)),
					stateClean,
				),
			},
			{
				// The scheduled workflow rotates; the next plan reads the
				// new user and has nothing to change.
				PreConfig: func() {
					if _, err := engine().Rotate(context.Background(), "billing-db"); err != nil {
						t.Fatal(err)
					}
				},
				Config: credentialConfig(file, "billing's database", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(), planHolds{seen},
				}},
				Check: resource.ComposeTestCheckFunc(
					collect,
					resource.TestCheckResourceAttr(credentialAddr, "user", "billing_b"),
					func(*terraform.State) error {
						if len(logins) != 2 {
							return fmt.Errorf("logins %v: want both users", len(logins))
						}
						for u, pw := range logins {
							if err := srv.Login(u, pw); err != nil {
								return fmt.Errorf("inside the overlap: %w", err)
							}
						}
						return nil
					},
					stateClean,
				),
			},
			{
				// A new destination and description: updated in place, and
				// the new destination gets a new password like the others.
				Config: credentialConfig(file, "billing's primary database", fmt.Sprintf(`
    { path = %q, key = "DATABASE_URL", field = "dsn" },`, other)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(credentialAddr, plancheck.ResourceActionUpdate), planHolds{seen},
				}},
				Check: resource.ComposeTestCheckFunc(
					collect,
					resource.TestCheckResourceAttr(credentialAddr, "description", "billing's primary database"),
					resource.TestCheckResourceAttr(credentialAddr, "user", "billing_a"),
					func(*terraform.State) error {
						if dotenvValue(t, other, "DATABASE_URL") != dotenvValue(t, file, "DATABASE_URL") {
							return fmt.Errorf("the new destination holds another credential than the others")
						}
						return nil
					},
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
			for u, pw := range logins {
				if srv.Login(u, pw) == nil {
					return fmt.Errorf("user %s still logs in after destroy", u)
				}
			}
			for _, f := range []string{file, other} {
				b, err := os.ReadFile(f)
				if err == nil && strings.Contains(string(b), "DATABASE_URL") {
					return fmt.Errorf("%s still holds the credential", f)
				}
			}
			if _, err := reg.Credential(context.Background(), "billing-db"); err == nil {
				return fmt.Errorf("the credential is still in the store")
			}
			return nil
		},
	})
	// The store keeps no password either (a pending one only sealed), nor
	// do the logs.
	for what, f := range map[string]string{"the store file": env["TOKENWARD_STORE"], "the trace log": logFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", what)
		}
		if err := noPassword(what, string(b), seen); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) < 4 {
		t.Fatalf("%d passwords seen, want the admin's and three rotations'", len(seen))
	}
}

// TestAccCredentialInvalid: plan-time diagnostics that say what to fix.
func TestAccCredentialInvalid(t *testing.T) {
	env := testEnv(t)
	srv := issuerfake.New(nil)
	pg := `postgres = { admin_dsn_env = "DB_ADMIN", users = ["a", "b"], member_of = "app" }`
	cfg := func(issuer, lifetime, files string) string {
		return fmt.Sprintf(`
resource "tokenward_credential" "billing_db" {
  name   = "billing-db"
  %s
  issuer = { %s }
  files  = [%s]
}
`, lifetime, issuer, files)
	}
	cases := []struct {
		name, config, want string
	}{
		{"two kinds", cfg(pg+"\n redis = { admin_url_env = \"R\", user = \"c\" }", "", ""), `exactly one of postgres, mysql or redis`},
		{"no kind", cfg("", "", ""), `exactly one of postgres, mysql or redis`},
		{"a DSN for the variable", cfg(`postgres = { admin_dsn_env = "postgres://admin:hunter2@db/x", users = ["a", "b"] }`, "", ""), `Name the environment variable`},
		{"a bad user", cfg(`postgres = { admin_dsn_env = "DB_ADMIN", users = ["a", "b c"], member_of = "app" }`, "", ""), `issuer.postgres.users[1]`},
		{"one user", cfg(`postgres = { admin_dsn_env = "DB_ADMIN", users = ["a"], member_of = "app" }`, "", ""), `exactly 2 users`},
		{"url for postgres", cfg(pg, "", `{ path = "/tmp/x.env", field = "url" }`), `delivers one of password, username, dsn`},
		{"dsn for redis", cfg(`redis = { admin_url_env = "R", user = "c" }`, "", `{ path = "/tmp/x.env", field = "dsn" }`), `delivers one of password, username, url`},
		{"url for postgres in vault", cfg(pg, `vault_secrets = [{ path = "apps/billing", field = "url" }]`, ""),
			`vault_secrets[0].field: a postgres credential delivers one of password, username, dsn`},
		{"dsn for redis in aws", cfg(`redis = { admin_url_env = "R", user = "c" }`, `aws_secrets = [{ name = "cache/url", field = "dsn" }]`, ""),
			`aws_secrets[0].field: a redis credential delivers one of password, username, url`},
		{"url for postgres in an organization secret", cfg(pg, `github_organization_secrets = [{ organization = "acme", name = "DB_URL", visibility = "all", field = "url" }]`, ""),
			`github_organization_secrets[0].field: a postgres credential delivers one of password, username, dsn`},
		{"dsn for redis in a dependabot secret", cfg(`redis = { admin_url_env = "R", user = "c" }`, `github_dependabot_secrets = [{ repository = "acme/x", name = "C", field = "dsn" }]`, ""),
			`github_dependabot_secrets[0].field: a redis credential delivers one of password, username, url`},
		{"vault not configured", cfg(pg, `vault_secrets = [{ path = "apps/billing" }]`, ""), `Vault is not configured`},
		{"bad vault path", cfg(pg, `vault_secrets = [{ path = "/apps/billing" }]`, ""), `must not start or end with '/'`},
		{"aws arn", cfg(pg, `aws_secrets = [{ name = "arn:aws:secretsmanager:us-east-1:1:secret:x" }]`, ""), `must be a secret name, not an ARN`},
		{"overlap past the interval", cfg(pg, `ttl = "10d"
  rotate_before = "7d"
  overlap = "5d"`, ""), `rotation interval`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: credentialFactories(env, srv),
				Steps:                    []resource.TestStep{{Config: tc.config, PlanOnly: true, ExpectError: phrase(tc.want)}},
			})
		})
	}
}

// TestAccCredentialExample: the documented example plans as it is: its
// checks pass at plan time, and it creates both credentials.
func TestAccCredentialExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "resources", "tokenward_credential", "resource.tf"))
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(t)
	// The example delivers to Vault, which the plan checks is configured.
	env["TOKENWARD_VAULT_ADDR"], env["TOKENWARD_VAULT_TOKEN"] = "http://127.0.0.1:1", testVaultToken
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: credentialFactories(env, issuerfake.New(nil)),
		Steps: []resource.TestStep{{
			Config: string(b), PlanOnly: true, ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("tokenward_credential.billing_db", plancheck.ResourceActionCreate),
				plancheck.ExpectResourceAction("tokenward_credential.cache", plancheck.ResourceActionCreate),
			}},
		}},
	})
}

// TestAccTokenPathsRefuseCredential: a credential is not a token. The
// tokenward_token data source and an import as tokenward_token refuse it
// and say what it is, so a token's destroy can never drop a credential
// whose users only the credential's own destroy retires at the issuer.
func TestAccTokenPathsRefuseCredential(t *testing.T) {
	env := testEnv(t)
	env["BILLING_DB_ADMIN_DSN"] = "postgres://admin:admin-secret@db.internal:5432/billing"
	srv := issuerfake.New(func(k string) string { return env[k] })
	file := filepath.Join(t.TempDir(), "db.env")
	base := credentialConfig(file, "billing's database", "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: credentialFactories(env, srv),
		Steps: []resource.TestStep{
			{Config: base},
			{
				Config:      base + `data "tokenward_token" "stray" { name = "billing-db" }`,
				ExpectError: regexp.MustCompile(`is a credential, not a token`),
			},
			{
				Config: base + `
terraform {
  required_providers {
    tokenward = { source = "tokenward/tokenward" }
  }
}
resource "tokenward_token" "stray" {
  name = "billing-db"
  ttl  = "30d"
}`,
				ResourceName: "tokenward_token.stray", ImportState: true, ImportStateId: "billing-db",
				ExpectError: regexp.MustCompile(`is a credential, not a token`),
			},
		},
	})
}
