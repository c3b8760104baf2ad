package provider_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/awstest"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/vaulttest"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

const (
	testVaultToken = "hvs.provider-test-token"
	testAWSKeyID   = "AKIDPROVIDERTEST"
	testAWSSecret  = "provider-test-secret-key"
)

// secretManagers starts a fake Vault and a fake Secrets Manager and points
// env at them, with credentials for both.
func secretManagers(t *testing.T, env map[string]string) (*vaulttest.Server, *awstest.Server) {
	t.Helper()
	vs := vaulttest.New(t)
	vs.AddToken(testVaultToken)
	as := awstest.New(t)
	as.AddCredentials(testAWSKeyID, testAWSSecret)
	env["TOKENWARD_VAULT_ADDR"] = vs.URL
	env["TOKENWARD_VAULT_TOKEN"] = testVaultToken
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = testAWSKeyID, testAWSSecret
	env["AWS_REGION"], env["TOKENWARD_AWS_ENDPOINT"] = awstest.Region, as.URL
	return vs, as
}

const secretManagerDestinations = `
  vault_secrets = [{ path = "apps/billing", key = "API_TOKEN" }, { path = "apps/billing" }]
  aws_secrets   = [{ name = "billing/api-token" }]
`

// TestAccTokenSecretManagers: create delivers one value to two fields of a
// Vault secret and to a Secrets Manager secret, each marked as the token's;
// a rotation writes a new version (AWSPREVIOUS holds the old value); destroy
// withdraws only what is the token's, leaving the secrets others own.
func TestAccTokenSecretManagers(t *testing.T) {
	env := testEnv(t)
	vs, as := secretManagers(t, env)
	reg := tokenRegistry(t, env)
	vs.Put("apps/other", map[string]string{"K": "theirs"}, nil)
	as.Seed("other/secret", "theirs", nil)
	var first string
	delivered := func(wantPrevious *string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			v, ok := vs.Get("apps/billing")
			if !ok || v.CustomMetadata["managed-by"] != "tokenward/ci-deploy" {
				return fmt.Errorf("vault holds %+v", v.CustomMetadata)
			}
			value := v.Data["API_TOKEN"]
			if err := verifies(reg, value, token.Valid); err != nil {
				return err
			}
			if v.Data["CI_DEPLOY"] != value {
				return fmt.Errorf("the field from the token name holds another value")
			}
			a, ok := as.Get("billing/api-token")
			if !ok || a.Current != value || a.Tags["managed-by"] != "tokenward/ci-deploy" {
				return fmt.Errorf("secrets manager holds another value, or no tag: %v", a.Tags)
			}
			if wantPrevious != nil && (a.Previous != *wantPrevious || a.Previous == "") {
				return fmt.Errorf("AWSPREVIOUS is not the value before the rotation")
			}
			first = value
			return nil
		}
	}
	var before string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: tokenConfig(secretManagerDestinations), Check: delivered(nil)},
			{
				PreConfig: func() { before = first },
				Config:    tokenConfig(secretManagerDestinations + `  rotation_triggers = { incident = "1" }`),
				Check:     delivered(&before),
			},
		},
		CheckDestroy: func(*terraform.State) error {
			if _, ok := vs.Get("apps/billing"); ok {
				return fmt.Errorf("the token's Vault secret survived the destroy")
			}
			if a, ok := as.Get("billing/api-token"); !ok || !a.Scheduled {
				return fmt.Errorf("the token's AWS secret is not scheduled for deletion: %+v", a)
			}
			if v, ok := vs.Get("apps/other"); !ok || v.Data["K"] != "theirs" {
				return fmt.Errorf("another owner's Vault secret was touched")
			}
			if a, ok := as.Get("other/secret"); !ok || a.Scheduled || a.Current != "theirs" {
				return fmt.Errorf("another owner's AWS secret was touched")
			}
			return nil
		},
	})
}

// TestAccTokenVaultCredentialsRemoved: a plan of an unchanged token that
// delivers to Vault fails, saying so, once the provider has no Vault
// credentials, and plans cleanly once they are back.
func TestAccTokenVaultCredentialsRemoved(t *testing.T) {
	env := testEnv(t)
	secretManagers(t, env)
	addr, vaultToken := env["TOKENWARD_VAULT_ADDR"], env["TOKENWARD_VAULT_TOKEN"]
	cfg := tokenConfig(`  vault_secrets = [{ path = "apps/billing", key = "API_TOKEN" }]`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig: func() { delete(env, "TOKENWARD_VAULT_ADDR"); delete(env, "TOKENWARD_VAULT_TOKEN") },
				Config:    cfg, PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Vault is not configured.*vault_secrets`),
			},
			{
				PreConfig: func() { env["TOKENWARD_VAULT_ADDR"], env["TOKENWARD_VAULT_TOKEN"] = addr, vaultToken },
				Config:    cfg, PlanOnly: true,
			},
		},
	})
}

// TestAccTokenSecretManagerNotOwned: a secret that exists without the
// token's mark fails the apply with how to hand it over, and stays as it
// was.
func TestAccTokenSecretManagerNotOwned(t *testing.T) {
	cases := []struct {
		name, body, want string
		seed             func(*vaulttest.Server, *awstest.Server)
	}{
		{"vault", `  vault_secrets = [{ path = "apps/billing", key = "API_TOKEN" }]`,
			`apps/billing has no managed-by.*vault kv metadata patch -mount=secret\s+-custom-metadata=managed-by=tokenward/ci-deploy`,
			func(vs *vaulttest.Server, _ *awstest.Server) {
				vs.Put("apps/billing", map[string]string{"API_TOKEN": "theirs"}, nil)
			}},
		{"aws", `  aws_secrets = [{ name = "billing/api-token" }]`,
			`billing/api-token is tagged managed-by = tokenward/other`,
			func(_ *vaulttest.Server, as *awstest.Server) {
				as.Seed("billing/api-token", "theirs", map[string]string{"managed-by": "tokenward/other"})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			vs, as := secretManagers(t, env)
			tc.seed(vs, as)
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps: []resource.TestStep{{
					Config:      tokenConfig(tc.body),
					ExpectError: regexp.MustCompile(`(?s)` + strings.ReplaceAll(tc.want, " ", `\s+`)),
				}},
			})
			if v, ok := vs.Get("apps/billing"); ok && v.Data["API_TOKEN"] != "theirs" {
				t.Fatal("the Vault secret was overwritten")
			}
			if a, ok := as.Get("billing/api-token"); ok && (a.Current != "theirs" || a.Scheduled) {
				t.Fatal("the AWS secret was overwritten or deleted")
			}
		})
	}
}

// TestAccTokenSecretManagerInvalid: bad destinations and settings fail the
// plan on the attribute at fault, saying what to fix.
func TestAccTokenSecretManagerInvalid(t *testing.T) {
	cases := []struct {
		name, config, want string
		noVault            bool
	}{
		{name: "vault path with a leading slash", config: tokenConfig(`  vault_secrets = [{ path = "/apps/billing" }]`),
			want: `vault_secrets\[0\]\.path: "/apps/billing" must not start or end with '/'`},
		{name: "vault path with the API's data/", config: tokenConfig(`  vault_secrets = [{ path = "data/apps" }]`),
			want: `vault_secrets\[0\]\.path: "data/apps" must not start with data/`},
		{name: "vault empty key", config: tokenConfig(`  vault_secrets = [{ path = "apps/b", key = "" }]`),
			want: `vault_secrets\[0\]\.key: must not be empty`},
		{name: "vault duplicate", config: tokenConfig(`  vault_secrets = [{ path = "apps/b", key = "CI_DEPLOY" }, { path = "apps/b" }]`),
			want: `vault_secrets\[1\] is the same destination as vault_secrets\[0\]`},
		{name: "aws arn", config: tokenConfig(`  aws_secrets = [{ name = "arn:aws:secretsmanager:us-east-1:1:secret:x" }]`),
			want: `aws_secrets\[0\]\.name: .* must be a secret name, not an ARN`},
		{name: "aws name with a space", config: tokenConfig(`  aws_secrets = [{ name = "billing token" }]`),
			want: `aws_secrets\[0\]\.name: "billing token" must be 1 to 512`},
		{name: "vault not configured", noVault: true, config: tokenConfig(`  vault_secrets = [{ path = "apps/b" }]`),
			want: `Vault is not configured.*TOKENWARD_VAULT_ADDR`},
		{name: "provider vault address", config: `provider "tokenward" {
  vault = { address = "vault:8200" }
}
` + tokenConfig(""), want: `vault\.address "vault:8200" must be an http:// or https:// URL`},
		{name: "provider aws recovery window", config: `provider "tokenward" {
  aws = { recovery_window_days = 3 }
}
` + tokenConfig(""), want: `aws\.recovery_window_days: 3 must be 7 to 30 days`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			if !tc.noVault {
				env["TOKENWARD_VAULT_ADDR"], env["TOKENWARD_VAULT_TOKEN"] = "http://127.0.0.1:1", testVaultToken
			}
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps: []resource.TestStep{{
					Config: tc.config, PlanOnly: true,
					ExpectError: regexp.MustCompile(`(?s)` + strings.ReplaceAll(tc.want, " ", `\s+`)),
				}},
			})
		})
	}
}
