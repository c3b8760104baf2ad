package provider_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

func privilegedScopeConfig(privileged string) string {
	attr := ""
	if privileged != "" {
		attr = "\n  privileged = " + privileged
	}
	return fmt.Sprintf(`
resource "tokenward_scope" "refund" {
  name = "billing:refund"%s
}

data "tokenward_scopes" "all" {
  depends_on = [tokenward_scope.refund]
}
`, attr)
}

// TestAccScopePrivileged: privileged is stored, read back, imported, shown
// by tokenward_scopes (the built-in sensitive scopes too), changed in place,
// and false when left out.
func TestAccScopePrivileged(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	const addr = "tokenward_scope.refund"
	stored := func(want bool) resource.TestCheckFunc {
		return func(*terraform.State) error {
			s, err := reg.Scope(context.Background(), "billing:refund")
			if err != nil || s.Privileged != want {
				return fmt.Errorf("store has %+v, %v; want privileged %v", s, err, want)
			}
			return nil
		}
	}
	listed := func(name, want string) resource.TestCheckFunc {
		return resource.TestCheckTypeSetElemNestedAttrs("data.tokenward_scopes.all", "scopes.*", map[string]string{"name": name, "privileged": want})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: privilegedScopeConfig("true"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "privileged", "true"),
					stored(true),
					listed("billing:refund", "true"),
					listed(registry.ScopeConfigReadSensitive, "true"),
					listed(registry.ScopeConfigWriteSensitive, "true"),
					listed(registry.ScopeIntrospect, "false"),
				),
			},
			{ResourceName: addr, ImportState: true, ImportStateId: "billing:refund", ImportStateVerify: true},
			{
				Config: privilegedScopeConfig("false"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(resource.TestCheckResourceAttr(addr, "privileged", "false"), stored(false), listed("billing:refund", "false")),
			},
			{
				// Changed outside Terraform: the plan puts it back.
				PreConfig: func() {
					if _, err := reg.UpdateScope(context.Background(), "billing:refund", "", registry.WithPrivileged(true)); err != nil {
						t.Fatal(err)
					}
				},
				Config: privilegedScopeConfig(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(resource.TestCheckResourceAttr(addr, "privileged", "false"), stored(false)),
			},
		},
	})
}

// TestAccTokenPolicyPrivileged: the policy's max_privileged_scopes and
// require_owner_for_privileged refuse a token at plan time, whether its
// privileged scopes are planned in the same run (referenced, so planned
// first), through a role planned in the same run, or through a role already
// in the store; a honeytoken is exempt; a scope demoted in the same run is
// still privileged for it, and no longer once the demotion is applied.
func TestAccTokenPolicyPrivileged(t *testing.T) {
	const base = `
provider "tokenward" {
  policy = {
    max_privileged_scopes        = 1
    require_owner_for_privileged = true
  }
}
resource "tokenward_scope" "refund" {
  name       = "billing:refund"
  privileged = true
}
resource "tokenward_scope" "void" {
  name       = "billing:void"
  privileged = true
}
resource "tokenward_scope" "read" { name = "billing:read" }
resource "tokenward_role" "refunder" {
  name   = "refunder"
  scopes = [tokenward_scope.refund.name, tokenward_scope.read.name]
}
`
	token := func(body string) string {
		return "resource \"tokenward_token\" \"t\" {\n  name = \"billing-ci\"\n" + body + "\n}\n"
	}
	const refund = "name       = \"billing:refund\"\n  privileged = true"
	demoted := strings.Replace(base, refund, "name       = \"billing:refund\"\n  privileged = false", 1)
	if demoted == base {
		t.Fatal("base no longer declares billing:refund privileged: update the demotion")
	}
	env := testEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				// Nothing in the store yet: the scopes are planned in this run.
				Config:      base + token(`  owner = "billing"`+"\n"+`  scopes = [tokenward_scope.refund.name, tokenward_scope.void.name]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Token breaks the provider's policy.*holds 2 privileged scopes\s+\(billing:refund, billing:void\).*max_privileged_scopes 1`),
			},
			{
				// The role, too, is planned in this run.
				Config:      base + token(`  roles = [tokenward_role.refunder.name]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)owner: the token holds privileged scopes \(billing:refund\).*require_owner_for_privileged`),
			},
			{Config: base},
			{
				Config:      base + token(`  roles = [tokenward_role.refunder.name]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)owner: the token holds privileged scopes \(billing:refund\).*require_owner_for_privileged`),
			},
			{
				Config: base + token(`  owner = "billing"`+"\n"+`  roles = [tokenward_role.refunder.name]`),
				Check:  resource.TestCheckResourceAttr("tokenward_token.t", "owner", "billing"),
			},
			{
				Config: base + token(`  honeytoken = true`+"\n"+`  scopes = [tokenward_scope.refund.name, tokenward_scope.void.name]`),
				Check:  resource.TestCheckResourceAttr("tokenward_token.t", "honeytoken", "true"),
			},
			{
				// A demotion planned in the same run does not let the grant
				// past the policy: the store still says privileged.
				Config:      demoted + token(`  scopes = [tokenward_scope.refund.name]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)owner: the token holds privileged scopes \(billing:refund\).*require_owner_for_privileged`),
			},
			{
				// Applied first, the demotion counts for the next grant.
				Config: demoted,
				Check:  resource.TestCheckResourceAttr("tokenward_scope.refund", "privileged", "false"),
			},
			{
				Config: demoted + token(`  scopes = [tokenward_scope.refund.name]`),
				Check:  resource.TestCheckResourceAttr("tokenward_token.t", "scopes.0", "billing:refund"),
			},
		},
	})
}

// privilegedReviewBase is applied before the privileged review plan: a
// privileged scope, two roles, two tokens that hold neither privileged
// scope yet.
const privilegedReviewBase = `
resource "tokenward_scope" "refund" {
  name       = "billing:refund"
  privileged = true
}
resource "tokenward_scope" "read" { name = "billing:read" }
resource "tokenward_scope" "void" { name = "billing:void" }

resource "tokenward_role" "refunder" {
  name   = "refunder"
  scopes = [tokenward_scope.refund.name]
}
resource "tokenward_role" "support" {
  name   = "support"
  scopes = [tokenward_scope.read.name]
}

resource "tokenward_token" "ci" {
  name   = "billing-ci"
  owner  = "billing"
  scopes = [tokenward_scope.read.name]
}
resource "tokenward_token" "desk" {
  name   = "desk"
  owner  = "support"
  scopes = [tokenward_scope.void.name]
  roles  = [tokenward_role.support.name]
}
`

// TestAccReviewPrivilegedGolden: a real plan that grants a privileged scope
// through a role (a new role grant, and a role that grows) and makes a held
// scope privileged; its report is testdata/privileged.md and the plan
// testdata/privileged.plan.json, which internal/review and action's review
// tests read to check the gate fails at high.
func TestAccReviewPrivilegedGolden(t *testing.T) {
	env := testEnv(t)
	grown := strings.NewReplacer(
		`scopes = [tokenward_scope.read.name]
}

resource "tokenward_token" "ci"`, `scopes = [tokenward_scope.read.name, tokenward_scope.refund.name]
}

resource "tokenward_token" "ci"`,
		`  scopes = [tokenward_scope.read.name]
}
resource "tokenward_token" "desk"`, `  scopes = [tokenward_scope.read.name]
  roles  = [tokenward_role.refunder.name]
}
resource "tokenward_token" "desk"`,
		`resource "tokenward_scope" "void" { name = "billing:void" }`, `resource "tokenward_scope" "void" {
  name       = "billing:void"
  privileged = true
}`,
	).Replace(privilegedReviewBase)
	if strings.Count(grown, "privileged = true") != 2 || !strings.Contains(grown, "tokenward_role.refunder.name]") ||
		!strings.Contains(grown, "tokenward_scope.read.name, tokenward_scope.refund.name]") {
		t.Fatalf("the grown configuration did not take every change:\n%s", grown)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: privilegedReviewBase},
			reviewStep(t, "privileged", grown),
		},
	})
}
