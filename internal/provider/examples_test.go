package provider_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
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

// The configuration make demo applies (examples/demo) is applied here too,
// then again with the widened scope its review step plans, so it stays valid
// on every Terraform the acceptance tests run. The demo drives the tokenward
// binary against what it delivers; here the registry checks the same.
func TestAccDemoExample(t *testing.T) {
	// The demo names its provider tokenward/tokenward, as a user's
	// configuration does; make testacc sets this too.
	t.Setenv("TF_ACC_PROVIDER_NAMESPACE", "tokenward")
	env := testEnv(t)
	reg := openRegistry(t, env)
	dir := t.TempDir()
	vars := func(widen bool) config.Variables {
		return config.Variables{"token_dir": config.StringVariable(dir), "widen": config.BoolVariable(widen)}
	}
	delivered := func(widen bool) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			reports := dotenvValue(t, filepath.Join(dir, "ci-reports.env"), "REPORTS_TOKEN")
			if err := verifies(reg, reports, token.Valid, "reports:write", "billing:read"); err != nil {
				return fmt.Errorf("ci-reports: %w", err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "billing-export.token"))
			if err != nil {
				return err
			}
			billing := strings.TrimSpace(string(b))
			want := token.InsufficientScope
			if widen {
				want = token.Valid
			}
			if err := verifies(reg, billing, want, "billing:refund"); err != nil {
				return fmt.Errorf("billing-export: %w", err)
			}
			fps, ok := s.RootModule().Outputs["fingerprints"]
			if !ok {
				return errors.New("no output fingerprints")
			}
			got := fmt.Sprint(fps.Value)
			for _, v := range []string{reports, billing} {
				if !strings.Contains(got, token.Fingerprint(v)) {
					return fmt.Errorf("output fingerprints %s lacks %s, the delivered value's", got, token.Fingerprint(v))
				}
			}
			return noValueIn("outputs", []byte(got), reports, billing)
		}
	}
	// The demo has a provider block, so the provider is given per step:
	// the testing framework refuses one at the TestCase level.
	step := func(widen bool) resource.TestStep {
		return resource.TestStep{
			ProtoV6ProviderFactories: factories(env),
			ConfigDirectory:          config.StaticDirectory("../../examples/demo"),
			ConfigVariables:          vars(widen),
			Check:                    delivered(widen),
		}
	}
	resource.Test(t, resource.TestCase{Steps: []resource.TestStep{step(false), step(true)}})
}
