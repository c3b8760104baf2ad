package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

const userSettings = `
resource "tokenward_setting" "timeout" {
  key     = "session.timeout_minutes"
  type    = "number"
  default = 15
  min     = 5
  max     = 120
}
resource "tokenward_setting" "theme" {
  key            = "ui.theme"
  type           = "string"
  default        = "light"
  allowed_values = ["light", "dark"]
}
`

func aliceConfig(timeout int) string {
	return userSettings + fmt.Sprintf(`
resource "tokenward_user_config" "alice" {
  user = "alice@example.com"
  values = {
    (tokenward_setting.timeout.key) = %d
    (tokenward_setting.theme.key)   = "dark"
  }
}
`, timeout)
}

// storedValues checks a user's values in the store, as compact JSON.
func storedValues(reg *registry.Registry, user string, want map[string]string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got, err := reg.UserValues(context.Background(), user)
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			return fmt.Errorf("store has %d values for %s, want %d", len(got), user, len(want))
		}
		for k, w := range want {
			if string(got[k]) != w {
				return fmt.Errorf("store has %s = %s for %s, want %s", k, got[k], user, w)
			}
		}
		return nil
	}
}

func TestAccUserConfigResource(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	const addr = "tokenward_user_config.alice"
	update := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)}}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy:             storedValues(reg, "alice@example.com", nil),
		Steps: []resource.TestStep{
			{
				Config: aliceConfig(30),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "id", "alice@example.com"),
					resource.TestCheckResourceAttr(addr, "sensitive_values_revision", "0"),
					storedValues(reg, "alice@example.com", map[string]string{"session.timeout_minutes": "30", "ui.theme": `"dark"`}),
				),
			},
			{
				Config:           aliceConfig(45),
				ConfigPlanChecks: update,
				Check:            storedValues(reg, "alice@example.com", map[string]string{"session.timeout_minutes": "45", "ui.theme": `"dark"`}),
			},
			{ResourceName: addr, ImportState: true, ImportStateId: "alice@example.com", ImportStateVerify: true},
			{
				// Changed outside Terraform: the plan puts the value back.
				PreConfig: func() {
					err := reg.UpdateUserValues(context.Background(), "alice@example.com", map[string]json.RawMessage{"session.timeout_minutes": json.RawMessage(`60`)}, nil)
					if err != nil {
						t.Fatal(err)
					}
				},
				Config:           aliceConfig(45),
				ConfigPlanChecks: update,
				Check:            storedValues(reg, "alice@example.com", map[string]string{"session.timeout_minutes": "45", "ui.theme": `"dark"`}),
			},
			{
				// Every value removed outside Terraform: the plan creates them again.
				PreConfig: func() {
					if err := reg.SetUserValues(context.Background(), "alice@example.com", nil); err != nil {
						t.Fatal(err)
					}
				},
				Config: aliceConfig(45),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				}},
				Check: storedValues(reg, "alice@example.com", map[string]string{"session.timeout_minutes": "45", "ui.theme": `"dark"`}),
			},
		},
	})
}

const sensitiveUserConfig = `
variable "smtp_password" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "alice_smtp_password" {
  type      = string
  sensitive = true
  ephemeral = true
}
resource "tokenward_setting" "smtp" {
  key               = "smtp.password"
  type              = "string"
  sensitive         = true
  pattern           = ".{8,}"
  sensitive_default = var.smtp_password
}
resource "tokenward_user_config" "alice" {
  user             = "alice@example.com"
  values           = {}
  sensitive_values = { (tokenward_setting.smtp.key) = var.alice_smtp_password }
}
`

func TestAccUserConfigResourceSensitive(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	const addr = "tokenward_user_config.alice"
	const userSecret, otherSecret = "alice-own-secret-1", "alice-own-secret-2"
	vars := func(v string) config.Variables {
		return config.Variables{"smtp_password": config.StringVariable(secret), "alice_smtp_password": config.StringVariable(v)}
	}
	checks := func(action plancheck.ResourceActionType) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
			plancheck.ExpectResourceAction(addr, action), noSecretInPlan{secret, userSecret, otherSecret},
		}}
	}
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy:             storedValues(reg, "alice@example.com", nil),
		Steps: []resource.TestStep{
			{
				Config:            sensitiveUserConfig,
				ConfigVariables:   vars(userSecret),
				ConfigPlanChecks:  checks(plancheck.ResourceActionCreate),
				ConfigStateChecks: []statecheck.StateCheck{noSecretInStateJSON{secret, userSecret}},
				Check: resource.ComposeAggregateTestCheckFunc(
					noSecretInState(secret, userSecret),
					resource.TestCheckResourceAttr(addr, "sensitive_keys.#", "1"),
					resource.TestCheckResourceAttr(addr, "sensitive_keys.0", "smtp.password"),
					resource.TestCheckResourceAttr(addr, "sensitive_values_revision", "1"),
					storedValues(reg, "alice@example.com", map[string]string{"smtp.password": `"` + userSecret + `"`}),
				),
			},
			{
				Config:            sensitiveUserConfig,
				ConfigVariables:   vars(otherSecret),
				ConfigPlanChecks:  checks(plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{noSecretInStateJSON{secret, userSecret, otherSecret}},
				Check: resource.ComposeAggregateTestCheckFunc(
					noSecretInState(secret, userSecret, otherSecret),
					resource.TestCheckResourceAttr(addr, "sensitive_values_revision", "2"),
					storedValues(reg, "alice@example.com", map[string]string{"smtp.password": `"` + otherSecret + `"`}),
				),
			},
			{
				ResourceName: addr, ImportState: true, ImportStateId: "alice@example.com", ImportStateVerify: true,
				ConfigVariables: vars(otherSecret), ImportStateVerifyIgnore: []string{"sensitive_values_revision"},
			},
			{
				// Changed outside Terraform: the plan shows the revision going up, not the value.
				PreConfig: func() {
					err := reg.SetUserValues(context.Background(), "alice@example.com", map[string]json.RawMessage{"smtp.password": json.RawMessage(`"changed-by-hand"`)})
					if err != nil {
						t.Fatal(err)
					}
				},
				Config:           sensitiveUserConfig,
				ConfigVariables:  vars(otherSecret),
				ConfigPlanChecks: checks(plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "sensitive_values_revision", "3"),
					storedValues(reg, "alice@example.com", map[string]string{"smtp.password": `"` + otherSecret + `"`}),
				),
			},
		},
	})
}

// TestAccUserConfigResourceManagesOnlyItsKeys: the resource changes only
// the keys it declares; a value written through the configuration API
// under another key is the user's own, left alone by plans, applies and
// destroy, and the API refuses the declared keys.
func TestAccUserConfigResourceManagesOnlyItsKeys(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	ctx := context.Background()
	const addr = "tokenward_user_config.alice"
	onlyTimeout := userSettings + `
resource "tokenward_user_config" "alice" {
  user   = "alice@example.com"
  values = { (tokenward_setting.timeout.key) = 30 }
}
`
	apiWrite := func(key, value string) error {
		_, err := reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice@example.com", Set: map[string]json.RawMessage{key: json.RawMessage(value)}})
		return err
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy:             storedValues(reg, "alice@example.com", nil),
		Steps: []resource.TestStep{
			{
				Config: onlyTimeout,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "id", "alice@example.com"),
					storedValues(reg, "alice@example.com", map[string]string{"session.timeout_minutes": "30"}),
				),
			},
			{
				// An API write to a free key: the plan stays empty.
				PreConfig: func() {
					if err := apiWrite("ui.theme", `"dark"`); err != nil {
						t.Fatalf("API write to a key the resource does not declare: %v", err)
					}
					var ce *registry.ConfigError
					if err := apiWrite("session.timeout_minutes", `60`); !errors.As(err, &ce) || ce.Kind != registry.ConfigManaged {
						t.Fatalf("API write to a declared key: %v, want ConfigManaged", err)
					}
				},
				Config:           onlyTimeout,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check:            storedValues(reg, "alice@example.com", map[string]string{"session.timeout_minutes": "30", "ui.theme": `"dark"`}),
			},
			{
				// Destroying the resource removes its key only.
				Config: userSettings,
				Check:  storedValues(reg, "alice@example.com", map[string]string{"ui.theme": `"dark"`}),
			},
			{
				// The user's own value goes, so the settings can be destroyed.
				PreConfig: func() {
					if _, err := reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice@example.com", Unset: []string{"ui.theme"}}); err != nil {
						t.Fatal(err)
					}
				},
				Config: userSettings,
				Check:  storedValues(reg, "alice@example.com", nil),
			},
		},
	})
}
