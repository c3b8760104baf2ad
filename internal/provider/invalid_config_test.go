package provider_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// phrase matches words as Terraform prints them, wrapped across lines.
func phrase(words string) *regexp.Regexp {
	parts := strings.Fields(words)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, `\s+`))
}

// declareSettings creates, outside Terraform, the settings the user_config
// cases check their values against at plan time.
func declareSettings(t *testing.T, reg *registry.Registry) {
	t.Helper()
	for _, spec := range []registry.SettingSpec{
		{Key: "session.timeout_minutes", Type: registry.TypeNumber, Default: json.RawMessage(`15`), UserEditable: true,
			Constraints: constraints(5, 120)},
		{Key: "ui.beta", Type: registry.TypeBool, Default: json.RawMessage(`true`)},
		{Key: "smtp.password", Type: registry.TypeString, Default: json.RawMessage(`"x"`), Sensitive: true, UserEditable: true},
	} {
		if err := reg.CreateSetting(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAccInvalidConfigurations(t *testing.T) {
	cases := []struct {
		name      string
		config    string
		want      string // words of the error, which name the attribute and the key
		apply     bool   // the error comes at apply, not plan
		settings  bool   // declare the settings of declareSettings first
		writeOnly bool   // uses a write-only attribute: Terraform 1.11 and later
	}{
		{name: "scope in upper case", config: `resource "tokenward_scope" "x" { name = "Billing:Read" }`,
			want: `invalid name: scope "Billing:Read" must be resource:action`},
		{name: "scope without action", config: `resource "tokenward_scope" "x" { name = "billing" }`,
			want: `invalid name: scope "billing"`},
		{name: "role name with a space", config: `resource "tokenward_role" "x" { 
  name = "bad name"
  scopes = ["billing:read"]
}`, want: `invalid name: "bad name" must be`},
		{name: "role with a bad scope", config: `resource "tokenward_role" "x" {
  name = "clerk"
  scopes = ["billing:read", "Billing"]
}`, want: `invalid scopes: "Billing" is not a scope`},
		{name: "setting key not dotted lower case", config: setting(`key = "Session-Timeout"`, `type = "number"`, `default = 1`),
			want: `invalid key: "Session-Timeout" must be dotted lower-case words`},
		{name: "unknown type", config: setting(`type = "integer"`, `default = 1`),
			want: `invalid type: "integer" is not a setting type`},
		{name: "default not a number", config: setting(`type = "number"`, `default = "soon"`),
			want: `invalid default: must be a number`},
		{name: "default above max", config: setting(`type = "number"`, `default = 500`, `min = 5`, `max = 120`),
			want: `invalid default: must be at most 120`},
		{name: "default below min", config: setting(`type = "number"`, `default = 1`, `min = 5`),
			want: `invalid default: must be at least 5`},
		{name: "min above max", config: setting(`type = "number"`, `default = 10`, `min = 50`, `max = 5`),
			want: `invalid max: 5 is below min 50`},
		{name: "default does not match the pattern", config: setting(`type = "string"`, `default = "ABC"`, `pattern = "[a-z]+"`),
			want: `invalid default: does not match the pattern [a-z]+`},
		{name: "pattern not a regular expression", config: setting(`type = "string"`, `default = "a"`, `pattern = "("`),
			want: `invalid pattern: is not a regular expression`},
		{name: "default not allowed", config: setting(`type = "string"`, `default = "blue"`, `allowed_values = ["light", "dark"]`),
			want: `invalid default: must be one of "light", "dark"`},
		{name: "allowed value of the wrong type", config: setting(`type = "number"`, `default = 1`, `allowed_values = [1, "two"]`),
			want: `invalid allowed_values: value 2: must be a number`},
		{name: "empty allowed_values", config: setting(`type = "string"`, `default = "a"`, `allowed_values = []`),
			want: `allowed_values = [] would allow no value at all`},
		{name: "min on a string setting", config: setting(`type = "string"`, `default = "a"`, `min = 1`),
			want: `invalid min: applies only to number settings`},
		{name: "list item not a string", config: setting(`type = "list"`, `default = ["a", 2]`),
			want: `invalid default: must be a list of strings`},
		{name: "no default", config: setting(`type = "string"`),
			want: `Missing default`},
		{name: "sensitive default given as default", config: setting(`type = "string"`, `sensitive = true`, `default = "hunter2"`),
			want: `A sensitive setting takes sensitive_default, not default`},
		{name: "sensitive_default on a setting that is not sensitive", writeOnly: true,
			config: setting(`type = "string"`, `sensitive_default = "hunter2"`),
			want:   `sensitive_default is only for sensitive settings`},
		{name: "sensitive setting listing allowed values", writeOnly: true,
			config: setting(`type = "string"`, `sensitive = true`, `sensitive_default = "a"`, `allowed_values = ["a"]`),
			want:   `invalid allowed_values: a sensitive setting cannot list its allowed values`},
		{name: "user config for an unknown setting", apply: true, config: `resource "tokenward_user_config" "x" {
  user   = "alice"
  values = { "no.such_key" = 1 }
}`, want: `values["no.such_key"]: there is no setting no.such_key`},
		{name: "user config for a setting users may not edit", settings: true, config: `resource "tokenward_user_config" "x" {
  user   = "alice"
  values = { "ui.beta" = false }
}`, want: `values["ui.beta"]: setting ui.beta is not user_editable`},
		{name: "user value above max", settings: true, config: `resource "tokenward_user_config" "x" {
  user   = "alice"
  values = { "session.timeout_minutes" = 500 }
}`, want: `values["session.timeout_minutes"]: the value must be at most 120`},
		{name: "user value of the wrong type", settings: true, config: `resource "tokenward_user_config" "x" {
  user   = "alice"
  values = { "session.timeout_minutes" = "soon" }
}`, want: `values["session.timeout_minutes"]: the value must be a number`},
		{name: "sensitive user value in values", settings: true, config: `resource "tokenward_user_config" "x" {
  user   = "alice"
  values = { "smtp.password" = "hunter2" }
}`, want: `values["smtp.password"]: setting smtp.password is sensitive`},
		{name: "user config values not an object", config: `resource "tokenward_user_config" "x" {
  user   = "alice"
  values = "dark"
}`, want: `values must be an object of setting key = value`},
		{name: "empty user", config: `resource "tokenward_user_config" "x" {
  user   = ""
  values = {}
}`, want: `invalid user: must be 1 to 256 characters`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			if tc.settings {
				declareSettings(t, openRegistry(t, env))
			}
			var checks []tfversion.TerraformVersionCheck
			if tc.writeOnly {
				checks = append(checks, tfversion.SkipBelow(tfversion.Version1_11_0))
			}
			if strings.Contains(tc.want, "hunter2") {
				t.Fatal("an expected error must not quote a sensitive value")
			}
			step := resource.TestStep{Config: tc.config, ExpectError: phrase(tc.want), PlanOnly: !tc.apply}
			resource.Test(t, resource.TestCase{
				TerraformVersionChecks:   checks,
				ProtoV6ProviderFactories: factories(env),
				Steps:                    []resource.TestStep{step},
			})
		})
	}
}

// setting writes a tokenward_setting "x" with the given attribute lines,
// and key = "ui.x" unless a line sets the key.
func setting(lines ...string) string {
	body := strings.Join(lines, "\n  ")
	if !strings.Contains(body, "key =") {
		body = `key = "ui.x"` + "\n  " + body
	}
	return "resource \"tokenward_setting\" \"x\" {\n  " + body + "\n}\n"
}

func constraints(lo, hi float64) store.Constraints { return store.Constraints{Min: &lo, Max: &hi} }
