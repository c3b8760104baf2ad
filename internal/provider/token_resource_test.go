package provider_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

const tokenAddr = "tokenward_token.t"

// tokenRegistry opens the store the provider under test uses, with scopes
// declared, for checks from outside Terraform.
func tokenRegistry(t *testing.T, env map[string]string, scopes ...string) *registry.Registry {
	t.Helper()
	reg, err := registry.Open(context.Background(), registry.Config{Getenv: func(k string) string { return env[k] }, Actor: "test", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for _, s := range scopes {
		if _, err := reg.CreateScope(context.Background(), s, "test scope "+s); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// dotenvValue returns the value of key in a dotenv file, "" when the file
// or the line is missing.
func dotenvValue(t *testing.T, path, key string) string {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && k == key {
			return v
		}
	}
	return ""
}

// verifies checks that a value verifies with the wanted code, optionally
// requiring scopes.
func verifies(reg *registry.Registry, value string, want token.Code, scopes ...string) error {
	if value == "" {
		return errors.New("no value delivered")
	}
	res, err := reg.Verify(context.Background(), value, scopes)
	if err != nil {
		return err
	}
	if res.Code != want {
		return fmt.Errorf("value %s verifies as %s with scopes %v, want %s", token.Fingerprint(value), res.Code, scopes, want)
	}
	return nil
}

// noValueIn fails when any of the values appears in data.
func noValueIn(what string, data []byte, values ...string) error {
	for _, v := range values {
		if v != "" && strings.Contains(string(data), v) {
			return fmt.Errorf("a token value (%s) appears in the %s", token.Fingerprint(v), what)
		}
		// The secret part alone must not appear either.
		if len(v) > 20 && strings.Contains(string(data), v[15:47]) {
			return fmt.Errorf("the secret of a token value (%s) appears in the %s", token.Fingerprint(v), what)
		}
	}
	return nil
}

// noValueInState checks the whole state for the values the file holds.
func noValueInState(values func() []string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		data, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return noValueIn("state", data, values()...)
	}
}

// noValueInPlan is a plan check that marshals the whole JSON plan and looks
// for the token values.
type noValueInPlan struct{ values func() []string }

func (c noValueInPlan) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	data, err := json.Marshal(req.Plan)
	if err != nil {
		resp.Error = err
		return
	}
	if !strings.Contains(string(data), "tokenward_token") {
		resp.Error = errors.New("the plan does not hold the token: the check would prove nothing")
		return
	}
	resp.Error = noValueIn("plan", data, c.values()...)
}

func tokenConfig(body string) string {
	return fmt.Sprintf("resource \"tokenward_token\" \"t\" {\n  name = \"ci-deploy\"\n%s\n}\n", body)
}

func fileBlock(paths ...string) string {
	var b strings.Builder
	b.WriteString("  files = [\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "    { path = %q },\n", p)
	}
	b.WriteString("  ]\n")
	return b.String()
}

// TestAccTokenLifecycle walks a token through create, an in-place scope
// change, rotation by trigger, a destination change, import, drift from
// outside and destroy.
func TestAccTokenLifecycle(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env, "users:read", "billing:read")
	dir := t.TempDir()
	fileA, fileB := filepath.Join(dir, "a.env"), filepath.Join(dir, "b.env")
	if err := os.WriteFile(fileA, []byte("# kept\nOTHER=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var first, second, third, outside string // values, in delivery order
	values := func() []string { return []string{first, second, third, outside} }
	var fp1 string
	config := func(scopes, extra string, paths ...string) string {
		return tokenConfig(fmt.Sprintf("  owner = \"platform\"\n  scopes = [%s]\n%s%s", scopes, extra, fileBlock(paths...)))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		CheckDestroy: func(*terraform.State) error {
			for _, v := range values() {
				if v == "" {
					continue
				}
				if err := verifies(reg, v, token.Revoked); err != nil {
					return fmt.Errorf("after destroy: %w", err)
				}
			}
			for _, f := range []string{fileA, fileB} {
				if v := dotenvValue(t, f, "CI_DEPLOY"); v != "" {
					return fmt.Errorf("%s still holds the token after destroy", f)
				}
			}
			if got := dotenvValue(t, fileA, "OTHER"); got != "1" {
				return fmt.Errorf("destroy removed a line tokenward did not write: OTHER=%q", got)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				// Create: the first value is delivered and verifies with the scopes.
				Config: config(`"users:read"`, "", fileA),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionCreate),
					plancheck.ExpectUnknownValue(tokenAddr, tfjsonPath("fingerprint")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						first = dotenvValue(t, fileA, "CI_DEPLOY")
						if got := dotenvValue(t, fileA, "OTHER"); got != "1" {
							return fmt.Errorf("delivery dropped another line: OTHER=%q", got)
						}
						if err := verifies(reg, first, token.Valid, "users:read"); err != nil {
							return err
						}
						return verifies(reg, first, token.InsufficientScope, "billing:read")
					},
					resource.TestCheckResourceAttr(tokenAddr, "id", "ci-deploy"),
					resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
					resource.TestCheckResourceAttr(tokenAddr, "ttl", "90d"),
					resource.TestCheckResourceAttr(tokenAddr, "rotate_before", "14d"),
					resource.TestCheckResourceAttr(tokenAddr, "overlap", "1d"),
					resource.TestCheckResourceAttr(tokenAddr, "files.0.format", "dotenv"),
					resource.TestCheckNoResourceAttr(tokenAddr, "files.0.key"),
					resource.TestCheckResourceAttrWith(tokenAddr, "fingerprint", func(v string) error {
						fp1 = v
						if v != token.Fingerprint(first) {
							return fmt.Errorf("fingerprint %s is not the delivered value's (%s)", v, token.Fingerprint(first))
						}
						return nil
					}),
					resource.TestCheckResourceAttrSet(tokenAddr, "current_version"),
					resource.TestCheckResourceAttrSet(tokenAddr, "issued_at"),
					resource.TestCheckResourceAttrSet(tokenAddr, "expires_at"),
					resource.TestCheckResourceAttrSet(tokenAddr, "next_rotation_at"),
					noValueInState(values),
				),
			},
			{
				// A scope change applies in place: no new value.
				Config: config(`"users:read", "billing:read"`, "", fileA),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(tokenAddr, tfjsonPath("fingerprint"), knownString(func() string { return fp1 })),
					noValueInPlan{values},
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrWith(tokenAddr, "fingerprint", func(v string) error {
						if v != fp1 {
							return fmt.Errorf("fingerprint changed from %s to %s on a scope change", fp1, v)
						}
						return nil
					}),
					func(*terraform.State) error {
						if v := dotenvValue(t, fileA, "CI_DEPLOY"); v != first {
							return errors.New("the file's value changed on a scope change")
						}
						return verifies(reg, first, token.Valid, "users:read", "billing:read")
					},
				),
			},
			{
				// A trigger rotates: new value delivered, the old one valid for the overlap.
				Config: config(`"users:read", "billing:read"`, "  rotation_triggers = { incident = \"1\" }\n", fileA),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(tokenAddr, tfjsonPath("current_version")),
					plancheck.ExpectUnknownValue(tokenAddr, tfjsonPath("fingerprint")),
					noValueInPlan{values},
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						second = dotenvValue(t, fileA, "CI_DEPLOY")
						if second == first {
							return errors.New("the file still holds the first value after a rotation")
						}
						if err := verifies(reg, second, token.Valid, "billing:read"); err != nil {
							return err
						}
						return verifies(reg, first, token.Valid, "billing:read") // within the overlap
					},
					resource.TestCheckResourceAttrWith(tokenAddr, "fingerprint", func(v string) error {
						if v == fp1 || v != token.Fingerprint(second) {
							return fmt.Errorf("fingerprint %s after rotation; first was %s, delivered %s", v, fp1, token.Fingerprint(second))
						}
						return nil
					}),
					noValueInState(values),
				),
			},
			{
				// Moving to another file rotates and withdraws the removed file's line.
				Config: config(`"users:read", "billing:read"`, "  rotation_triggers = { incident = \"1\" }\n", fileB),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectUnknownValue(tokenAddr, tfjsonPath("fingerprint")),
				}},
				Check: func(*terraform.State) error {
					third = dotenvValue(t, fileB, "CI_DEPLOY")
					if third == "" || third == second {
						return errors.New("the new file does not hold a new value")
					}
					if v := dotenvValue(t, fileA, "CI_DEPLOY"); v != "" {
						return errors.New("the removed file still holds the token's line")
					}
					if got := dotenvValue(t, fileA, "OTHER"); got != "1" {
						return fmt.Errorf("withdrawing removed another line: OTHER=%q", got)
					}
					if err := verifies(reg, third, token.Valid); err != nil {
						return err
					}
					// The rotation in step 3 made the first value previous;
					// this one revoked it.
					return verifies(reg, first, token.Revoked)
				},
			},
			{
				ResourceName:            tokenAddr,
				ImportState:             true,
				ImportStateId:           "ci-deploy",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"rotation_triggers"},
			},
			{
				// Rotated outside Terraform (by the scheduled workflow): no
				// diff, and the computed attributes follow.
				PreConfig: func() {
					res, err := rotation.New(reg, destination.NewRouter(nil)).Rotate(context.Background(), "ci-deploy")
					if err != nil {
						t.Fatal(err)
					}
					outside = dotenvValue(t, fileB, "CI_DEPLOY")
					if token.Fingerprint(outside) != res.To {
						t.Fatalf("outside rotation delivered %s, reported %s", token.Fingerprint(outside), res.To)
					}
				},
				Config: config(`"users:read", "billing:read"`, "  rotation_triggers = { incident = \"1\" }\n", fileB),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				Check: resource.TestCheckResourceAttrWith(tokenAddr, "fingerprint", func(v string) error {
					if v != token.Fingerprint(outside) {
						return fmt.Errorf("fingerprint %s does not follow the rotation outside Terraform (%s)", v, token.Fingerprint(outside))
					}
					return nil
				}),
			},
			{
				// Deleted outside Terraform: the plan creates it again.
				PreConfig: func() {
					if err := reg.DeleteToken(context.Background(), "ci-deploy"); err != nil {
						t.Fatal(err)
					}
				},
				Config: config(`"users:read", "billing:read"`, "  rotation_triggers = { incident = \"1\" }\n", fileB),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionCreate),
				}},
				Check: func(*terraform.State) error {
					v := dotenvValue(t, fileB, "CI_DEPLOY")
					if v == outside {
						return errors.New("re-creating did not deliver a new value")
					}
					third = v // revoked by the destroy that follows
					if err := verifies(reg, outside, token.Revoked); err != nil {
						return err
					}
					return verifies(reg, v, token.Valid, "billing:read")
				},
			},
		},
	})
}

// TestAccTokenDurationSpellings: 24h and 1d are one value; rewriting one as
// the other plans nothing.
func TestAccTokenDurationSpellings(t *testing.T) {
	env := testEnv(t)
	tokenRegistry(t, env)
	dir := t.TempDir()
	cfg := func(ttl, before, overlap string) string {
		return tokenConfig(fmt.Sprintf("  ttl = %q\n  rotate_before = %q\n  overlap = %q\n%s", ttl, before, overlap, fileBlock(filepath.Join(dir, ".env"))))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: cfg("2160h", "2w", "24h"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(tokenAddr, "ttl", "2160h"),
					resource.TestCheckResourceAttr(tokenAddr, "overlap", "24h"),
				),
			},
			{Config: cfg("90d", "14d", "1d"), PlanOnly: true},
			{Config: cfg("12w6d", "336h", "1440m"), PlanOnly: true},
			{
				// A real change still shows.
				Config: cfg("90d", "14d", "2d"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttr(tokenAddr, "overlap", "2d"),
			},
		},
	})
}

// TestAccTokenDataSource reads a token's metadata, and no value.
func TestAccTokenDataSource(t *testing.T) {
	env := testEnv(t)
	tokenRegistry(t, env, "users:read")
	path := filepath.Join(t.TempDir(), "token")
	cfg := tokenConfig(fmt.Sprintf("  owner = \"platform\"\n  scopes = [\"users:read\"]\n  files = [{ path = %q, format = \"raw\" }]\n", path)) +
		`data "tokenward_token" "t" { name = tokenward_token.t.name }`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("data.tokenward_token.t", "owner", "platform"),
				resource.TestCheckResourceAttr("data.tokenward_token.t", "effective_scopes.#", "1"),
				resource.TestCheckResourceAttr("data.tokenward_token.t", "effective_scopes.0", "users:read"),
				resource.TestCheckResourceAttr("data.tokenward_token.t", "destinations.0", "file:"+path),
				resource.TestCheckResourceAttr("data.tokenward_token.t", "ttl", "90d"),
				resource.TestCheckResourceAttrPair("data.tokenward_token.t", "fingerprint", tokenAddr, "fingerprint"),
				resource.TestCheckResourceAttr("data.tokenward_token.t", "status", "active"),
				func(s *terraform.State) error {
					raw, err := os.ReadFile(path)
					if err != nil {
						return err
					}
					return noValueInState(func() []string { return []string{strings.TrimSpace(string(raw))} })(s)
				},
			),
		}},
	})
}

// TestAccTokenInvalidConfigs: each invalid configuration fails at plan time
// with an error that names the attribute.
func TestAccTokenInvalidConfigs(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"name", `name2 = 1`, `name2`}, // placeholder replaced below
		{"scope syntax", `scopes = ["Users:Read"]`, `scopes:`},
		{"scope without action", `scopes = ["users"]`, `scopes:`},
		{"role name", `roles = ["bad role"]`, `roles:`},
		{"ttl syntax", `ttl = "90 days"`, `Invalid duration`},
		{"ttl zero", `ttl = "0"`, `ttl must`},
		{"rotate_before not shorter than ttl", `ttl = "14d"`, `rotate_before must be shorter`},
		{"rotate_before zero", `rotate_before = "0s"`, `rotate_before must be longer`},
		{"overlap longer than rotate_before", `overlap = "15d"`, `overlap must not be longer`},
		{"overlap unit", `overlap = "1y"`, `unknown unit`},
		{"secret name digit", `github_secrets = [{ repository = "acme/api", name = "1TOKEN" }]`, `github_secrets\[0\]\.name`},
		{"secret name GITHUB_", `github_secrets = [{ repository = "acme/api", name = "GITHUB_TOKEN" }]`, `github_secrets\[0\]\.name`},
		{"secret name characters", `github_secrets = [{ repository = "acme/api", name = "MY-TOKEN" }]`, `github_secrets\[0\]\.name`},
		{"repository", `github_secrets = [{ repository = "api", name = "T" }]`, `github_secrets\[0\]\.repository`},
		{"environment", `github_secrets = [{ repository = "acme/api", name = "T", environment = " prod" }]`, `github_secrets\[0\]\.environment`},
		{"organization", `github_organization_secrets = [{ organization = "-acme", name = "T", visibility = "all" }]`, `github_organization_secrets\[0\]\.organization`},
		{"visibility", `github_organization_secrets = [{ organization = "acme", name = "T", visibility = "public" }]`, `github_organization_secrets\[0\]\.visibility`},
		{"selected without repositories", `github_organization_secrets = [{ organization = "acme", name = "T", visibility = "selected" }]`, `github_organization_secrets\[0\]\.repositories`},
		{"repositories without selected", `github_organization_secrets = [{ organization = "acme", name = "T", visibility = "all", repositories = ["api"] }]`, `github_organization_secrets\[0\]\.repositories`},
		{"selected repository of another owner", `github_organization_secrets = [{ organization = "acme", name = "T", visibility = "selected", repositories = ["api", "other/web"] }]`, `github_organization_secrets\[0\]\.repositories\[1\]`},
		{"selected repository name", `github_organization_secrets = [{ organization = "acme", name = "T", visibility = "selected", repositories = ["a b"] }]`, `github_organization_secrets\[0\]\.repositories\[0\]`},
		{"dependabot name", `github_dependabot_secrets = [{ repository = "acme/api", name = "" }]`, `github_dependabot_secrets\[0\]\.name`},
		{"dependabot repository", `github_dependabot_secrets = [{ repository = "acme/a/b", name = "T" }]`, `github_dependabot_secrets\[0\]\.repository`},
		{"file format", `files = [{ path = "x.env", format = "json" }]`, `files\[0\]\.format`},
		{"file key", `files = [{ path = "x.env", key = "1KEY" }]`, `files\[0\]\.key`},
		{"raw file with key", `files = [{ path = "x", format = "raw", key = "K" }]`, `files\[0\]\.key`},
		{"file path", `files = [{ path = "" }]`, `files\[0\]\.path`},
		{"duplicate destination", `files = [{ path = "x.env" }, { path = "x.env" }]`, `files\[1\]`},
		{"missing name", ``, `"name" is required`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			cfg := tokenConfig("  " + tc.body)
			switch tc.name {
			case "name":
				cfg, tc.want = `resource "tokenward_token" "t" { name = "bad name!" }`, `name "bad name!"`
			case "missing name":
				cfg = `resource "tokenward_token" "t" { owner = "x" }`
			}
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps:                    []resource.TestStep{{Config: cfg, PlanOnly: true, ExpectError: regexp.MustCompile(tc.want)}},
			})
		})
	}
}

// TestAccTokenPolicy: each policy field is enforced at plan time on the
// attribute at fault, and a compliant token passes.
func TestAccTokenPolicy(t *testing.T) {
	const policy = `
provider "tokenward" {
  policy = {
    max_ttl              = "30d"
    min_overlap          = "1h"
    require_owner        = true
    forbidden_scopes     = ["admin:*"]
    allowed_repositories = ["acme/*"]
  }
}
`
	const ok = "  owner = \"platform\"\n  ttl = \"30d\"\n  scopes = [\"users:read\"]\n"
	cases := []struct {
		name, body, want string
	}{
		{"max_ttl", "  owner = \"p\"\n  ttl = \"31d\"\n", `ttl: 31d is longer than the policy allows`},
		{"min_overlap", ok + "  overlap = \"30m\"\n", `overlap: 30m is shorter`},
		{"require_owner", "  ttl = \"30d\"\n", `owner: the policy requires`},
		{"forbidden_scopes", "  owner = \"p\"\n  ttl = \"30d\"\n  scopes = [\"admin:write\"]\n", `scopes: "admin:write" is forbidden`},
		{"forbidden_scopes through a role", "  owner = \"p\"\n  ttl = \"30d\"\n  roles = [\"ops\"]\n", `roles: role "ops" grants "admin:write"`},
		{"allowed_repositories", ok + "  github_secrets = [{ repository = \"evil/api\", name = \"T\" }]\n", `github_secrets\[0\]\.repository: repository "evil/api"`},
		{"allowed_repositories of organization secrets", ok +
			"  github_organization_secrets = [{ organization = \"evil\", name = \"T\", visibility = \"selected\", repositories = [\"web\"] }]\n",
			`github_organization_secrets\[0\]\.repositories\[0\]: repository "evil/web"`},
		{"allowed_repositories of dependabot secrets", ok + "  github_dependabot_secrets = [{ repository = \"evil/api\", name = \"T\" }]\n",
			`github_dependabot_secrets\[0\]\.repository`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			env["GITHUB_TOKEN"] = "test-credentials" // the GitHub check is not what this tests
			reg := tokenRegistry(t, env, "users:read", "admin:write")
			if _, err := reg.CreateRole(context.Background(), registry.RoleSpec{Name: "ops", Scopes: []string{"users:read", "admin:write"}}); err != nil {
				t.Fatal(err)
			}
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps: []resource.TestStep{{
					Config: policy + tokenConfig(tc.body), PlanOnly: true,
					ExpectError: regexp.MustCompile(`(?s)breaks the provider's policy.*` + tc.want),
				}},
			})
		})
	}
	t.Run("compliant", func(t *testing.T) {
		env := testEnv(t)
		tokenRegistry(t, env, "users:read")
		resource.ParallelTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config: policy + tokenConfig(ok+"  overlap = \"1h\"\n"+fileBlock(filepath.Join(t.TempDir(), ".env"))),
				Check:  resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
			}},
		})
	})
	t.Run("invalid policy", func(t *testing.T) {
		env := testEnv(t)
		resource.ParallelTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config:      `provider "tokenward" { policy = { forbidden_scopes = ["admin"] } }` + "\n" + tokenConfig(""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid policy.*must be \*, resource:\*`),
			}},
		})
	})
}

// TestAccTokenGitHubWithoutCredentials: a GitHub destination with no
// credentials fails at plan time, saying what to set.
func TestAccTokenGitHubWithoutCredentials(t *testing.T) {
	for _, list := range []string{
		`github_secrets = [{ repository = "acme/api", name = "T" }]`,
		`github_organization_secrets = [{ organization = "acme", name = "T", visibility = "private" }]`,
		`github_dependabot_secrets = [{ repository = "acme/api", name = "T" }]`,
	} {
		t.Run(strings.Fields(list)[0], func(t *testing.T) {
			env := testEnv(t)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps: []resource.TestStep{{
					Config: tokenConfig("  " + list), PlanOnly: true,
					ExpectError: regexp.MustCompile(`(?s)GitHub credentials are not configured.*GITHUB_TOKEN.*app_id`),
				}},
			})
		})
	}
	t.Run("incomplete app", func(t *testing.T) {
		env := testEnv(t)
		resource.ParallelTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config:   `provider "tokenward" { github = { app_id = 1 } }` + "\n" + tokenConfig(""),
				PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)Incomplete GitHub App credentials.*(installation_id|private_key_file)`),
			}},
		})
	})
}

// TestAccTokenCreateFailureLeavesNothing: when the first delivery fails,
// the token is removed so that the next apply starts afresh.
func TestAccTokenCreateFailureLeavesNothing(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.env")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config:      tokenConfig(fileBlock(good, filepath.Join(blocker, "x.env"))),
				ExpectError: regexp.MustCompile(`Cannot issue token ci-deploy`),
			},
			{
				PreConfig: func() {
					if _, err := reg.Token(context.Background(), "ci-deploy"); !errors.Is(err, registry.ErrNotFound) {
						t.Fatalf("after a failed create the token is still there: %v", err)
					}
					if v := dotenvValue(t, good, "CI_DEPLOY"); v != "" {
						t.Fatal("after a failed create a destination still holds a value")
					}
				},
				Config: tokenConfig(fileBlock(good)),
				Check:  resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
			},
		},
	})
}

func tfjsonPath(attr string) tfjsonpath.Path { return tfjsonpath.New(attr) }

// knownString checks a planned value against one known only when the
// check runs.
func knownString(want func() string) knownvalue.Check {
	return knownvalue.StringFunc(func(v string) error {
		if v != want() {
			return fmt.Errorf("planned %q, want %q", v, want())
		}
		return nil
	})
}

// TestAccTokenRotationFailureRetries: when a new destination cannot be
// written, the apply fails, the current value stays valid where it was, and
// the next plan shows the change again so that fixing it and applying
// finishes the rotation.
func TestAccTokenRotationFailureRetries(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good, fixed := filepath.Join(dir, "good.env"), filepath.Join(dir, "fixed.env")
	broken := tokenConfig(fileBlock(good, filepath.Join(blocker, "x.env")))
	var first string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: tokenConfig(fileBlock(good)),
				Check: func(*terraform.State) error {
					first = dotenvValue(t, good, "CI_DEPLOY")
					return verifies(reg, first, token.Valid)
				},
			},
			{Config: broken, ExpectError: regexp.MustCompile(`Cannot rotate token ci-deploy`)},
			{
				PreConfig: func() {
					if err := verifies(reg, first, token.Valid); err != nil {
						t.Fatalf("after a failed rotation: %v", err)
					}
					ti, err := reg.Token(context.Background(), "ci-deploy")
					if err != nil {
						t.Fatal(err)
					}
					if len(ti.Destinations) != 1 {
						t.Fatalf("after a failed rotation the store has %d destinations, want the 1 of the state", len(ti.Destinations))
					}
				},
				Config: broken, PlanOnly: true, ExpectNonEmptyPlan: true,
			},
			{
				Config: tokenConfig(fileBlock(good, fixed)),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
					func(*terraform.State) error {
						v := dotenvValue(t, fixed, "CI_DEPLOY")
						if v == "" || v == first || dotenvValue(t, good, "CI_DEPLOY") != v {
							return errors.New("the retried rotation did not deliver one new value to both files")
						}
						return verifies(reg, v, token.Valid)
					},
				),
			},
		},
	})
}

// TestAccTokenUnissued: a token re-declared outside Terraform without a
// value (as a first issue that failed half way leaves it) reads as
// unissued, and the next apply issues and delivers its first value.
func TestAccTokenUnissued(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env, "users:read")
	file := filepath.Join(t.TempDir(), ".env")
	cfg := tokenConfig("  owner = \"platform\"\n  scopes = [\"users:read\"]\n" + fileBlock(file))
	var first string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: func(*terraform.State) error {
					first = dotenvValue(t, file, "CI_DEPLOY")
					return verifies(reg, first, token.Valid)
				},
			},
			{
				PreConfig: func() {
					ctx := context.Background()
					ti, err := reg.Token(ctx, "ci-deploy")
					if err != nil {
						t.Fatal(err)
					}
					if err := reg.DeleteToken(ctx, "ci-deploy"); err != nil {
						t.Fatal(err)
					}
					if _, err := reg.CreateToken(ctx, registry.TokenSpec{
						Name: ti.Name, Owner: ti.Owner, Scopes: ti.Scopes, Lifetime: ti.Lifetime, Destinations: ti.Destinations,
					}); err != nil {
						t.Fatal(err)
					}
				},
				RefreshState: true, ExpectNonEmptyPlan: true, // the next apply issues it
				Check: resource.TestCheckResourceAttr(tokenAddr, "status", "unissued"),
			},
			{
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(tokenAddr, tfjsonPath("fingerprint")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
					func(*terraform.State) error {
						v := dotenvValue(t, file, "CI_DEPLOY")
						if v == first {
							return errors.New("no new value was delivered")
						}
						return verifies(reg, v, token.Valid, "users:read")
					},
				),
			},
		},
	})
}

// TestAccTokenClock: TOKENWARD_NOW sets the provider's clock; the computed
// dates follow the lifetime, and a token past next_rotation_at reads as due
// without a diff.
func TestAccTokenClock(t *testing.T) {
	env := testEnv(t)
	env["TOKENWARD_NOW"] = "2026-01-01T00:00:00Z"
	tokenRegistry(t, env)
	cfg := tokenConfig("  ttl = \"30d\"\n  rotate_before = \"1w\"\n" + fileBlock(filepath.Join(t.TempDir(), ".env")))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(tokenAddr, "issued_at", "2026-01-01T00:00:00Z"),
					resource.TestCheckResourceAttr(tokenAddr, "expires_at", "2026-01-31T00:00:00Z"),
					resource.TestCheckResourceAttr(tokenAddr, "next_rotation_at", "2026-01-24T00:00:00Z"),
					resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
				),
			},
			{
				PreConfig: func() { env["TOKENWARD_NOW"] = "2026-01-25T00:00:00Z" },
				Config:    cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				Check: resource.TestCheckResourceAttr(tokenAddr, "status", "due"),
			},
			{
				// A shorter rotate_before moves next_rotation_at at once,
				// and the plan says where to.
				Config: strings.Replace(cfg, `"1w"`, `"2d"`, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(tokenAddr, tfjsonPath("next_rotation_at"), knownvalue.StringExact("2026-01-29T00:00:00Z")),
					plancheck.ExpectKnownValue(tokenAddr, tfjsonPath("fingerprint"), knownvalue.NotNull()),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(tokenAddr, "next_rotation_at", "2026-01-29T00:00:00Z"),
					resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
				),
			},
			{
				PreConfig: func() { env["TOKENWARD_NOW"] = "2026-02-01T00:00:00Z" },
				Config:    strings.Replace(cfg, `"1w"`, `"2d"`, 1),
				Check:     resource.TestCheckResourceAttr(tokenAddr, "status", "expired"),
			},
		},
	})
}

// TestAccTokenExamples: the token example the docs show applies on its own,
// against a fake GitHub with its files moved to a temporary directory, and
// the data source example reads a token.
func TestAccTokenExamples(t *testing.T) {
	read := func(file string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", file))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Run("resource", func(t *testing.T) {
		gh, env := fakeGitHub(t, "ghs_example")
		gh.AddRepo("acme/api")
		gh.AddRepo("acme/web")
		gh.AddEnvironment("acme/api", "production")
		gh.AddOrg("acme")
		vs, as := secretManagers(t, env)
		reg := openRegistry(t, env)
		dir := t.TempDir()
		dotenv, raw, partner := filepath.Join(dir, ".env"), filepath.Join(dir, "registry-token"), filepath.Join(dir, "billing-partner-token")
		cfg := strings.NewReplacer(`path = ".env"`, fmt.Sprintf("path = %q", dotenv),
			`path = "/etc/acme/registry-token"`, fmt.Sprintf("path = %q", raw),
			`path = "/etc/acme/billing-partner-token"`, fmt.Sprintf("path = %q", partner)).Replace(read("resources/tokenward_token/resource.tf"))
		if !strings.Contains(cfg, dotenv) || !strings.Contains(cfg, raw) || !strings.Contains(cfg, partner) {
			t.Fatal("the example's file paths changed: update this test")
		}
		resource.ParallelTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config: cfg,
				Check: func(*terraform.State) error {
					deploy, _ := gh.EnvSecret("acme/api", "production", "DEPLOY_TOKEN")
					if err := verifies(reg, deploy, token.Valid, "deployments:write", "billing:read"); err != nil {
						return fmt.Errorf("ci-deploy: %w", err)
					}
					if dotenvValue(t, dotenv, "CI_DEPLOY") != deploy {
						return errors.New("ci-deploy: the .env file does not hold the value of the secrets")
					}
					b, err := os.ReadFile(raw)
					if err != nil {
						return err
					}
					if err := verifies(reg, strings.TrimSpace(string(b)), token.Valid, "packages:read"); err != nil {
						return fmt.Errorf("registry-read: %w", err)
					}
					ti, err := reg.Token(context.Background(), "billing-partner")
					if err != nil {
						return err
					}
					if want := []string{"2001:db8:42::/48", "203.0.113.0/24"}; !slices.Equal(ti.AllowedCIDRs, want) ||
						ti.RateLimit != (store.RateLimit{Requests: 100, Per: time.Minute}) {
						return fmt.Errorf("billing-partner: allowed %v, rate %+v; want %v, 100 a minute", ti.AllowedCIDRs, ti.RateLimit, want)
					}
					v, _ := vs.Get("apps/billing")
					if err := verifies(reg, v.Data["API_TOKEN"], token.Valid, "billing:read"); err != nil {
						return fmt.Errorf("billing-api: %w", err)
					}
					if a, _ := as.Get("billing/api-token"); v.Data["BILLING_API"] != v.Data["API_TOKEN"] || a.Current != v.Data["API_TOKEN"] {
						return errors.New("billing-api: Vault's two fields and Secrets Manager do not hold one value")
					}
					return nil
				},
			}},
		})
	})
	t.Run("data source", func(t *testing.T) {
		env := testEnv(t)
		reg := tokenRegistry(t, env, "users:read")
		if _, err := reg.CreateToken(context.Background(), registry.TokenSpec{
			Name: "ci-deploy", Scopes: []string{"users:read"},
			Lifetime: store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour},
		}); err != nil {
			t.Fatal(err)
		}
		resource.ParallelTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config: read("data-sources/tokenward_token/data-source.tf"),
				Check: func(s *terraform.State) error {
					out, ok := s.RootModule().Outputs["ci_deploy_scopes"]
					if !ok || fmt.Sprint(out.Value) != "[users:read]" {
						return fmt.Errorf("output ci_deploy_scopes = %v", out)
					}
					return nil
				},
			}},
		})
	})
}

// TestAccTokenPolicyUnknownScopes: with a policy, a token whose scopes and
// roles are created in the same apply plans, and its scopes are checked at
// apply.
func TestAccTokenPolicyUnknownScopes(t *testing.T) {
	const declared = `
provider "tokenward" {
  policy = { forbidden_scopes = ["admin:*"] }
}
resource "tokenward_scope" "w" {
  name = %q
}
resource "tokenward_role" "r" {
  name   = "reader"
  scopes = [tokenward_scope.w.id]
}
`
	cfg := func(scope string) string {
		return fmt.Sprintf(declared, scope) + tokenConfig("  scopes = [tokenward_scope.w.id]\n  roles = [tokenward_role.r.id]\n")
	}
	// The role refuses a forbidden scope itself, so only the token's own
	// scopes can hold one.
	scopeOnly := func(scope string) string {
		return fmt.Sprintf(declared[:strings.Index(declared, "resource \"tokenward_role\"")], scope) + tokenConfig("  scopes = [tokenward_scope.w.id]\n")
	}
	t.Run("allowed", func(t *testing.T) {
		env := testEnv(t)
		reg := tokenRegistry(t, env)
		resource.ParallelTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config: cfg("deployments:write"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
					resource.TestCheckTypeSetElemAttr(tokenAddr, "scopes.*", "deployments:write"),
					func(*terraform.State) error {
						ti, err := reg.Token(context.Background(), "ci-deploy")
						if err != nil {
							return err
						}
						if len(ti.Scopes) != 1 || len(ti.Roles) != 1 {
							return fmt.Errorf("stored scopes %v and roles %v, want one of each", ti.Scopes, ti.Roles)
						}
						return nil
					},
				),
			}},
		})
	})
	t.Run("forbidden", func(t *testing.T) {
		env := testEnv(t)
		reg := tokenRegistry(t, env)
		resource.ParallelTest(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config:      scopeOnly("admin:write"),
				ExpectError: regexp.MustCompile(`(?s)breaks the provider's policy.*scopes: "admin:write" is forbidden`),
			}, {
				PreConfig: func() {
					if _, err := reg.Token(context.Background(), "ci-deploy"); !errors.Is(err, registry.ErrNotFound) {
						t.Fatalf("a token with a forbidden scope was stored: %v", err)
					}
				},
				Config: scopeOnly("deployments:write"),
				Check:  resource.TestCheckResourceAttr(tokenAddr, "status", "active"),
			}},
		})
	})
}

// TestAccTokenPolicyAtApply: what the policy could not check at plan time,
// because it was known only after apply, is refused at apply before the
// token is stored or delivered, on the attribute at fault. Terraform plans
// each resource again at apply with the final values, so this holds through
// ModifyPlan alone; TestTokenApplyChecksPolicy covers Create's own check.
func TestAccTokenPolicyAtApply(t *testing.T) {
	const policy = `
provider "tokenward" {
  policy = {
    max_ttl       = "30d"
    min_overlap   = "1h"
    require_owner = true
  }
}
resource "terraform_data" "v" {
  input = %q
}
`
	cases := []struct {
		name, input, body, want string
	}{
		{"ttl", "31d", "  owner = \"p\"\n  ttl = terraform_data.v.output\n", `ttl: 31d is longer than the policy allows`},
		{"overlap", "30m", "  owner = \"p\"\n  ttl = \"30d\"\n  overlap = terraform_data.v.output\n", `overlap: 30m is shorter`},
		{"owner", "", "  ttl = \"30d\"\n  owner = terraform_data.v.output\n", `owner: the policy requires`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			reg := tokenRegistry(t, env)
			file := filepath.Join(t.TempDir(), ".env")
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps: []resource.TestStep{{
					Config:      fmt.Sprintf(policy, tc.input) + tokenConfig(tc.body+fileBlock(file)),
					ExpectError: regexp.MustCompile(`(?s)breaks the provider's policy.*` + tc.want),
				}, {
					PreConfig: func() {
						if _, err := reg.Token(context.Background(), "ci-deploy"); !errors.Is(err, registry.ErrNotFound) {
							t.Fatalf("a token breaking the policy was stored: %v", err)
						}
						if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
							t.Fatalf("a token breaking the policy was delivered: %v", err)
						}
					},
					Config: fmt.Sprintf(policy, tc.input) + tokenConfig("  owner = \"p\"\n  ttl = \"30d\"\n"+fileBlock(file)),
				}},
			})
		})
	}
}

// TestTokenApplyChecksPolicy: apply checks the policy with the final
// values, not only the plan, so a value the plan could not check (here a
// ttl known only at apply) is refused before the token is stored or
// delivered, on its attribute.
func TestTokenApplyChecksPolicy(t *testing.T) {
	ctx := t.Context()
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	srv, err := providerserver.NewProtocol6WithError(provider.New("test", func(k string) string { return env[k] })())()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || len(schemas.Diagnostics) > 0 {
		t.Fatal(err, describe(schemas.Diagnostics))
	}
	provType := schemas.Provider.ValueType().(tftypes.Object)
	polType := provType.AttributeTypes["policy"].(tftypes.Object)
	pol := map[string]tftypes.Value{}
	for name, at := range polType.AttributeTypes {
		pol[name] = tftypes.NewValue(at, nil)
	}
	pol["max_ttl"] = tftypes.NewValue(tftypes.String, "30d")
	cfg, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{
		Config: dynamic(t, provType, map[string]tftypes.Value{"policy": tftypes.NewValue(polType, pol)}),
	})
	if err != nil || len(cfg.Diagnostics) > 0 {
		t.Fatal(err, describe(cfg.Diagnostics))
	}
	tokType := schemas.ResourceSchemas["tokenward_token"].ValueType()
	fileType := tokType.(tftypes.Object).AttributeTypes["files"].(tftypes.List).ElementType
	file := filepath.Join(t.TempDir(), ".env")
	fileAttrs := map[string]tftypes.Value{}
	for name, at := range fileType.(tftypes.Object).AttributeTypes {
		fileAttrs[name] = tftypes.NewValue(at, nil)
	}
	fileAttrs["path"] = tftypes.NewValue(tftypes.String, file)
	config := func(ttl any) *tfprotov6.DynamicValue {
		return dynamic(t, tokType, map[string]tftypes.Value{
			"name":  tftypes.NewValue(tftypes.String, "ci-deploy"),
			"ttl":   tftypes.NewValue(tftypes.String, ttl),
			"files": tftypes.NewValue(tftypes.List{ElementType: fileType}, []tftypes.Value{tftypes.NewValue(fileType, fileAttrs)}),
		})
	}
	nullState, err := tfprotov6.NewDynamicValue(tokType, tftypes.NewValue(tokType, nil))
	if err != nil {
		t.Fatal(err)
	}
	planned, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
		TypeName: "tokenward_token", PriorState: &nullState, ProposedNewState: config(tftypes.UnknownValue), Config: config(tftypes.UnknownValue),
	})
	if err != nil || len(planned.Diagnostics) > 0 {
		t.Fatal("a ttl unknown at plan time should plan:", err, describe(planned.Diagnostics))
	}
	// The ttl becomes known at apply: 31d.
	pv, err := planned.PlannedState.Unmarshal(tokType)
	if err != nil {
		t.Fatal(err)
	}
	pv, err = tftypes.Transform(pv, func(p *tftypes.AttributePath, v tftypes.Value) (tftypes.Value, error) {
		if p.Equal(tftypes.NewAttributePath().WithAttributeName("ttl")) {
			return tftypes.NewValue(tftypes.String, "31d"), nil
		}
		return v, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	final, err := tfprotov6.NewDynamicValue(tokType, pv)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := srv.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{
		TypeName: "tokenward_token", PriorState: &nullState, PlannedState: &final, Config: config("31d"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var refused bool
	for _, d := range applied.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError && strings.Contains(d.Detail, "ttl: 31d is longer than the policy allows") &&
			d.Attribute.Equal(tftypes.NewAttributePath().WithAttributeName("ttl")) {
			refused = true
		}
	}
	if !refused {
		t.Fatalf("apply of a ttl the policy forbids: diagnostics %v, want a policy error on ttl", describe(applied.Diagnostics))
	}
	if _, err := reg.Token(ctx, "ci-deploy"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("the token was stored: %v", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the token was delivered: %v", err)
	}
}

// TestAccTokenDestinationSpellings: spellings of the same destinations that
// the store keeps one way (environment = "", key = "" of a raw file,
// repositories = [], another order) neither show a diff after apply nor
// rotate the token.
func TestAccTokenDestinationSpellings(t *testing.T) {
	gh, env := fakeGitHub(t, "ghs_provider_test")
	gh.AddRepo("acme/api")
	gh.AddOrg("acme")
	dir := t.TempDir()
	raw, dotenv := filepath.Join(dir, "token"), filepath.Join(dir, ".env")
	first := tokenConfig(fmt.Sprintf(`  github_secrets = [{ repository = "acme/api", name = "DEPLOY_TOKEN", environment = "" }]
  github_organization_secrets = [{ organization = "acme", name = "ORG_TOKEN", visibility = "private", repositories = [] }]
  files = [
    { path = %q, format = "raw", key = "" },
    { path = %q },
  ]
`, raw, dotenv))
	reordered := tokenConfig(fmt.Sprintf(`  github_secrets = [{ repository = "acme/api", name = "DEPLOY_TOKEN" }]
  github_organization_secrets = [{ organization = "acme", name = "ORG_TOKEN", visibility = "private" }]
  files = [
    { path = %q },
    { path = %q, format = "raw" },
  ]
`, dotenv, raw))
	var version string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				// The test framework plans again after apply and fails on
				// a non-empty plan.
				Config: first,
				Check: func(s *terraform.State) error {
					version = s.RootModule().Resources[tokenAddr].Primary.Attributes["current_version"]
					return nil
				},
			},
			{
				Config: reordered,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(tokenAddr, tfjsonPath("current_version"), knownString(func() string { return version })),
				}},
				Check: resource.TestCheckResourceAttrWith(tokenAddr, "current_version", func(v string) error {
					if v != version {
						return fmt.Errorf("the token rotated (%s → %s) though its destinations did not change", version, v)
					}
					return nil
				}),
			},
		},
	})
}

// TestAccTokenRotationFailureWithdrawsNew: when a rotation that adds two
// destinations fails at the second, the first, which the reverted token no
// longer names, does not keep the new value.
func TestAccTokenRotationFailureWithdrawsNew(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good, added := filepath.Join(dir, "good.env"), filepath.Join(dir, "added.env")
	var first string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: tokenConfig(fileBlock(good)),
				Check: func(*terraform.State) error {
					first = dotenvValue(t, good, "CI_DEPLOY")
					return verifies(reg, first, token.Valid)
				},
			},
			{
				Config:      tokenConfig(fileBlock(good, added, filepath.Join(blocker, "x.env"))),
				ExpectError: regexp.MustCompile(`Cannot rotate token ci-deploy`),
			},
			{
				PreConfig: func() {
					if v := dotenvValue(t, added, "CI_DEPLOY"); v != "" {
						t.Fatalf("after a failed rotation the added destination keeps a value (%s) nobody manages", token.Fingerprint(v))
					}
					if err := verifies(reg, dotenvValue(t, good, "CI_DEPLOY"), token.Valid); err != nil {
						t.Fatalf("after a failed rotation the kept destination: %v", err)
					}
				},
				Config: tokenConfig(fileBlock(good, added)),
				Check: func(*terraform.State) error {
					v := dotenvValue(t, added, "CI_DEPLOY")
					if v == "" || v == first || dotenvValue(t, good, "CI_DEPLOY") != v {
						return errors.New("the retried rotation did not deliver one new value to both files")
					}
					return verifies(reg, v, token.Valid)
				},
			},
		},
	})
}
