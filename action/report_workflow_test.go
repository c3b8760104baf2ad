package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// TestReportIssueLifecycle runs `tokenward report` as the weekly workflow
// does, with the real report against a fake GitHub: the issue is opened
// once, left alone a week later when the findings are the same (only the
// ages and the chart moved), edited once when they change, and closed with
// a comment when none at warn or above are left; info findings alone open
// none, and a pull_request run touches none. Each run sets the outputs risk and
// findings and writes the report as the step summary. (The same lifecycle
// with a store built by terraform apply is TestAccReportEndToEnd in
// internal/provider.)
func TestReportIssueLifecycle(t *testing.T) {
	t.Parallel()
	w, key := reportWorld(t)
	rw := newReportIssueWorkflow(t)
	dir := t.TempDir()
	type run struct {
		result
		outputs, summary string
	}
	report := func(ww world, now string) run {
		t.Helper()
		outputs, summary := filepath.Join(dir, now+".output"), filepath.Join(dir, now+".summary")
		for _, f := range []string{outputs, summary} {
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		kv := []string{"GITHUB_OUTPUT", outputs, "GITHUB_STEP_SUMMARY", summary, "TOKENWARD_NOW", now}
		for k, v := range rw.env {
			// What the run's world sets (the event) wins.
			if _, set := ww.env[k]; k != "TOKENWARD_NOW" && !set {
				kv = append(kv, k, v)
			}
		}
		r := ww.with(kv...).run(t, "")
		if r.code != exitOK {
			t.Fatalf("report at %s: exit %d\n%s%s", now, r.code, r.stdout, r.stderr)
		}
		out, _ := os.ReadFile(outputs)
		sum, _ := os.ReadFile(summary)
		for what, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "outputs": string(out), "summary": string(sum)} {
			if strings.Contains(text, key) || strings.Contains(text, "alice-Secret-7") {
				t.Errorf("the workflow's %s holds the master key or a sensitive value", what)
			}
			for _, line := range strings.Split(text, "\n") {
				if strings.Contains(line, "ghs_report_workflow") && line != "::add-mask::ghs_report_workflow" {
					t.Errorf("the workflow's %s prints the GitHub token: %q", what, line)
				}
			}
		}
		return run{r, string(out), string(sum)}
	}
	// check compares the outputs, and the step summary with the report.
	check := func(r run, risk string, findings int, day string) {
		t.Helper()
		for _, want := range []string{"risk<<", "\n" + risk + "\n", "findings<<", fmt.Sprintf("\n%d\n", findings)} {
			if !strings.Contains(r.outputs, want) {
				t.Errorf("the outputs lack %q:\n%s", want, r.outputs)
			}
		}
		if !strings.HasPrefix(r.summary, "## tokenward report: risk "+strings.ToUpper(risk)+"\n\n```mermaid\nxychart-beta\n") ||
			!strings.Contains(r.summary, "to "+day+".") ||
			!regexp.MustCompile(`<!-- tokenward-fingerprint: findings:[0-9a-f]{64} -->\n*$`).MatchString(r.summary) {
			t.Errorf("the step summary is not the report of %s:\n%s", day, r.summary)
		}
	}
	issue := func() (state string, edits int, title, body string) {
		t.Helper()
		var issues []githubtest.Issue
		for _, is := range rw.gh.Issues("acme/infra") {
			if !strings.HasPrefix(is.Body, review.IssueMarkerFor("staging")) {
				issues = append(issues, is)
			}
		}
		if len(issues) != 1 {
			t.Fatalf("%d issues, want the one report issue: %+v", len(issues), issues)
		}
		is := issues[0]
		return is.State, is.Edits, is.Title, is.Body
	}

	// ci-deploy, created on 2026-11-27, was never used; smtp.password's
	// sealed values were not checked without the key: two info findings,
	// which open no issue.
	r := report(w, "2026-12-07T05:00:00Z")
	if n := len(rw.gh.Issues("acme/infra")); n != 0 || !strings.Contains(r.stderr, "nothing to act on, and no report issue open") {
		t.Errorf("info findings only: %d issues\n%s", n, r.stderr)
	}
	check(r, "info", 2, "2026-12-07")

	// A policy that requires owners adds a high finding: the issue is
	// opened, its title counting that one, its body showing all three.
	policy := filepath.Join(dir, "policy.hcl")
	if err := os.WriteFile(policy, []byte("require_owner = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w = w.with("INPUT_POLICY", policy)
	r = report(w, "2026-12-07T06:00:00Z")
	state, edits, title, body := issue()
	if state != "open" || edits != 0 || title != "tokenward report: 1 finding to act on" ||
		!strings.Contains(body, "`ci-deploy` was created on 2026-11-27") || !strings.Contains(body, "the policy requires every token to name an owner") ||
		!strings.Contains(r.stderr, "report issue created: ") {
		t.Errorf("first run: %s, %d edits, %q\n%s\n%s", state, edits, title, body, r.stderr)
	}
	check(r, "high", 3, "2026-12-07")
	// The marker names the store by a hash of its id; issue-key names it
	// otherwise, and another key keeps another issue.
	if !regexp.MustCompile(`^<!-- tokenward-report key=store-[0-9a-f]{12} -->\n`).MatchString(body) {
		t.Errorf("the issue's marker does not name the store:\n%s", body)
	}
	r = report(w.with("INPUT_ISSUE-KEY", "staging"), "2026-12-07T06:30:00Z")
	if issues := rw.gh.Issues("acme/infra"); len(issues) != 2 || !strings.HasPrefix(issues[1].Body, "<!-- tokenward-report key=staging -->\n") ||
		issues[0].Edits != 0 || !strings.Contains(r.stderr, "report issue created: ") {
		t.Fatalf("with issue-key staging: %+v\n%s", issues, r.stderr)
	}

	// A week later: the same findings, a week older.
	r = report(w, "2026-12-14T06:00:00Z")
	if state, edits, _, _ = issue(); state != "open" || edits != 0 || rw.gh.Count("PATCH ") != 0 || !strings.Contains(r.stderr, "report issue unchanged: ") {
		t.Errorf("the same findings a week later: %s, %d edits\n%s", state, edits, r.stderr)
	}
	check(r, "high", 3, "2026-12-14")

	// With the master key the values are checked: an info finding fewer,
	// the body edited, the title the same.
	withKey := w.with("TOKENWARD_MASTER_KEY", key)
	r = report(withKey, "2026-12-14T07:00:00Z")
	if state, edits, title, body = issue(); state != "open" || edits != 1 || title != "tokenward report: 1 finding to act on" ||
		strings.Contains(body, "sensitive values of `smtp.password` were not checked") || !strings.Contains(r.stderr, "report issue updated: ") {
		t.Errorf("changed findings: %s, %d edits, %q\n%s\n%s", state, edits, title, body, r.stderr)
	}
	check(r, "high", 2, "2026-12-14")

	// A pull_request run with nothing at warn touches no issue.
	requests := rw.gh.Requests()
	r = report(withKey.with("INPUT_POLICY", "", "GITHUB_EVENT_NAME", "pull_request"), "2026-12-15T06:00:00Z")
	if state, _, _, _ = issue(); state != "open" || rw.gh.Requests() != requests || !strings.Contains(r.stderr, `no report issue kept on a "pull_request" run`) {
		t.Errorf("pull_request run: %s, %d requests\n%s", state, rw.gh.Requests()-requests, r.stderr)
	}

	// Without the policy only ci-deploy's info finding is left: the issue
	// is closed, though the report still shows it.
	withKey = withKey.with("INPUT_POLICY", "")
	r = report(withKey, "2026-12-21T06:00:00Z")
	// Closing is the second edit; the body stays the last report's.
	if state, edits, _, _ = issue(); state != "closed" || edits != 2 || !strings.Contains(r.stderr, "report issue closed: ") {
		t.Errorf("info findings only: %s, %d edits\n%s", state, edits, r.stderr)
	}
	comments := rw.gh.Comments("acme/infra", 1)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "tokenward report found nothing to act on on 2026-12-21") {
		t.Errorf("closing comments: %+v", comments)
	}
	check(r, "info", 1, "2026-12-21")

	// ci-deploy is used: nothing is left, and nothing is done.
	if v := w.with("TOKENWARD_NOW", "2026-12-22T09:00:00Z").run(t, w.value, "verify", "--scope", "billing:read"); v.code != exitOK {
		t.Fatalf("verify: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	r = report(withKey, "2026-12-28T06:00:00Z")
	if state, edits, _, _ = issue(); state != "closed" || edits != 2 || len(rw.gh.Comments("acme/infra", 1)) != 1 ||
		!strings.Contains(r.stderr, "nothing to act on, and no report issue open") {
		t.Errorf("no findings: %s, %d edits\n%s", state, edits, r.stderr)
	}
	check(r, "none", 0, "2026-12-28")
	if !strings.Contains(r.summary, "No findings.") {
		t.Errorf("the last step summary does not say there are no findings:\n%s", r.summary)
	}
	// Closing the store's issue left the staging key's alone.
	if staging := rw.gh.Issues("acme/infra")[1]; staging.State != "open" || staging.Edits != 0 {
		t.Errorf("the staging issue was touched: %+v", staging)
	}
}
