package provider_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

func roleConfig(description string, scopes string) string {
	return fmt.Sprintf(`
resource "tokenward_scope" "read" {
  name = "billing:read"
}
resource "tokenward_scope" "write" {
  name = "billing:write"
}
resource "tokenward_role" "billing" {
  name        = "billing-clerk"
  description = %q
  scopes      = %s
}
`, description, scopes)
}

func storedScopes(reg *registry.Registry, want ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		role, err := reg.Role(context.Background(), "billing-clerk")
		if err != nil {
			return err
		}
		if !slices.Equal(role.Scopes, want) {
			return fmt.Errorf("store has scopes %v, want %v", role.Scopes, want)
		}
		return nil
	}
}

func TestAccRoleResource(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	const addr = "tokenward_role.billing"
	update := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)}}
	both := `[tokenward_scope.read.name, tokenward_scope.write.name]`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy: func(*terraform.State) error {
			if _, err := reg.Role(context.Background(), "billing-clerk"); !errors.Is(err, registry.ErrNotFound) {
				return fmt.Errorf("role still in the store after destroy (err %v)", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: roleConfig("reads invoices", `[tokenward_scope.read.name]`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "id", "billing-clerk"),
					resource.TestCheckTypeSetElemAttr(addr, "scopes.*", "billing:read"),
					storedScopes(reg, "billing:read"),
				),
			},
			{
				Config:           roleConfig("reads and pays invoices", both),
				ConfigPlanChecks: update,
				Check:            storedScopes(reg, "billing:read", "billing:write"),
			},
			{ResourceName: addr, ImportState: true, ImportStateId: "billing-clerk", ImportStateVerify: true},
			{
				// Changed outside Terraform: the plan puts the scopes back.
				PreConfig: func() {
					if _, err := reg.UpdateRole(context.Background(), registry.RoleSpec{Name: "billing-clerk", Scopes: []string{"billing:read"}}); err != nil {
						t.Fatal(err)
					}
				},
				Config:           roleConfig("reads and pays invoices", both),
				ConfigPlanChecks: update,
				Check:            storedScopes(reg, "billing:read", "billing:write"),
			},
			{
				// Deleted outside Terraform: the plan creates it again.
				PreConfig: func() {
					if err := reg.DeleteRole(context.Background(), "billing-clerk"); err != nil {
						t.Fatal(err)
					}
				},
				Config: roleConfig("reads and pays invoices", both),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				}},
				Check: storedScopes(reg, "billing:read", "billing:write"),
			},
		},
	})
}

// TestAccRolePolicy: a role may not grant a scope the policy forbids: no
// token could hold the role. Known scopes are refused at plan time; scopes
// known only at apply are refused then, before the role is stored.
func TestAccRolePolicy(t *testing.T) {
	const policy = `
provider "tokenward" {
  policy = { forbidden_scopes = ["admin:*"] }
}
resource "tokenward_scope" "admin" {
  name = "admin:write"
}
`
	for _, tc := range []struct{ name, scopes string }{
		{"known at plan", `["admin:write"]`},
		{"known at apply", `[tokenward_scope.admin.name]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			reg := openRegistry(t, env)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps: []resource.TestStep{{
					Config: policy + `
resource "tokenward_role" "ops" {
  name   = "ops"
  scopes = ` + tc.scopes + `
}
`,
					ExpectError: regexp.MustCompile(`(?s)Role breaks the policy.*"admin:write" is forbidden`),
				}, {
					PreConfig: func() {
						if _, err := reg.Role(context.Background(), "ops"); !errors.Is(err, registry.ErrNotFound) {
							t.Fatalf("the role was stored: %v", err)
						}
					},
					Config: policy,
				}},
			})
		})
	}
}
