package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// The plans and golden reports made by a real terraform in
// internal/provider's TestAccReviewGolden.
const (
	reviewTestdata  = "../internal/review/testdata"
	reviewPolicyHCL = reviewTestdata + "/policy.hcl"
)

// plainEnv is an environment without a store, which review does not need.
// Its value is a stand-in that run's check for printed secrets looks for.
func plainEnv() world {
	return world{env: map[string]string{}, value: "no-token-is-issued-in-a-review-test"}
}

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(reviewTestdata, name+".md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReviewCommand(t *testing.T) {
	t.Parallel()
	updatePlan := filepath.Join(reviewTestdata, "token_update.plan.json")
	settingsPlan := filepath.Join(reviewTestdata, "settings.plan.json")
	notAPlan := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(notAPlan, []byte(`{"format_version":"1.0","values":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	planBytes, err := os.ReadFile(updatePlan)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string // the whole stdout when it starts with "## ", else a phrase in it
		stderr string
	}{
		{"markdown, high fails by default", "", []string{"review", "--plan", updatePlan, "--policy", reviewPolicyHCL}, 1, golden(t, "token_update"), "risk is high, which --fail-on high refuses"},
		{"never only reports", "", []string{"review", "--plan", updatePlan, "--policy", reviewPolicyHCL, "--fail-on", "never"}, 0, golden(t, "token_update"), ""},
		{"warn fails a high plan", "", []string{"review", "--plan", settingsPlan, "--fail-on", "warn"}, 1, "Policy: none set.", "risk is high"},
		{"json", "", []string{"review", "--plan", settingsPlan, "--format", "json", "--fail-on", "never"}, 0, `"risk": "high"`, ""},
		{"plan on stdin", string(planBytes), []string{"review", "--plan", "-", "--fail-on", "never"}, 0, "tokenward_token.ci", ""},
		{"no plan", "", []string{"review"}, 2, "", "--plan is required"},
		{"bad fail-on", "", []string{"review", "--plan", updatePlan, "--fail-on", "critical"}, 2, "", "must be info, warn, high or never"},
		{"bad format", "", []string{"review", "--plan", updatePlan, "--format", "html"}, 2, "", "must be markdown or json"},
		{"missing plan file", "", []string{"review", "--plan", "nope.json"}, 2, "", "no such file"},
		{"not a plan", "", []string{"review", "--plan", notAPlan}, 2, "", "JSON of a Terraform state"},
		{"bad policy", "", []string{"review", "--plan", updatePlan, "--policy", notAPlan}, 2, "", "unknown setting"},
		{"extra argument", "", []string{"review", "--plan", updatePlan, "extra"}, 2, "", `review: unexpected argument (1 given, not shown)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := plainEnv().run(t, c.stdin, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			switch {
			case strings.HasPrefix(c.stdout, "## "):
				if r.stdout != c.stdout {
					t.Errorf("stdout is not the golden report:\n%s", r.stdout)
				}
			case !strings.Contains(r.stdout, c.stdout):
				t.Errorf("stdout does not say %q:\n%s", c.stdout, r.stdout)
			}
			if !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("stderr does not say %q:\n%s", c.stderr, r.stderr)
			}
		})
	}
}

// reviewWorkflow is the environment of the review action on a pull
// request: its event, outputs, step summary and a fake GitHub.
type reviewWorkflow struct {
	w                     world
	gh                    *githubtest.Server
	outputs, summary, dir string
}

func newReviewWorkflow(t *testing.T, event string) reviewWorkflow {
	t.Helper()
	dir := t.TempDir()
	gh := githubtest.New(t)
	gh.AddRepo("acme/infra")
	gh.AddPullRequest("acme/infra", 7)
	gh.AddToken("ghs_review_workflow", true)
	rw := reviewWorkflow{gh: gh, dir: dir, outputs: filepath.Join(dir, "output"), summary: filepath.Join(dir, "summary")}
	eventPath := filepath.Join(dir, "event.json")
	for path, body := range map[string]string{rw.outputs: "", rw.summary: "", eventPath: `{"number": 7, "pull_request": {"number": 7}}`} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rw.w = plainEnv().with("GITHUB_ACTIONS", "true", "GITHUB_EVENT_NAME", event, "GITHUB_EVENT_PATH", eventPath,
		"GITHUB_REPOSITORY", "acme/infra", "GITHUB_API_URL", gh.URL(), "GITHUB_OUTPUT", rw.outputs,
		"GITHUB_STEP_SUMMARY", rw.summary, "INPUT_COMMAND", "review", "INPUT_FAIL-ON", "high",
		"INPUT_GITHUB-TOKEN", "ghs_review_workflow", "TOKENWARD_GITHUB_PACE", "0s")
	return rw
}

func (rw reviewWorkflow) review(t *testing.T, plan string, kv ...string) result {
	t.Helper()
	for _, f := range []string{rw.outputs, rw.summary} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return rw.w.with(append([]string{"INPUT_PLAN", filepath.Join(reviewTestdata, plan+".plan.json")}, kv...)...).run(t, "")
}

func TestReviewInPullRequest(t *testing.T) {
	t.Parallel()
	rw := newReviewWorkflow(t, "pull_request")
	other := rw.gh.AddComment("acme/infra", 7, "octocat", "Looks good to me")

	// First push: a plan that only reports.
	r := rw.review(t, "settings", "INPUT_FAIL-ON", "never")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	first := rw.gh.Comments("acme/infra", 7)
	if len(first) != 2 || !strings.HasPrefix(first[1].Body, review.Marker) || !strings.Contains(first[1].Body, "tokenward_setting.theme") {
		t.Fatalf("after the first push the pull request has %d comments: %+v", len(first), first)
	}

	// Second push: another plan, past the gate. The same comment now holds
	// the newer report, and no other comment appeared.
	r = rw.review(t, "token_update", "INPUT_POLICY", reviewPolicyHCL)
	if r.code != 1 || !strings.Contains(r.stdout, "::error::review: the change's risk is high") {
		t.Fatalf("exit %d, want 1 with an error annotation\n%s%s", r.code, r.stdout, r.stderr)
	}
	comments := rw.gh.Comments("acme/infra", 7)
	if len(comments) != 2 {
		t.Fatalf("two pushes left %d comments, want the other reviewer's and one review: %+v", len(comments), comments)
	}
	if comments[0].ID != other || comments[0].Body != "Looks good to me" {
		t.Errorf("the other reviewer's comment changed: %+v", comments[0])
	}
	got := comments[1]
	if got.ID != first[1].ID || got.Edits != 1 {
		t.Errorf("the review comment was not edited in place: %+v (first was %d)", got, first[1].ID)
	}
	if want := golden(t, "token_update"); !strings.Contains(got.Body, want) || strings.Contains(got.Body, "tokenward_setting.theme") {
		t.Errorf("the comment does not hold the newer report:\n%s", got.Body)
	}

	outputs, _ := os.ReadFile(rw.outputs)
	for _, want := range []string{"risk<<", "\nhigh\n", "changes<<", "\n2\n"} {
		if !strings.Contains(string(outputs), want) {
			t.Errorf("outputs lack %q:\n%s", want, outputs)
		}
	}
	summary, _ := os.ReadFile(rw.summary)
	if !strings.Contains(string(summary), golden(t, "token_update")) {
		t.Errorf("the step summary is not the report:\n%s", summary)
	}
	if n := rw.gh.Count("POST /repos/acme/infra/issues/7/comments"); n != 1 {
		t.Errorf("%d comments were posted, want 1", n)
	}
}

func TestReviewCommentsOnlyOnPullRequests(t *testing.T) {
	t.Parallel()
	rw := newReviewWorkflow(t, "push")
	r := rw.review(t, "settings", "INPUT_FAIL-ON", "never")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := rw.gh.Requests(); n != 0 {
		t.Errorf("a push event sent %d requests to GitHub, want none", n)
	}
	summary, _ := os.ReadFile(rw.summary)
	if !strings.HasPrefix(r.stdout, "## tokenward review") || !strings.Contains(string(summary), r.stdout) {
		t.Errorf("the step summary is not the report:\n%s", summary)
	}
}

// Not being able to comment warns and leaves the gate to decide the exit.
func TestReviewCannotComment(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		kv   []string
		want string
	}{
		{"no token", []string{"INPUT_GITHUB-TOKEN", ""}, "pass `github-token: ${{ github.token }}`"},
		{"read-only token", []string{"INPUT_GITHUB-TOKEN", "ghs_read_only"}, "pull-requests: write"},
		{"unknown pull request", []string{"GITHUB_REPOSITORY", "acme/missing"}, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rw := newReviewWorkflow(t, "pull_request_target")
			rw.gh.AddTokenGrant("ghs_read_only", githubtest.TokenGrant{Login: "github-actions[bot]"})
			r := rw.review(t, "settings", append([]string{"INPUT_FAIL-ON", "never"}, c.kv...)...)
			if r.code != 0 {
				t.Fatalf("exit %d, want 0: a comment that fails does not fail the review\n%s%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "::warning::review: not commented on pull request #7") || !strings.Contains(r.stdout, c.want) {
				t.Errorf("no warning saying %q:\n%s", c.want, r.stdout)
			}
			for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
				if strings.Contains(line, "ghs_") && !strings.HasPrefix(line, "::add-mask::") {
					t.Errorf("a GitHub token was printed: %q", line)
				}
			}
		})
	}
}

func TestReviewJSONMatchesMarkdown(t *testing.T) {
	t.Parallel()
	r := plainEnv().run(t, "", "review", "--plan", filepath.Join(reviewTestdata, "delete_rename.plan.json"), "--format", "json", "--fail-on", "never")
	var rep struct {
		Risk    string `json:"risk"`
		Changes []struct {
			Address string `json:"address"`
			Action  string `json:"action"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	actions := map[string]string{}
	for _, c := range rep.Changes {
		actions[c.Address] = c.Action
	}
	if rep.Risk != "high" || actions["tokenward_token.ci"] != "replace" || actions["tokenward_token.deploy"] != "delete" {
		t.Errorf("JSON report: risk %s, actions %v", rep.Risk, actions)
	}
}
