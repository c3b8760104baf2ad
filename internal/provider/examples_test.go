package provider_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
)

// The examples that the generated docs show are applied as they are, so
// they stay valid.
func TestAccExamples(t *testing.T) {
	secrets := config.Variables{
		"smtp_password":       config.StringVariable("example-default-password"),
		"alice_smtp_password": config.StringVariable("example-alice-password"),
	}
	cases := []struct {
		file      string
		vars      []string
		writeOnly bool
	}{
		{file: "resources/tokenward_scope/resource.tf"},
		{file: "resources/tokenward_role/resource.tf"},
		{file: "resources/tokenward_setting/resource.tf", vars: []string{"smtp_password"}, writeOnly: true},
		{file: "resources/tokenward_user_config/resource.tf", vars: []string{"smtp_password", "alice_smtp_password"}, writeOnly: true},
		{file: "data-sources/tokenward_user_config/data-source.tf"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "examples", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			vars := config.Variables{}
			for _, v := range tc.vars {
				vars[v] = secrets[v]
			}
			var checks []tfversion.TerraformVersionCheck
			if tc.writeOnly {
				checks = append(checks, tfversion.SkipBelow(tfversion.Version1_11_0))
			}
			resource.Test(t, resource.TestCase{
				TerraformVersionChecks:   checks,
				ProtoV6ProviderFactories: factories(testEnv(t)),
				Steps: []resource.TestStep{{
					Config:          string(b),
					ConfigVariables: vars,
					Check:           noSecretInState("example-default-password", "example-alice-password"),
				}},
			})
		})
	}
}
