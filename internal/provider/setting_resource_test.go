package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

func timeoutSetting(def, max string) string {
	return fmt.Sprintf(`
resource "tokenward_setting" "timeout" {
  key         = "session.timeout_minutes"
  type        = "number"
  default     = %s
  description = "Minutes before an idle session ends."
  min         = 5
  max         = %s
}
`, def, max)
}

// storedDefault checks the default the store holds for key.
func storedDefault(reg *registry.Registry, key, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		spec, err := reg.Setting(context.Background(), key)
		if err != nil {
			return err
		}
		if string(spec.Default) != want {
			return fmt.Errorf("store has default %s for %s, want %s", spec.Default, key, want)
		}
		return nil
	}
}

func settingGone(reg *registry.Registry, keys ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, k := range keys {
			if _, err := reg.Setting(context.Background(), k); !errors.Is(err, registry.ErrNotFound) {
				return fmt.Errorf("setting %s still in the store after destroy (err %v)", k, err)
			}
		}
		return nil
	}
}

func TestAccSettingResource(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	const addr = "tokenward_setting.timeout"
	update := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)}}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy:             settingGone(reg, "session.timeout_minutes"),
		Steps: []resource.TestStep{
			{
				Config: timeoutSetting("15", "120"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "id", "session.timeout_minutes"),
					resource.TestCheckResourceAttr(addr, "default", "15"),
					resource.TestCheckResourceAttr(addr, "user_editable", "true"),
					resource.TestCheckResourceAttr(addr, "sensitive", "false"),
					resource.TestCheckResourceAttr(addr, "sensitive_default_revision", "0"),
					storedDefault(reg, "session.timeout_minutes", "15"),
				),
			},
			// 15.0 is the same number as 15: no diff.
			{Config: timeoutSetting("15.0", "120"), PlanOnly: true},
			{
				Config:           timeoutSetting("30", "240"),
				ConfigPlanChecks: update,
				Check:            storedDefault(reg, "session.timeout_minutes", "30"),
			},
			{ResourceName: addr, ImportState: true, ImportStateId: "session.timeout_minutes", ImportStateVerify: true},
			{
				// Changed outside Terraform: the plan puts the default back.
				PreConfig: func() {
					spec, err := reg.Setting(context.Background(), "session.timeout_minutes")
					if err != nil {
						t.Fatal(err)
					}
					spec.Default = json.RawMessage(`60`)
					if err := reg.UpdateSetting(context.Background(), spec); err != nil {
						t.Fatal(err)
					}
				},
				Config:           timeoutSetting("30", "240"),
				ConfigPlanChecks: update,
				Check:            storedDefault(reg, "session.timeout_minutes", "30"),
			},
			{
				// Deleted outside Terraform: the plan creates it again.
				PreConfig: func() {
					if err := reg.DeleteSetting(context.Background(), "session.timeout_minutes"); err != nil {
						t.Fatal(err)
					}
				},
				Config: timeoutSetting("30", "240"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				}},
				Check: storedDefault(reg, "session.timeout_minutes", "30"),
			},
			{
				// A type change is an update in place while no user value is in the way.
				Config: `
resource "tokenward_setting" "timeout" {
  key     = "session.timeout_minutes"
  type    = "json"
  default = { minutes = 30, warn = [5, 1] }
}
`,
				ConfigPlanChecks: update,
				Check:            storedDefault(reg, "session.timeout_minutes", `{"minutes":30,"warn":[5,1]}`),
			},
		},
	})
}

// Each type's default is written as a plain HCL value and read back the same.
func TestAccSettingResourceTypes(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	config := `
resource "tokenward_setting" "theme" {
  key            = "ui.theme"
  type           = "string"
  default        = "light"
  allowed_values = ["light", "dark"]
}
resource "tokenward_setting" "beta" {
  key           = "ui.beta"
  type          = "bool"
  default       = true
  user_editable = false
}
resource "tokenward_setting" "langs" {
  key     = "ui.languages"
  type    = "list"
  default = ["en-GB", "fr-FR"]
  pattern = "[a-z]{2}-[A-Z]{2}"
}
resource "tokenward_setting" "limits" {
  key     = "api.limits"
  type    = "json"
  default = { rate = 1.5, burst = 10, paths = ["/a"], on = true }
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy:             settingGone(reg, "ui.theme", "ui.beta", "ui.languages", "api.limits"),
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					storedDefault(reg, "ui.theme", `"light"`),
					storedDefault(reg, "ui.beta", `true`),
					storedDefault(reg, "ui.languages", `["en-GB","fr-FR"]`),
					storedDefault(reg, "api.limits", `{"burst":10,"on":true,"paths":["/a"],"rate":1.5}`),
					resource.TestCheckResourceAttr("tokenward_setting.beta", "user_editable", "false"),
				),
			},
			{ResourceName: "tokenward_setting.theme", ImportState: true, ImportStateId: "ui.theme", ImportStateVerify: true},
			{ResourceName: "tokenward_setting.langs", ImportState: true, ImportStateId: "ui.languages", ImportStateVerify: true},
			{ResourceName: "tokenward_setting.limits", ImportState: true, ImportStateId: "api.limits", ImportStateVerify: true},
		},
	})
}

// secret is the sensitive default of the tests; it must never be found in
// state or plan.
const secret = "hunter2-sealed-default"

// sensitiveSetting passes the default through an ephemeral variable, as
// the examples recommend: a literal would be in the plan's copy of the
// configuration, an ordinary variable in its variables.
const sensitiveSetting = `
variable "smtp_password" {
  type      = string
  sensitive = true
  ephemeral = true
}
resource "tokenward_setting" "smtp" {
  key               = "smtp.password"
  type              = "string"
  sensitive         = true
  sensitive_default = var.smtp_password
}
`

func smtpPassword(v string) config.Variables {
	return config.Variables{"smtp_password": config.StringVariable(v)}
}

// noSecretInState fails when any attribute of any resource in state holds
// one of the secrets.
func noSecretInState(secrets ...string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for _, m := range s.Modules {
			for name, rs := range m.Resources {
				for k, v := range rs.Primary.Attributes {
					for _, sec := range secrets {
						if strings.Contains(v, sec) {
							return fmt.Errorf("state of %s holds a sensitive value in %s", name, k)
						}
					}
				}
			}
		}
		return nil
	}
}

// noSecretInPlan is a plan check that fails when the JSON plan (what
// terraform show -json prints, sensitive values in plaintext) holds a secret.
type noSecretInPlan []string

func (c noSecretInPlan) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	b, err := json.Marshal(req.Plan)
	if err != nil {
		resp.Error = err
		return
	}
	for _, s := range c {
		if strings.Contains(string(b), s) {
			resp.Error = fmt.Errorf("the plan holds a sensitive value")
			return
		}
	}
}

// noSecretInStateJSON is a state check that fails when the whole state, as
// terraform show -json prints it (sensitive values in plaintext), holds a
// secret.
type noSecretInStateJSON []string

func (c noSecretInStateJSON) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	b, err := json.Marshal(req.State)
	if err != nil {
		resp.Error = err
		return
	}
	if len(b) < 100 {
		resp.Error = fmt.Errorf("the state is too short to hold the resources: %s", b)
		return
	}
	for _, s := range c {
		if strings.Contains(string(b), s) {
			resp.Error = fmt.Errorf("the state holds a sensitive value")
			return
		}
	}
}

func TestAccSettingResourceSensitive(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	const addr = "tokenward_setting.smtp"
	planChecks := func(action plancheck.ResourceActionType) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
			plancheck.ExpectResourceAction(addr, action), noSecretInPlan{secret, "another-secret"},
		}}
	}
	resource.Test(t, resource.TestCase{
		// sensitive_default is write-only, which Terraform supports from 1.11.
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy:             settingGone(reg, "smtp.password"),
		Steps: []resource.TestStep{
			{
				Config:            sensitiveSetting,
				ConfigVariables:   smtpPassword(secret),
				ConfigPlanChecks:  planChecks(plancheck.ResourceActionCreate),
				ConfigStateChecks: []statecheck.StateCheck{noSecretInStateJSON{secret}},
				Check: resource.ComposeAggregateTestCheckFunc(
					noSecretInState(secret),
					resource.TestCheckNoResourceAttr(addr, "sensitive_default"),
					resource.TestCheckResourceAttr(addr, "sensitive_default_revision", "1"),
					storedDefault(reg, "smtp.password", `"`+secret+`"`),
				),
			},
			{
				Config:            sensitiveSetting,
				ConfigVariables:   smtpPassword("another-secret"),
				ConfigPlanChecks:  planChecks(plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{noSecretInStateJSON{secret, "another-secret"}},
				Check: resource.ComposeAggregateTestCheckFunc(
					noSecretInState(secret, "another-secret"),
					resource.TestCheckResourceAttr(addr, "sensitive_default_revision", "2"),
					storedDefault(reg, "smtp.password", `"another-secret"`),
				),
			},
			{ResourceName: addr, ImportState: true, ImportStateId: "smtp.password", ImportStateVerify: true,
				ConfigVariables: smtpPassword("another-secret"),
				ImportStateCheck: func(states []*terraform.InstanceState) error {
					for _, st := range states {
						for k, v := range st.Attributes {
							if strings.Contains(v, "another-secret") {
								return fmt.Errorf("imported state holds the sensitive default in %s", k)
							}
						}
					}
					return nil
				},
				ImportStateVerifyIgnore: []string{"sensitive_default_revision"}},
			{
				// Changed outside Terraform: the plan shows the revision going up, not the value.
				PreConfig: func() {
					spec, err := reg.Setting(context.Background(), "smtp.password")
					if err != nil {
						t.Fatal(err)
					}
					spec.Default = json.RawMessage(`"changed-by-hand"`)
					if err := reg.UpdateSetting(context.Background(), spec); err != nil {
						t.Fatal(err)
					}
				},
				Config:           sensitiveSetting,
				ConfigVariables:  smtpPassword("another-secret"),
				ConfigPlanChecks: planChecks(plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "sensitive_default_revision", "3"),
					storedDefault(reg, "smtp.password", `"another-secret"`),
				),
			},
		},
	})
}

// A type change is refused, naming the users, while a user's value would not
// fit the new type; the user's value is left as it was.
func TestAccSettingResourceTypeChangeWithUserValues(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	cfg := func(typ, def string) string {
		return fmt.Sprintf(`
resource "tokenward_setting" "timeout" {
  key     = "session.timeout_minutes"
  type    = %q
  default = %s
}
resource "tokenward_user_config" "alice" {
  user   = "alice@example.com"
  values = { (tokenward_setting.timeout.key) = 30 }
}
`, typ, def)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy:             settingGone(reg, "session.timeout_minutes"),
		Steps: []resource.TestStep{
			{Config: cfg("number", "15")},
			{
				Config:      cfg("bool", "true"),
				ExpectError: phrase(`invalid default: the change would make the values of users alice@example.com invalid for session.timeout_minutes`),
			},
			{
				// json accepts every value: the type changes in place.
				Config: cfg("json", "15"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("tokenward_setting.timeout", plancheck.ResourceActionUpdate),
				}},
				Check: storedValues(reg, "alice@example.com", map[string]string{"session.timeout_minutes": "30"}),
			},
		},
	})
}

// A sensitive default that is not known at plan (the output of another
// resource) is written at apply, and the revision is known after it.
func TestAccSettingResourceSensitiveUnknownAtPlan(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	cfg := func(v string) string {
		return fmt.Sprintf(`
resource "terraform_data" "password" {
  input = %q
}
resource "tokenward_setting" "smtp" {
  key               = "smtp.password"
  type              = "string"
  sensitive         = true
  sensitive_default = terraform_data.password.output
}
`, v)
	}
	const addr = "tokenward_setting.smtp"
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: cfg("generated-1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "sensitive_default_revision", "1"),
					storedDefault(reg, "smtp.password", `"generated-1"`),
				),
			},
			{
				Config: cfg("generated-2"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "sensitive_default_revision", "2"),
					storedDefault(reg, "smtp.password", `"generated-2"`),
				),
			},
		},
	})
}

// Before Terraform 1.11, which cannot keep a write-only value out of state,
// a sensitive default is refused at plan rather than stored.
func TestAccSettingResourceSensitiveRefusedBeforeTerraform111(t *testing.T) {
	env := testEnv(t)
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipAbove(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy:             settingGone(openRegistry(t, env), "smtp.password"),
		Steps: []resource.TestStep{{
			// Terraform 1.8 knows no ephemeral variables: a literal, then.
			Config: `
resource "tokenward_setting" "smtp" {
  key               = "smtp.password"
  type              = "string"
  sensitive         = true
  sensitive_default = "` + secret + `"
}
`,
			ExpectError: phrase(`Write-only attributes are only supported in Terraform 1.11 and later`),
		}},
	})
}
