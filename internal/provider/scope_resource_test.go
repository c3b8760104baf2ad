package provider_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

func scopeConfig(name, description string) string {
	return fmt.Sprintf(`
resource "tokenward_scope" "read" {
  name        = %q
  description = %q
}
`, name, description)
}

func TestAccScopeResource(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	const addr = "tokenward_scope.read"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy: func(*terraform.State) error {
			if _, err := reg.Scope(context.Background(), "billing:read"); !errors.Is(err, registry.ErrNotFound) {
				return fmt.Errorf("scope billing:read still in the store after destroy (err %v)", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: scopeConfig("billing:read", "reads invoices"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "id", "billing:read"),
					resource.TestCheckResourceAttr(addr, "description", "reads invoices"),
					func(*terraform.State) error {
						s, err := reg.Scope(context.Background(), "billing:read")
						if err != nil || s.Description != "reads invoices" {
							return fmt.Errorf("store has %+v, %v", s, err)
						}
						return nil
					},
				),
			},
			{
				Config: scopeConfig("billing:read", "reads invoices and receipts"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttr(addr, "description", "reads invoices and receipts"),
			},
			{ResourceName: addr, ImportState: true, ImportStateId: "billing:read", ImportStateVerify: true},
			{
				// Changed outside Terraform: the plan puts the description back.
				PreConfig: func() {
					if _, err := reg.UpdateScope(context.Background(), "billing:read", "changed by hand"); err != nil {
						t.Fatal(err)
					}
				},
				Config: scopeConfig("billing:read", "reads invoices and receipts"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
			},
			{
				// Deleted outside Terraform: the plan creates it again.
				PreConfig: func() {
					if err := reg.DeleteScope(context.Background(), "billing:read"); err != nil {
						t.Fatal(err)
					}
				},
				Config: scopeConfig("billing:read", "reads invoices and receipts"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				}},
			},
			{
				Config: scopeConfig("billing:write", "reads invoices and receipts"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.TestCheckResourceAttr(addr, "id", "billing:write"),
			},
			{
				Config: scopeConfig("billing:read", "x"),
			},
		},
	})
}

// A scope that a role grants cannot be destroyed; the error names the role.
func TestAccScopeResourceInUse(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: scopeConfig("billing:read", "")},
			{
				PreConfig: func() {
					if _, err := reg.CreateRole(context.Background(), registry.RoleSpec{Name: "outside", Scopes: []string{"billing:read"}}); err != nil {
						t.Fatal(err)
					}
				},
				Config:      `# nothing: destroy the scope`,
				ExpectError: regexp.MustCompile(`(?s)Cannot delete scope billing:read.*part of roles outside`),
			},
			{
				PreConfig: func() {
					if err := reg.DeleteRole(context.Background(), "outside"); err != nil {
						t.Fatal(err)
					}
				},
				Config: `# nothing`,
			},
		},
	})
}
