package provider_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

func TestAccUserConfigDataSource(t *testing.T) {
	env := testEnv(t)
	reg := openRegistry(t, env)
	ctx := context.Background()
	for _, spec := range []registry.SettingSpec{
		{Key: "data.region", Type: registry.TypeString, Default: json.RawMessage(`"us"`), UserEditable: true},
		{Key: "session.timeout_minutes", Type: registry.TypeNumber, Default: json.RawMessage(`15`), UserEditable: true},
		{Key: "smtp.password", Type: registry.TypeString, Default: json.RawMessage(`"default-smtp-secret"`), Sensitive: true, UserEditable: true},
		{Key: "ui.beta", Type: registry.TypeBool, Default: json.RawMessage(`true`), UserEditable: false},
		{Key: "ui.languages", Type: registry.TypeList, Default: json.RawMessage(`["en-GB"]`), UserEditable: true},
	} {
		if err := reg.CreateSetting(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	err := reg.SetUserValues(ctx, "alice@example.com", map[string]json.RawMessage{
		"data.region":   json.RawMessage(`"eu"`),
		"ui.languages":  json.RawMessage(`["fr-FR", "en-GB"]`),
		"smtp.password": json.RawMessage(`"alice-smtp-secret"`),
	})
	if err != nil {
		t.Fatal(err)
	}
	const addr = "data.tokenward_user_config.alice"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{{
			Config: `
data "tokenward_user_config" "alice" {
  user = "alice@example.com"
}
output "languages" {
  value = join(",", jsondecode([for e in data.tokenward_user_config.alice.effective : e.value if e.key == "ui.languages"][0]))
}
output "native_languages" {
  value = join(",", data.tokenward_user_config.alice.values["ui.languages"])
}
output "timeout_plus_one" {
  value = data.tokenward_user_config.alice.values["session.timeout_minutes"] + 1
}
output "beta" {
  value = data.tokenward_user_config.alice.values["ui.beta"] ? "on" : "off"
}
output "smtp_is_null" {
  value = data.tokenward_user_config.alice.values["smtp.password"] == null
}
output "region" {
  value = data.tokenward_user_config.alice.values["data.region"]
}
`,
			Check: resource.ComposeAggregateTestCheckFunc(
				noSecretInState("default-smtp-secret", "alice-smtp-secret"),
				resource.TestCheckResourceAttr(addr, "id", "alice@example.com"),
				resource.TestCheckResourceAttr(addr, "effective.#", "5"),
				resource.TestCheckResourceAttr(addr, "effective.0.key", "data.region"),
				resource.TestCheckResourceAttr(addr, "effective.0.value", `"eu"`),
				resource.TestCheckResourceAttr(addr, "effective.1.key", "session.timeout_minutes"),
				resource.TestCheckResourceAttr(addr, "effective.1.value", "15"),
				resource.TestCheckResourceAttr(addr, "effective.1.source", "default"),
				resource.TestCheckResourceAttr(addr, "effective.2.key", "smtp.password"),
				resource.TestCheckNoResourceAttr(addr, "effective.2.value"),
				resource.TestCheckResourceAttr(addr, "effective.2.source", "user"),
				resource.TestCheckResourceAttr(addr, "effective.2.sensitive", "true"),
				resource.TestCheckResourceAttr(addr, "effective.3.key", "ui.beta"),
				resource.TestCheckResourceAttr(addr, "effective.3.value", "true"),
				resource.TestCheckResourceAttr(addr, "effective.3.source", "enforced"),
				resource.TestCheckResourceAttr(addr, "effective.4.key", "ui.languages"),
				resource.TestCheckResourceAttr(addr, "effective.4.value", `["fr-FR","en-GB"]`),
				resource.TestCheckResourceAttr(addr, "effective.4.source", "user"),
				resource.TestCheckResourceAttr(addr, "effective.4.sensitive", "false"),
				resource.TestCheckOutput("languages", "fr-FR,en-GB"),
				resource.TestCheckOutput("native_languages", "fr-FR,en-GB"),
				resource.TestCheckOutput("timeout_plus_one", "16"),
				resource.TestCheckOutput("beta", "on"),
				resource.TestCheckOutput("smtp_is_null", "true"),
				resource.TestCheckOutput("region", "eu"),
			),
		}},
	})
}
