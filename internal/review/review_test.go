package review_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// The plans in testdata were made by a real terraform in
// internal/provider's TestAccReviewGolden, which also writes the golden
// reports (`make testacc` with -update). Here they are reviewed again
// without a terraform.
func TestGoldenReports(t *testing.T) {
	plans, err := filepath.Glob("testdata/*.plan.json")
	if err != nil || len(plans) < 4 {
		t.Fatalf("want at least 4 plans in testdata, got %d (%v)", len(plans), err)
	}
	pol, err := review.LoadPolicy("testdata/policy.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		name := strings.TrimSuffix(filepath.Base(p), ".plan.json")
		t.Run(name, func(t *testing.T) {
			plan := readPlan(t, p)
			got := review.Build(plan, review.Options{Policy: pol, PolicySource: "policy.hcl"}).Markdown()
			want, err := os.ReadFile(filepath.Join("testdata", name+".md"))
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("report differs from testdata/%s.md:\n--- got\n%s\n--- want\n%s", name, got, want)
			}
		})
	}
}

func readPlan(t *testing.T, path string) *tfjson.Plan {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plan, err := review.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// The flags each golden plan must raise, so a change to the review that
// drops one fails here and not only in a golden diff that could be
// accepted by mistake.
func TestFlagsOfGoldenPlans(t *testing.T) {
	pol, err := review.LoadPolicy("testdata/policy.hcl")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		address string
		level   review.Level
		cat     review.Category
		phrase  string
	}
	cases := map[string][]want{
		"create": {
			{"tokenward_token.ops", review.High, review.Privilege, "wildcard scope `billing:*`"},
			{"tokenward_token.ops", review.High, review.Reach, "every repository of `acme`"},
			{"tokenward_token.ops", review.Warn, review.Lifetime, "overlap is 0"},
			{"tokenward_token.ops", review.High, review.Lifetime, "max_ttl 90d"},
			{"tokenward_token.ops", review.High, review.Reach, `"acme/infra" is not allowed`},
			{"tokenward_token.ops", review.High, review.Ownership, "requires every token to name an owner"},
			{"tokenward_scope.all_billing", review.Warn, review.Privilege, "wildcard scope"},
			{"tokenward_token.ops", review.High, review.Reach, "`/root/.ssh/authorized_keys` (raw) is an SSH authorized_keys file"},
			{"tokenward_token.ops", review.High, review.Reach, `"/root/.ssh/authorized_keys" is not allowed by the policy (allowed_paths:`},
			{"tokenward_token.ops", review.Warn, review.Reach, "written to a new file `/srv/ops/.env`"},
		},
		"token_update": {
			{"tokenward_token.ci", review.Warn, review.Privilege, "scope `billing:write` is granted"},
			{"tokenward_token.ci", review.Warn, review.Privilege, "role `auditor` is granted"},
			{"tokenward_token.ci", review.Warn, review.Reach, "environment `production`"},
			{"tokenward_token.ci", review.High, review.Reach, "widened to every repository"},
			{"tokenward_token.ci", review.Warn, review.Lifetime, "ttl grows from `30d` to `90d`"},
			{"tokenward_token.ci", review.Warn, review.Lifetime, "overlap is 0"},
			{"tokenward_token.deploy", review.Info, review.Lifetime, "a new value is issued"},
		},
		"delete_rename": {
			{"tokenward_token.ci", review.High, review.Breakage, "renamed to `ci-main`"},
			{"tokenward_token.deploy", review.High, review.Breakage, "consumers lose their secret"},
			{"tokenward_scope.audit", review.High, review.Breakage, "still holds it"},
			{"tokenward_role.auditor", review.High, review.Privilege, "grants wildcard scope `billing:*`"},
		},
		"settings": {
			{"tokenward_setting.theme", review.Warn, review.Breakage, "default of `ui.theme` changes"},
			{"tokenward_setting.theme", review.Warn, review.Breakage, "no longer user-editable"},
			{"tokenward_setting.timeout", review.High, review.Breakage, "type of `session.timeout` changes"},
		},
		"restrictions": {
			{"tokenward_token.partner", review.High, review.Reach, "allowed_cidrs is removed"},
			{"tokenward_token.partner", review.Warn, review.Privilege, "rate_limit is removed"},
			{"tokenward_token.partner", review.Warn, review.Privilege, "built-in scope `tokenward:introspect` is granted"},
			{"tokenward_token.gateway", review.Warn, review.Reach, "allowed_cidrs is widened"},
			{"tokenward_token.gateway", review.Warn, review.Privilege, "rate_limit is raised"},
			{"tokenward_role.support", review.Warn, review.Privilege, "grants built-in scope `tokenward:introspect`, held by token `gateway`"},
		},
		"made_not_sensitive": {
			{"tokenward_setting.smtp", review.High, review.Data, "no longer sensitive"},
		},
	}
	for name, wants := range cases {
		t.Run(name, func(t *testing.T) {
			rep := review.Build(readPlan(t, filepath.Join("testdata", name+".plan.json")), review.Options{Policy: pol})
			for _, w := range wants {
				if !hasFlag(rep, w.address, w.level, w.cat, w.phrase) {
					t.Errorf("%s: no %s %s flag saying %q", w.address, w.level, w.cat, w.phrase)
				}
			}
		})
	}
}

func hasFlag(rep review.Report, address string, l review.Level, c review.Category, phrase string) bool {
	for _, ch := range rep.Changes {
		if ch.Address != address {
			continue
		}
		for _, f := range ch.Flags {
			if f.Level == l && f.Category == c && strings.Contains(f.Message, phrase) {
				return true
			}
		}
	}
	return false
}

func TestReportCountsAndRisk(t *testing.T) {
	rep := review.Build(readPlan(t, "testdata/settings.plan.json"), review.Options{})
	if rep.Others != 1 {
		t.Errorf("Others = %d, want 1 (terraform_data.other)", rep.Others)
	}
	if len(rep.Changes) != 3 || rep.Count(review.Update) != 3 {
		t.Errorf("changes = %d, updates = %d; want 3 and 3", len(rep.Changes), rep.Count(review.Update))
	}
	if rep.Risk != review.High {
		t.Errorf("risk = %s, want high", rep.Risk)
	}
	if rep.Policy.Source != "none" || !strings.Contains(rep.Markdown(), "Policy: none set.") {
		t.Errorf("policy source = %q; the report must say no policy was set", rep.Policy.Source)
	}
	var decoded struct {
		Risk    string `json:"risk"`
		Changes []struct {
			Address string `json:"address"`
			Flags   []struct {
				Level string `json:"level"`
			} `json:"flags"`
		} `json:"changes"`
		Others int `json:"other_changes"`
	}
	if err := json.Unmarshal(rep.JSON(), &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Risk != "high" || len(decoded.Changes) != 3 || decoded.Others != 1 || decoded.Changes[0].Flags[0].Level == "" {
		t.Errorf("JSON report = %+v", decoded)
	}
}

func TestReadRefusesWhatIsNotAPlan(t *testing.T) {
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	if _, err := zw.Create("tfplan"); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	cases := []struct {
		name, input, want string
	}{
		{"empty", "", "the file is empty"},
		{"binary plan", zipped.String(), "binary plan file"},
		{"text", "Terraform will perform the following actions", "not JSON"},
		{"broken JSON", `{"format_version": "1.2",`, "not valid JSON"},
		{"state", `{"format_version": "1.0", "terraform_version": "1.8.5", "values": {"root_module": {}}}`, "JSON of a Terraform state"},
		{"other JSON", `{"name": "x"}`, "not a Terraform plan"},
		{"array", `[1, 2]`, "not JSON"},
		{"future format", `{"format_version": "2.0", "planned_values": {}}`, "unsupported plan format version"},
		{"wrong types", `{"format_version": "1.2", "resource_changes": {"a": 1}}`, "read plan"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := review.Read(strings.NewReader(c.input))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Read = %v, want an error saying %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "terraform show -json") {
				t.Errorf("error %q does not say how to make the plan JSON", err)
			}
		})
	}
}

func TestLoadPolicy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := []struct{ name, file, body string }{
		{"hcl", "p.hcl", "max_ttl = \"30d\"\nmin_overlap = \"1h\"\nrequire_owner = true\nforbidden_scopes = [\"admin:*\"]\nallowed_repositories = [\"acme/*\"]\n"},
		{"wrapped as in the provider", "p.tf", "policy = {\n  max_ttl = \"30d\"\n  min_overlap = \"1h\"\n  require_owner = true\n  forbidden_scopes = [\"admin:*\"]\n  allowed_repositories = [\"acme/*\"]\n}\n"},
		{"json", "p.json", `{"max_ttl": "30d", "min_overlap": "1h", "require_owner": true, "forbidden_scopes": ["admin:*"], "allowed_repositories": ["acme/*"]}`},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			p, err := review.LoadPolicy(write(c.file, c.body))
			if err != nil {
				t.Fatal(err)
			}
			if p.MaxTTL != 30*24*time.Hour || p.MinOverlap != time.Hour || !p.RequireOwner ||
				len(p.ForbiddenScopes) != 1 || len(p.AllowedRepositories) != 1 || p.AllowedRepositories[0] != "acme/*" {
				t.Errorf("policy = %+v", p)
			}
		})
	}
	bad := []struct{ name, file, body, want string }{
		{"unknown setting", "u.hcl", `max_tll = "30d"`, `unknown setting "max_tll"`},
		{"bad duration", "d.hcl", `max_ttl = "thirty days"`, "max_ttl"},
		{"bad glob", "g.hcl", `allowed_repositories = ["acme"]`, "owner/name glob"},
		{"bad scope", "s.hcl", `forbidden_scopes = ["admin"]`, "resource:action"},
		{"variable", "v.hcl", `max_ttl = var.max`, "literal values"},
		{"wrong type", "t.hcl", `require_owner = "yes"`, "true or false"},
		{"not HCL", "n.hcl", `max_ttl: 30d`, "read policy"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := review.LoadPolicy(write(c.file, c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadPolicy = %v, want an error saying %q", err, c.want)
			}
		})
	}
	if _, err := review.LoadPolicy(filepath.Join(dir, "missing.hcl")); err == nil {
		t.Error("LoadPolicy of a missing file succeeded")
	}
}

func TestPolicyFromPlan(t *testing.T) {
	plan := func(e *tfjson.Expression) *tfjson.Plan {
		return &tfjson.Plan{Config: &tfjson.Config{ProviderConfigs: map[string]*tfjson.ProviderConfig{
			"tokenward": {Name: "tokenward", Expressions: map[string]*tfjson.Expression{"policy": e}},
		}}}
	}
	constant := &tfjson.Expression{ExpressionData: &tfjson.ExpressionData{ConstantValue: map[string]any{
		"max_ttl": "90d", "forbidden_scopes": []any{"admin:*"}, "min_overlap": nil,
	}}}
	p, ok, err := review.PolicyFromPlan(plan(constant))
	if err != nil || !ok || p.MaxTTL != 90*24*time.Hour || len(p.ForbiddenScopes) != 1 {
		t.Errorf("constant policy: %+v, %v, %v", p, ok, err)
	}
	refs := &tfjson.Expression{ExpressionData: &tfjson.ExpressionData{References: []string{"var.max"}}}
	if _, _, err := review.PolicyFromPlan(plan(refs)); err == nil || !strings.Contains(err.Error(), "var.max") || !strings.Contains(err.Error(), "--policy") {
		t.Errorf("policy with a variable: %v; want an error naming var.max and --policy", err)
	}
	if _, ok, err := review.PolicyFromPlan(plan(nil)); ok || err != nil {
		t.Errorf("no policy: %v, %v; want none and no error", ok, err)
	}
	if _, ok, err := review.PolicyFromPlan(&tfjson.Plan{}); ok || err != nil {
		t.Errorf("no configuration: %v, %v", ok, err)
	}
}

func TestLevel(t *testing.T) {
	for _, l := range []review.Level{review.Info, review.Warn, review.High} {
		got, err := review.ParseLevel(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l, got, err)
		}
	}
	if _, err := review.ParseLevel("critical"); err == nil || !strings.Contains(err.Error(), "info, warn or high") {
		t.Errorf("ParseLevel(critical) = %v", err)
	}
	if review.None.String() != "none" {
		t.Errorf("None = %q", review.None)
	}
}

// A value from the configuration cannot forge the comment's marker, a link
// or formatting: it is always inside a code span.
func TestReportEscapesValues(t *testing.T) {
	hostile := "x` <!-- tokenward-review --> [link](https://evil) **bold** | cell\nnext"
	plan := &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{{
		Address: "tokenward_token.t", Mode: tfjson.ManagedResourceMode, Type: "tokenward_token", Name: "t",
		Change: &tfjson.Change{
			Actions: tfjson.Actions{tfjson.ActionCreate},
			After: map[string]any{"name": hostile, "owner": hostile, "scopes": []any{hostile},
				"ttl": "90d", "rotate_before": "14d", "overlap": "1d",
				"files": []any{map[string]any{"path": hostile, "format": "dotenv"}}},
		},
	}}}
	md := review.Build(plan, review.Options{}).Markdown()
	if !strings.Contains(md, "x` <!-- tokenward-review -->") {
		t.Fatalf("the hostile value is not in the report at all:\n%s", md)
	}
	for _, line := range strings.Split(md, "\n") {
		rest, ok := outsideCode(line)
		if !ok {
			t.Errorf("unbalanced code span in %q", line)
		}
		rest = strings.NewReplacer("**info**", "", "**warn**", "", "**high**", "", "**1 tokenward change**", "").Replace(rest)
		if strings.ContainsAny(rest, "<[") || strings.Contains(rest, "**") || strings.Contains(rest, "next") {
			t.Errorf("part of a value is outside a code span in %q", line)
		}
		if strings.HasPrefix(line, "|") && strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 5 {
			t.Errorf("a value changes the columns of table row %q", line)
		}
	}
}

// outsideCode returns line without its code spans, and false when a span
// is not closed.
func outsideCode(line string) (string, bool) {
	var out strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			out.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(line); {
			if line[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(line) && line[j+m] == '`' {
				m++
			}
			if m == n {
				end = j
				break
			}
			j += m
		}
		if end < 0 {
			return out.String(), false
		}
		i = end + n
	}
	return out.String(), true
}

func TestNoChanges(t *testing.T) {
	plan := &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
		{Address: "tokenward_scope.s", Mode: tfjson.ManagedResourceMode, Type: "tokenward_scope",
			Change: &tfjson.Change{Actions: tfjson.Actions{tfjson.ActionNoop}, Before: map[string]any{"name": "a:b"}, After: map[string]any{"name": "a:b"}}},
		{Address: "null_resource.n", Mode: tfjson.ManagedResourceMode, Type: "null_resource",
			Change: &tfjson.Change{Actions: tfjson.Actions{tfjson.ActionCreate}}},
		{Address: "data.tokenward_scopes.all", Mode: tfjson.DataResourceMode, Type: "tokenward_scopes",
			Change: &tfjson.Change{Actions: tfjson.Actions{tfjson.ActionRead}}},
	}}
	rep := review.Build(plan, review.Options{})
	if len(rep.Changes) != 0 || rep.Others != 1 || rep.Risk != review.None {
		t.Fatalf("report = %+v; want no tokenward change, one other, risk none", rep)
	}
	if md := rep.Markdown(); !strings.Contains(md, "No tokenward resource changes. 1 change to other resources.") {
		t.Errorf("markdown:\n%s", md)
	}
}
