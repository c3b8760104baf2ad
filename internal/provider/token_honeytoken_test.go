package provider_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestAccTokenHoneytoken: a honeytoken is issued and delivered like any
// token, its value never verifies (not_found, as an unknown token's), the
// data source and an import show the mark, other attributes change in
// place, and changing honeytoken replaces the token with new values either
// way: the planted decoy value never starts to verify.
func TestAccTokenHoneytoken(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env, "billing:read")
	file := filepath.Join(t.TempDir(), "decoy.env")
	config := func(honeytoken, owner string) string {
		return tokenConfig(fmt.Sprintf("  owner = %q\n  scopes = [\"billing:read\"]\n%s  files = [{ path = %q, format = \"raw\" }]\n", owner, honeytoken, file)) +
			`data "tokenward_token" "t" { name = tokenward_token.t.name }`
	}
	values := map[string]string{} // step label → the value delivered then
	read := func(label string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			raw, err := os.ReadFile(file)
			values[label] = strings.TrimSpace(string(raw))
			return err
		}
	}
	code := func(label string, want token.Code) resource.TestCheckFunc {
		return func(*terraform.State) error { return verifies(reg, values[label], want, "billing:read") }
	}
	marked := func(want bool) resource.TestCheckFunc {
		return func(*terraform.State) error {
			ti, err := reg.Token(context.Background(), "ci-deploy")
			if err != nil {
				return err
			}
			if ti.Honeytoken != want {
				return fmt.Errorf("the store holds honeytoken %v, want %v", ti.Honeytoken, want)
			}
			return nil
		}
	}
	const ds = "data.tokenward_token.t"
	replaced := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionDestroyBeforeCreate)}}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: config("  honeytoken = true\n", "security"),
				Check: resource.ComposeAggregateTestCheckFunc(
					read("decoy"), code("decoy", token.NotFound), marked(true),
					resource.TestCheckResourceAttr(tokenAddr, "honeytoken", "true"),
					resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
					resource.TestCheckResourceAttrSet(tokenAddr, "fingerprint"),
					resource.TestCheckResourceAttr(ds, "honeytoken", "true"),
				),
			},
			{
				// Another owner: in place, the same decoy value.
				Config:           config("  honeytoken = true\n", "secops"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate)}},
				Check: resource.ComposeAggregateTestCheckFunc(
					read("decoy, updated"), marked(true), code("decoy, updated", token.NotFound),
					func(*terraform.State) error {
						if values["decoy, updated"] != values["decoy"] {
							return fmt.Errorf("an owner change rotated the decoy")
						}
						return nil
					},
				),
			},
			{ResourceName: tokenAddr, ImportState: true, ImportStateId: "ci-deploy", ImportStateVerify: true},
			{
				// No longer a decoy: a new token, with a new value that
				// verifies; the planted one still answers as unknown.
				Config:           config("  honeytoken = false\n", "secops"),
				ConfigPlanChecks: replaced,
				Check: resource.ComposeAggregateTestCheckFunc(
					read("real"), code("real", token.Valid), code("decoy", token.NotFound), marked(false),
					resource.TestCheckResourceAttr(tokenAddr, "honeytoken", "false"),
					resource.TestCheckResourceAttr(ds, "honeytoken", "false"),
				),
			},
			{
				// The attribute left out is the default, false: no change.
				Config:           config("", "secops"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				// A decoy again: replaced, the real value revoked.
				Config:           config("  honeytoken = true\n", "secops"),
				ConfigPlanChecks: replaced,
				Check: resource.ComposeAggregateTestCheckFunc(
					read("decoy again"), code("decoy again", token.NotFound), code("real", token.Revoked), marked(true),
				),
			},
		},
	})
}
