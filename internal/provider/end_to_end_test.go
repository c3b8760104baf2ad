package provider_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestAccEndToEnd is the configuration issue 3 names as done: scopes, a
// role, two tokens (one to a file, one to a GitHub repository secret), three
// settings and one user's configuration. It is applied, no token value is in
// state or plan, the scheduled rotation (the engine tokenward rotate runs)
// rotates both tokens when they are due without a diff in Terraform, and the
// old values stop verifying when the overlap ends.
func TestAccEndToEnd(t *testing.T) {
	gh, env := fakeGitHub(t, "ghs_e2e")
	gh.AddRepo("acme/api")
	env["TOKENWARD_NOW"] = "2026-11-27T09:00:00Z"
	envFile := filepath.Join(t.TempDir(), "billing.env")
	config := `
resource "tokenward_scope" "billing_read" {
  name        = "billing:read"
  description = "Read invoices"
}
resource "tokenward_scope" "billing_write" {
  name        = "billing:write"
  description = "Create invoices"
}
resource "tokenward_role" "billing_admin" {
  name   = "billing-admin"
  scopes = [tokenward_scope.billing_read.name, tokenward_scope.billing_write.name]
}
resource "tokenward_token" "reporting" {
  name          = "reporting"
  owner         = "data-team"
  scopes        = [tokenward_scope.billing_read.name]
  ttl           = "30d"
  rotate_before = "7d"
  overlap       = "1d"
  files         = [{ path = "` + envFile + `", key = "BILLING_TOKEN" }]
}
resource "tokenward_token" "deploy" {
  name           = "deploy"
  owner          = "platform"
  roles          = [tokenward_role.billing_admin.name]
  ttl            = "30d"
  rotate_before  = "7d"
  overlap        = "1d"
  github_secrets = [{ repository = "acme/api", name = "BILLING_TOKEN" }]
}
resource "tokenward_setting" "timeout" {
  key     = "session.timeout_minutes"
  type    = "number"
  default = 30
  min     = 5
  max     = 240
}
resource "tokenward_setting" "theme" {
  key            = "ui.theme"
  type           = "string"
  default        = "light"
  allowed_values = ["light", "dark"]
}
resource "tokenward_setting" "regions" {
  key           = "data.regions"
  type          = "list"
  default       = ["eu"]
  user_editable = false
}
resource "tokenward_user_config" "alice" {
  user = "alice@example.com"
  values = {
    (tokenward_setting.timeout.key) = 60
    (tokenward_setting.theme.key)   = "dark"
  }
}
`
	values := func() []string {
		v, _ := gh.RepoSecret("acme/api", "BILLING_TOKEN")
		return []string{dotenvValue(t, envFile, "BILLING_TOKEN"), v}
	}
	var first []string
	// regAt opens the store with the clock at a time, as the rotate
	// command does with TOKENWARD_NOW.
	regAt := func(now string) *registry.Registry {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e["TOKENWARD_NOW"] = now
		reg, err := registry.Open(context.Background(), registry.Config{Getenv: func(k string) string { return e[k] }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		return reg
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction("tokenward_token.deploy", plancheck.ResourceActionCreate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						first = values()
						reg := regAt("2026-11-27T10:00:00Z")
						if err := verifies(reg, first[0], token.Valid, "billing:read"); err != nil {
							return err
						}
						if err := verifies(reg, first[1], token.Valid, "billing:read", "billing:write"); err != nil {
							return err
						}
						cfg, err := reg.EffectiveConfig(context.Background(), "alice@example.com")
						if err != nil {
							return err
						}
						sources := map[string]string{}
						for _, e := range cfg {
							sources[e.Key] = e.Source
						}
						if sources["session.timeout_minutes"] != "user" || sources["data.regions"] != "enforced" {
							return errors.New("alice's effective configuration does not show her values and the enforced default")
						}
						return nil
					},
					noValueInState(values),
				),
			},
			{
				// The scheduled rotation runs when the tokens are due.
				PreConfig: func() {
					reg := regAt("2026-12-21T09:00:00Z")
					gw, err := destination.NewGitHub(destination.GitHubConfig{Token: "ghs_e2e", APIURL: gh.URL()})
					if err != nil {
						t.Fatal(err)
					}
					rep, err := rotation.New(reg, destination.NewRouter(gw)).Run(context.Background(), rotation.RunOptions{})
					if err != nil || rep.Rotated() != 2 {
						t.Fatalf("scheduled rotation: %v, %+v", err, rep.Results)
					}
					env["TOKENWARD_NOW"] = "2026-12-21T10:00:00Z"
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectEmptyPlan(), // rotated outside Terraform: nothing to change
						noValueInPlan{values: func() []string { return append(values(), first...) }},
					},
				},
			},
			{
				Config: config,
				Check: func(s *terraform.State) error {
					now := values()
					if now[0] == first[0] || now[1] == first[1] {
						return errors.New("the destinations still hold the first values")
					}
					for i, v := range now {
						if err := verifies(regAt("2026-12-21T10:00:00Z"), v, token.Valid); err != nil {
							return err
						}
						// The old value lasts the overlap, and no longer.
						if err := verifies(regAt("2026-12-22T08:59:00Z"), first[i], token.Valid); err != nil {
							return err
						}
						if err := verifies(regAt("2026-12-22T09:00:00Z"), first[i], token.Expired); err != nil {
							return err
						}
					}
					return noValueInState(func() []string { return append(now, first...) })(s)
				},
			},
		},
	})
}
