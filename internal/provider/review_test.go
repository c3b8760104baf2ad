package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// The review reports of plans made by a real terraform are compared with
// golden files in internal/review/testdata; -update rewrites them and the
// plan JSON beside them, which internal/review's own tests read without a
// terraform.
var updateReview = flag.Bool("update", false, "rewrite the review golden files in internal/review/testdata and the report ones in testdata")

const reviewTestdata = "../review/testdata"

// reviewPolicy reads the policy the golden reports are reviewed against,
// as `tokenward review --policy` would. The provider itself has none, so
// plans that break it can be made.
func reviewPolicy(t *testing.T) review.Options {
	t.Helper()
	pol, err := review.LoadPolicy(filepath.Join(reviewTestdata, "policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	return review.Options{Policy: pol, PolicySource: "policy.hcl"}
}

// reviewGolden is a plan check that reviews the plan and compares the
// Markdown report with testdata/NAME.md.
type reviewGolden struct {
	t    *testing.T
	name string
	opts func(t *testing.T, plan []byte) review.Options
	// keepPlan writes the plan JSON beside the golden file on -update.
	keepPlan bool
}

// readPlan returns the plan terraform-plugin-testing read, as JSON and as
// review.Read reads that JSON.
func readPlan(req plancheck.CheckPlanRequest) ([]byte, *tfjson.Plan, error) {
	raw, err := json.MarshalIndent(req.Plan, "", " ")
	if err != nil {
		return nil, nil, err
	}
	plan, err := review.Read(bytes.NewReader(raw))
	return raw, plan, err
}

func (c reviewGolden) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	raw, plan, err := readPlan(req)
	if err != nil {
		resp.Error = err
		return
	}
	opts := reviewPolicy(c.t)
	if c.opts != nil {
		opts = c.opts(c.t, raw)
	}
	got := review.Build(plan, opts).Markdown()
	golden := filepath.Join(reviewTestdata, c.name+".md")
	if *updateReview {
		// The plan JSON is rewritten only with a new report (or when it is
		// missing), so that ids and timestamps do not churn.
		planFile := filepath.Join(reviewTestdata, c.name+".plan.json")
		old, _ := os.ReadFile(golden)
		_, statErr := os.Stat(planFile)
		if string(old) == got && (!c.keepPlan || statErr == nil) {
			return
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			resp.Error = err
			return
		}
		if c.keepPlan {
			resp.Error = os.WriteFile(planFile, append(raw, '\n'), 0o644)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		resp.Error = err
		return
	}
	if got != string(want) {
		c.t.Errorf("review of the %s plan differs from %s (run make testacc with -update to accept):\n--- got\n%s\n--- want\n%s", c.name, golden, got, want)
	}
}

// reviewBase is applied before each reviewed plan: scopes, a role, two
// tokens delivered to GitHub secrets, settings, a user's values and a
// resource of another provider.
const reviewBase = `
resource "tokenward_scope" "read" { name = "billing:read" }
resource "tokenward_scope" "write" { name = "billing:write" }
resource "tokenward_scope" "audit" { name = "audit:read" }

resource "tokenward_role" "auditor" {
  name   = "auditor"
  scopes = [tokenward_scope.audit.name]
}

resource "tokenward_token" "ci" {
  name          = "ci"
  owner         = "platform"
  scopes        = [tokenward_scope.read.name]
  ttl           = "30d"
  rotate_before = "7d"
  overlap       = "1d"
  github_secrets              = [{ repository = "acme/api", name = "CI_TOKEN" }]
  github_organization_secrets = [{ organization = "acme", name = "ORG_TOKEN", visibility = "private" }]
}

resource "tokenward_token" "deploy" {
  name   = "deploy"
  owner  = "sre"
  scopes = [tokenward_scope.write.name]
  roles  = [tokenward_role.auditor.name]
  github_secrets = [{ repository = "acme/web", name = "DEPLOY_TOKEN" }]
}

resource "tokenward_setting" "theme" {
  key     = "ui.theme"
  type    = "string"
  default = "dark"
}

resource "tokenward_setting" "timeout" {
  key     = "session.timeout"
  type    = "number"
  default = 15
  min     = 1
  max     = 60
}

resource "tokenward_user_config" "alice" {
  user   = "alice"
  values = { "ui.theme" = "light" }
  depends_on = [tokenward_setting.theme]
}

resource "terraform_data" "other" { input = "one" }
`

// reviewed replaces parts of reviewBase, each old text exactly once.
func reviewed(t *testing.T, pairs ...string) string {
	t.Helper()
	cfg := reviewBase
	for i := 0; i < len(pairs); i += 2 {
		if strings.Count(cfg, pairs[i]) != 1 {
			t.Fatalf("reviewed: %q is not in the base configuration exactly once", pairs[i])
		}
		cfg = strings.Replace(cfg, pairs[i], pairs[i+1], 1)
	}
	return cfg
}

// drop removes the block that starts with header from cfg.
func drop(t *testing.T, cfg, header string) string {
	t.Helper()
	start := strings.Index(cfg, header)
	end := strings.Index(cfg[start:], "\n}\n")
	if start < 0 || end < 0 {
		t.Fatalf("drop: no block %q", header)
	}
	return cfg[:start] + cfg[start+end+3:]
}

func reviewStep(t *testing.T, name, cfg string) resource.TestStep {
	return resource.TestStep{
		Config:             cfg,
		PlanOnly:           true,
		ExpectNonEmptyPlan: true,
		ConfigPlanChecks: resource.ConfigPlanChecks{
			PostApplyPreRefresh: []plancheck.PlanCheck{reviewGolden{t: t, name: name, keepPlan: true}},
		},
	}
}

func TestAccReviewGolden(t *testing.T) {
	gh, env := fakeGitHub(t, "ghs_review_test")
	gh.AddRepo("acme/api")
	gh.AddRepo("acme/web")
	gh.AddOrg("acme")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			// Everything new: a wildcard scope, an organization-wide
			// secret, no overlap, a token the policy refuses, a raw value
			// into root's authorized_keys.
			reviewStep(t, "create", reviewBase+`
resource "tokenward_scope" "all_billing" { name = "billing:*" }
resource "tokenward_token" "ops" {
  name    = "ops"
  scopes  = [tokenward_scope.all_billing.name]
  ttl     = "180d"
  rotate_before = "30d"
  overlap = "0s"
  github_secrets              = [{ repository = "acme/infra", name = "OPS_TOKEN" }]
  github_organization_secrets = [{ organization = "acme", name = "OPS_TOKEN", visibility = "all" }]
  files = [{ path = "/srv/ops/.env" }, { path = "/root/.ssh/authorized_keys", format = "raw" }]
}
`),
			{Config: reviewBase},
			// A token grows: a scope, a role, a new environment secret, an
			// organization secret widened to all, a longer ttl, no
			// overlap; another rotates by its trigger.
			reviewStep(t, "token_update", reviewed(t,
				`scopes        = [tokenward_scope.read.name]`, `scopes        = [tokenward_scope.read.name, tokenward_scope.write.name]
  roles         = [tokenward_role.auditor.name]`,
				`ttl           = "30d"`, `ttl           = "90d"`,
				`overlap       = "1d"`, `overlap       = "0s"`,
				`github_secrets              = [{ repository = "acme/api", name = "CI_TOKEN" }]`,
				`github_secrets              = [{ repository = "acme/api", name = "CI_TOKEN" }, { repository = "acme/api", name = "CI_TOKEN", environment = "production" }]`,
				`visibility = "private"`, `visibility = "all"`,
				`github_secrets = [{ repository = "acme/web", name = "DEPLOY_TOKEN" }]`, `github_secrets = [{ repository = "acme/web", name = "DEPLOY_TOKEN" }]
  rotation_triggers = { incident = "2026-11-27" }`,
			)),
			// A role grows by a wildcard, a scope in use goes, a token is
			// renamed, another deleted.
			reviewStep(t, "delete_rename", drop(t, reviewed(t,
				`scopes = [tokenward_scope.audit.name]`, `scopes = ["audit:read", tokenward_scope.all_billing.name]`,
				`resource "tokenward_scope" "audit" { name = "audit:read" }`, `resource "tokenward_scope" "all_billing" { name = "billing:*" }`,
				`name          = "ci"`, `name          = "ci-main"`,
			), `resource "tokenward_token" "deploy" {`)),
			// Settings: a default changes, a type changes, a setting is
			// made non-editable, constraints change, a user's value
			// changes, and another provider's resource changes.
			reviewStep(t, "settings", reviewed(t,
				`default = "dark"`, `default = "light"
  user_editable = false`,
				`type    = "number"
  default = 15`, `type    = "string"
  default = "15m"`,
				`  min     = 1
  max     = 60
`, ``,
				`values = { "ui.theme" = "light" }`, `values = { "ui.theme" = "solarized" }`,
				`input = "one"`, `input = "two"`,
			)),
		},
	})
}

// The provider's policy block is read from the plan when no policy is
// passed, and a plan that meets it passes.
func TestAccReviewPolicyFromProviderBlock(t *testing.T) {
	gh, env := fakeGitHub(t, "ghs_review_test")
	gh.AddRepo("acme/api")
	gh.AddRepo("acme/web")
	gh.AddOrg("acme")
	withPolicy := `
provider "tokenward" {
  policy = {
    max_ttl          = "90d"
    forbidden_scopes = ["admin:*"]
  }
}
` + reviewBase
	fromPlan := func(t *testing.T, raw []byte) review.Options {
		plan, err := review.Read(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		pol, ok, err := review.PolicyFromPlan(plan)
		if err != nil || !ok {
			t.Fatalf("PolicyFromPlan = %v, %v, %v; want the provider block's policy", pol, ok, err)
		}
		if pol.MaxTTL != 90*24*3600e9 || len(pol.ForbiddenScopes) != 1 {
			t.Errorf("policy read from the plan = %+v", pol)
		}
		return review.Options{Policy: pol, PolicySource: "the provider block"}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: withPolicy},
			{
				Config:             strings.Replace(withPolicy, `ttl           = "30d"`, `ttl           = "60d"`, 1),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{
					reviewGolden{t: t, name: "provider_policy", opts: fromPlan},
				}},
			},
		},
	})
}

// sensitiveValues are given through sensitive variables and write-only
// attributes; no report may hold them.
var sensitiveValues = []string{"owner-sensitive-7f3a", "desc-sensitive-51c2", "default-sensitive-93be", "user-sensitive-0d4e", "smtp-sensitive-aa81"}

// noSensitiveInReport is a plan check that the Markdown and JSON reports
// hold no sensitive value while the plan JSON does (so the test would
// catch a leak).
type noSensitiveInReport struct{ t *testing.T }

func (c noSensitiveInReport) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	raw, plan, err := readPlan(req)
	if err != nil {
		resp.Error = err
		return
	}
	rep := review.Build(plan, reviewPolicy(c.t))
	out := rep.Markdown() + string(rep.JSON())
	inPlan := 0
	for _, v := range sensitiveValues {
		if strings.Contains(string(raw), v) {
			inPlan++
		}
		if strings.Contains(out, v) {
			c.t.Errorf("the review report holds the sensitive value %q:\n%s", v, out)
		}
	}
	if inPlan < 3 {
		c.t.Errorf("only %d sensitive values are in the plan JSON; the test does not exercise the report", inPlan)
	}
	if !strings.Contains(rep.Markdown(), "(sensitive)") {
		c.t.Errorf("the report does not say that sensitive values were left out:\n%s", rep.Markdown())
	}
}

func TestAccReviewHidesSensitiveValues(t *testing.T) {
	env := testEnv(t)
	cfg := func(suffix string) string {
		return `
variable "owner" {
  type      = string
  sensitive = true
  default   = "owner-sensitive-7f3a` + suffix + `"
}
variable "description" {
  type      = string
  sensitive = true
  default   = "desc-sensitive-51c2` + suffix + `"
}
variable "theme" {
  type      = string
  sensitive = true
  default   = "default-sensitive-93be` + suffix + `"
}
variable "mine" {
  type      = string
  sensitive = true
  default   = "user-sensitive-0d4e` + suffix + `"
}
resource "tokenward_scope" "read" { name = "billing:read" }
resource "tokenward_token" "ci" {
  name        = "ci"
  owner       = var.owner
  description = var.description
  scopes      = [tokenward_scope.read.name]
}
resource "tokenward_setting" "theme" {
  key     = "ui.theme"
  type    = "string"
  default = var.theme
}
resource "tokenward_user_config" "alice" {
  user       = "alice"
  values     = { "ui.theme" = var.mine }
  depends_on = [tokenward_setting.theme]
}
`
	}
	check := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{noSensitiveInReport{t}}}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: cfg(""), ConfigPlanChecks: check},
			{Config: cfg("-2"), ConfigPlanChecks: check},
		},
	})
}

// A sensitive setting's default is write-only: the plan shows only that
// its revision changes, and the report says so without the value.
func TestAccReviewSensitiveDefault(t *testing.T) {
	env := testEnv(t)
	cfg := func(v string, sensitive bool) string {
		if !sensitive {
			return `
resource "tokenward_setting" "smtp" {
  key     = "smtp.password"
  type    = "string"
  default = "` + v + `"
}
`
		}
		return `
variable "smtp" {
  type      = string
  sensitive = true
  ephemeral = true
  default   = "` + v + `"
}
resource "tokenward_setting" "smtp" {
  key               = "smtp.password"
  type              = "string"
  sensitive         = true
  sensitive_default = var.smtp
}
`
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		Steps: []resource.TestStep{
			{Config: cfg("smtp-sensitive-aa81", true)},
			{
				Config: cfg("smtp-sensitive-aa81-2", true), PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{
					// Its plan JSON is not kept: it holds the ephemeral variable's value.
					reviewGolden{t: t, name: "sensitive_default"},
				}},
			},
			{
				Config: cfg("plain-default", false), PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{
					reviewGolden{t: t, name: "made_not_sensitive", keepPlan: true},
				}},
			},
		},
	})
}
