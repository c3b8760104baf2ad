package provider_test

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/tokenward/terraform-provider-tokenward/internal/pluginserver"
	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
)

// factories serves the provider in-process with a fixed environment, so
// tests never read or change the real one, through the wrapper main.go
// serves it with. Every answer of the wrapper's shortcut is checked
// against the framework's answer to the same request.
func factories(env map[string]string) map[string]func() (tfprotov6.ProviderServer, error) {
	getenv := func(k string) string { return env[k] }
	return map[string]func() (tfprotov6.ProviderServer, error){
		"tokenward": pluginserver.NewProtocol6WithError(provider.New("test", getenv)(), pluginserver.WithShortcutCheck()),
	}
}

func testEnv(t testing.TB) map[string]string {
	t.Helper()
	return registrytest.Env(t, filepath.Join(t.TempDir(), "tokenward.db"))
}

const scopesConfig = `data "tokenward_scopes" "all" {}`

func TestAccProviderConfigurationErrors(t *testing.T) {
	env := testEnv(t)
	noStore := map[string]string{"TOKENWARD_MASTER_KEY": env["TOKENWARD_MASTER_KEY"]}
	noKey := map[string]string{"TOKENWARD_STORE": env["TOKENWARD_STORE"]}
	badKey := map[string]string{"TOKENWARD_STORE": env["TOKENWARD_STORE"], "TOKENWARD_MASTER_KEY": "not-a-key"}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no store", noStore, `TOKENWARD_STORE`},
		{"no master key", noKey, `TOKENWARD_MASTER_KEY`},
		{"bad master key", badKey, `base64 of 32\s+bytes`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(tc.env),
				Steps:                    []resource.TestStep{{Config: scopesConfig, ExpectError: regexp.MustCompile(tc.want)}},
			})
		})
	}
}

func TestAccScopesDataSource(t *testing.T) {
	env := testEnv(t)
	reg, err := registry.Open(t.Context(), registry.Config{Getenv: func(k string) string { return env[k] }, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"users:read", "billing:read"} {
		if _, err := reg.CreateScope(t.Context(), s, "reads "+s); err != nil {
			t.Fatal(err)
		}
	}
	reg.Close()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{{
			Config: scopesConfig,
			Check: resource.ComposeAggregateTestCheckFunc(
				// The declared scopes and the eight built in, sorted by name.
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.#", "10"),
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.0.name", "billing:read"),
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.0.built_in", "false"),
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.1.name", registry.ScopeAlertsRead),
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.8.name", registry.ScopeIntrospect),
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.8.built_in", "true"),
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.8.description", "call tokenward serve's introspection and verify endpoints"),
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.9.description", "reads users:read"),
				resource.TestCheckResourceAttr("data.tokenward_scopes.all", "scopes.9.built_in", "false"),
			),
		}},
	})
}
