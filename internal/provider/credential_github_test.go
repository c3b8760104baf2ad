package provider_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuerfake"
)

// TestAccCredentialGitHubDestinations: a credential's organization and
// Dependabot secrets of the fake GitHub get the field each declares, beside
// a repository secret; a rotation moves all of them to the other user;
// destroy removes them. No password is in the state.
func TestAccCredentialGitHubDestinations(t *testing.T) {
	gh, env := fakeGitHub(t, "ghs_provider_test")
	gh.AddRepo("acme/billing")
	gh.AddRepo("acme/reports")
	gh.AddOrg("acme")
	env["BILLING_DB_ADMIN_DSN"] = "postgres://admin:admin-secret@db.internal:5432/billing"
	srv := issuerfake.New(func(k string) string { return env[k] })
	cfg := func(trigger string) string {
		return fmt.Sprintf(`
resource "tokenward_credential" "billing_db" {
  name              = "billing-db"
  rotation_triggers = { n = %q }
  issuer = {
    postgres = { admin_dsn_env = "BILLING_DB_ADMIN_DSN", users = ["billing_a", "billing_b"], member_of = "billing_app" }
  }
  github_secrets              = [{ repository = "acme/billing", name = "DB_PASSWORD" }]
  github_organization_secrets = [{ organization = "acme", name = "BILLING_DB_URL", visibility = "selected", repositories = ["reports"], field = "dsn" }]
  github_dependabot_secrets   = [{ repository = "acme/billing", name = "DB_USER", field = "username" }]
}
`, trigger)
	}
	seen := map[string]bool{"admin-secret": true}
	delivered := func(wantUser string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			pw, ok := gh.RepoSecret("acme/billing", "DB_PASSWORD")
			if !ok {
				return errors.New("no repository secret")
			}
			dsn, vis, sel, ok := gh.OrgSecret("acme", "BILLING_DB_URL")
			if !ok || vis != "selected" || len(sel) != 1 {
				return errors.New("the organization secret was not written as declared")
			}
			u, err := url.Parse(dsn)
			if err != nil || u.User == nil {
				return errors.New("the organization secret holds no DSN")
			}
			user, _ := gh.DependabotSecret("acme/billing", "DB_USER")
			if dsnPW, _ := u.User.Password(); dsnPW != pw || u.User.Username() != wantUser || user != wantUser {
				return fmt.Errorf("the secrets disagree, or the user is %q / %q, want %s", u.User.Username(), user, wantUser)
			}
			seen[pw] = true
			if err := srv.Login(wantUser, pw); err != nil {
				return err
			}
			b, err := json.Marshal(s)
			if err != nil {
				return err
			}
			return noPassword("the state", string(b), seen)
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: credentialFactories(env, srv),
		Steps: []resource.TestStep{
			{Config: cfg("1"), Check: delivered("billing_a")},
			{Config: cfg("2"), Check: delivered("billing_b")},
			{
				ResourceName: credentialAddr, ImportState: true, ImportStateId: "billing-db", ImportStateVerify: true,
				ImportStateVerifyIdentifierAttribute: "name", ImportStateVerifyIgnore: []string{"rotation_triggers"},
			},
		},
		CheckDestroy: func(*terraform.State) error {
			if _, ok := gh.RepoSecret("acme/billing", "DB_PASSWORD"); ok {
				return errors.New("destroy left the repository secret")
			}
			if _, _, _, ok := gh.OrgSecret("acme", "BILLING_DB_URL"); ok {
				return errors.New("destroy left the organization secret")
			}
			if _, ok := gh.DependabotSecret("acme/billing", "DB_USER"); ok {
				return errors.New("destroy left the Dependabot secret")
			}
			return nil
		},
	})
	if len(seen) != 3 {
		t.Fatalf("%d passwords seen, want the admin's and two", len(seen))
	}
}
