package provider_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestAccTokenGitHubDestinations delivers to every kind of GitHub secret of
// the fake GitHub, rotates, and destroys.
func TestAccTokenGitHubDestinations(t *testing.T) {
	gh, env := fakeGitHub(t, "ghs_provider_test")
	gh.AddRepo("acme/api")
	gh.AddRepo("acme/web")
	gh.AddEnvironment("acme/api", "production")
	gh.AddOrg("acme")
	reg := tokenRegistry(t, env, "users:read")
	cfg := func(trigger string) string {
		return tokenConfig(fmt.Sprintf(`  scopes = ["users:read"]
  rotation_triggers = { n = %q }
  github_secrets = [
    { repository = "acme/api", name = "DEPLOY_TOKEN" },
    { repository = "acme/api", name = "DEPLOY_TOKEN", environment = "production" },
  ]
  github_organization_secrets = [{ organization = "acme", name = "ORG_TOKEN", visibility = "selected", repositories = ["api", "acme/web"] }]
  github_dependabot_secrets   = [{ repository = "acme/web", name = "DEP_TOKEN" }]
`, trigger))
	}
	// delivered returns the one value every secret holds.
	delivered := func() (string, error) {
		var vals []string
		for what, get := range map[string]func() (string, bool){
			"repository secret":  func() (string, bool) { return gh.RepoSecret("acme/api", "DEPLOY_TOKEN") },
			"environment secret": func() (string, bool) { return gh.EnvSecret("acme/api", "production", "DEPLOY_TOKEN") },
			"dependabot secret":  func() (string, bool) { return gh.DependabotSecret("acme/web", "DEP_TOKEN") },
			"organization secret": func() (string, bool) {
				v, vis, sel, ok := gh.OrgSecret("acme", "ORG_TOKEN")
				return v, ok && vis == "selected" && len(sel) == 2
			},
		} {
			v, ok := get()
			if !ok {
				return "", fmt.Errorf("the %s was not written as declared", what)
			}
			vals = append(vals, v)
		}
		for _, v := range vals[1:] {
			if v != vals[0] {
				return "", errors.New("the secrets hold different values")
			}
		}
		return vals[0], nil
	}
	var first, second string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy: func(*terraform.State) error {
			if _, ok := gh.RepoSecret("acme/api", "DEPLOY_TOKEN"); ok {
				return errors.New("destroy left the repository secret")
			}
			if _, _, _, ok := gh.OrgSecret("acme", "ORG_TOKEN"); ok {
				return errors.New("destroy left the organization secret")
			}
			return verifies(reg, second, token.Revoked)
		},
		Steps: []resource.TestStep{
			{
				Config: cfg("1"),
				Check: func(s *terraform.State) error {
					var err error
					if first, err = delivered(); err != nil {
						return err
					}
					if err := verifies(reg, first, token.Valid, "users:read"); err != nil {
						return err
					}
					return noValueInState(func() []string { return []string{first} })(s)
				},
			},
			{
				Config: cfg("2"),
				Check: func(*terraform.State) error {
					var err error
					if second, err = delivered(); err != nil {
						return err
					}
					if second == first {
						return errors.New("the trigger did not rotate the GitHub secrets")
					}
					return verifies(reg, first, token.Valid) // within the overlap
				},
			},
		},
	})
}

// TestAccTokenGitHubRefusesBadCredentials: a token GitHub refuses fails the
// create, and nothing is kept.
func TestAccTokenGitHubRefusesBadCredentials(t *testing.T) {
	gh, env := fakeGitHub(t, "")
	gh.AddRepo("acme/api")
	env["GITHUB_TOKEN"] = "ghs_unknown"
	reg := tokenRegistry(t, env)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{{
			Config:      tokenConfig(`  github_secrets = [{ repository = "acme/api", name = "DEPLOY_TOKEN" }]`),
			ExpectError: regexp.MustCompile(`Cannot issue token ci-deploy`),
		}, {
			PreConfig: func() {
				if _, err := reg.Token(context.Background(), "ci-deploy"); err == nil {
					t.Fatal("the token was kept after its first delivery failed")
				}
			},
			Config:   tokenConfig(`  github_secrets = [{ repository = "acme/api", name = "DEPLOY_TOKEN" }]`),
			PlanOnly: true, ExpectNonEmptyPlan: true,
		}},
	})
}

// TestAccTokenGitHubCredentialsRemoved: the plan of an applied token with a
// GitHub destination, unchanged, still fails when the credentials are gone,
// as a changed one does (ModifyPlan takes a shorter way for it).
func TestAccTokenGitHubCredentialsRemoved(t *testing.T) {
	gh, env := fakeGitHub(t, "ghs_provider_test")
	gh.AddRepo("acme/api")
	// The provider reads env at each step's configuration, so the steps
	// take the credentials away and give them back for the destroy.
	withToken := func() { env["GITHUB_TOKEN"] = "ghs_provider_test" }
	withToken()
	cfg := tokenConfig(`  github_secrets = [{ repository = "acme/api", name = "DEPLOY_TOKEN" }]`)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig: func() { delete(env, "GITHUB_TOKEN") },
				Config:    cfg, PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)GitHub credentials are not configured.*github_secrets`),
			},
			{PreConfig: withToken, Config: cfg, PlanOnly: true},
		},
	})
}

// TestAccTokenGitHubEmptyProviderSettings: empty strings in the github
// block, as a variable defaulting to "" gives, count as unset, so the
// credentials come from the environment.
func TestAccTokenGitHubEmptyProviderSettings(t *testing.T) {
	gh, env := fakeGitHub(t, "ghs_provider_test")
	gh.AddRepo("acme/api")
	reg := tokenRegistry(t, env)
	cfg := `
variable "github_token" {
  type      = string
  default   = ""
  sensitive = true
}
provider "tokenward" {
  github = { token = var.github_token, api_url = "", private_key_file = "" }
}
` + tokenConfig(`  github_secrets = [{ repository = "acme/api", name = "DEPLOY_TOKEN" }]`)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: func(*terraform.State) error {
				v, ok := gh.RepoSecret("acme/api", "DEPLOY_TOKEN")
				if !ok {
					return errors.New("the secret was not written with the environment's credentials")
				}
				return verifies(reg, v, token.Valid)
			},
		}},
	})
}

// fakeGitHub starts a fake GitHub and a test environment that reaches it
// with pacing off; with a token, the token may write secrets and is the
// environment's GITHUB_TOKEN.
func fakeGitHub(t *testing.T, token string) (*githubtest.Server, map[string]string) {
	t.Helper()
	env := testEnv(t)
	return registrytest.GitHub(t, env, token), env
}
