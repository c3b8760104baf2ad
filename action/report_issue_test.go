package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// reportIssueWorkflow is the environment of the report action on a
// schedule: a repository, a fake GitHub and the workflow's token.
type reportIssueWorkflow struct {
	gh  *githubtest.Server
	env map[string]string
}

func newReportIssueWorkflow(t *testing.T) reportIssueWorkflow {
	t.Helper()
	gh := githubtest.New(t)
	gh.AddRepo("acme/infra")
	gh.AddTokenGrant("ghs_report_workflow", githubtest.TokenGrant{WriteIssues: true})
	gh.AddTokenGrant("ghs_read_only", githubtest.TokenGrant{})
	return reportIssueWorkflow{gh: gh, env: map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "schedule", "GITHUB_REPOSITORY": "acme/infra",
		"GITHUB_API_URL": gh.URL(), "INPUT_COMMAND": "report", "INPUT_GITHUB-TOKEN": "ghs_report_workflow",
		"TOKENWARD_GITHUB_PACE": "0s", "TOKENWARD_NOW": "2026-12-07T06:00:00Z",
	}}
}

// keep runs keepReportIssue, with keep-issue auto and the issue key
// prod, with the workflow's environment changed by kv, and returns what it
// printed on stdout (workflow commands) and stderr.
func (rw reportIssueWorkflow) keep(t *testing.T, markdown string, findings int, kv ...string) (string, string) {
	t.Helper()
	return rw.keepRun(t, reportIssueRun{markdown: markdown, findings: findings, keep: "auto",
		key: func() (string, error) { return "prod", nil }}, kv...)
}

func (rw reportIssueWorkflow) keepRun(t *testing.T, r reportIssueRun, kv ...string) (string, string) {
	t.Helper()
	env := map[string]string{}
	for k, v := range rw.env {
		env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	var out, errOut strings.Builder
	getenv := func(k string) string { return env[k] }
	c := &cli{stdout: &out, stderr: &errOut, getenv: getenv,
		gha: githubactions.New(githubactions.WithWriter(&out), githubactions.WithGetenv(getenv))}
	c.keepReportIssue(context.Background(), r)
	for _, line := range strings.Split(out.String()+errOut.String(), "\n") {
		if strings.Contains(line, "ghs_") && !strings.HasPrefix(line, "::add-mask::") {
			t.Errorf("a GitHub token was printed: %q", line)
		}
	}
	return out.String(), errOut.String()
}

// weekly is a report's Markdown on day, with its findings.
func weekly(day string, findings ...string) string {
	var b strings.Builder
	b.WriteString("## tokenward report\n\n" + review.VolatileStart + "As of " + day + "." + review.VolatileEnd + "\n\n")
	b.WriteString("```mermaid\nxychart-beta\n  title \"" + day + "\"\n```\n\n")
	for _, f := range findings {
		b.WriteString("- " + f + "\n")
	}
	return b.String()
}

func TestKeepReportIssue(t *testing.T) {
	t.Parallel()
	rw := newReportIssueWorkflow(t)
	one := func() githubtest.Issue {
		t.Helper()
		issues := rw.gh.Issues("acme/infra")
		if len(issues) != 1 {
			t.Fatalf("%d issues, want the one report issue: %+v", len(issues), issues)
		}
		return issues[0]
	}

	// Created with findings.
	stdout, stderr := rw.keep(t, weekly("2026-12-07", "**high** billing-ci holds billing:write, never used"), 1)
	is := one()
	if strings.Contains(stdout, "::warning::") || !strings.Contains(stderr, "report issue created: https://github.com/acme/infra/issues/1") {
		t.Errorf("first run printed:\n%s%s", stdout, stderr)
	}
	if is.Title != "tokenward report: 1 finding to act on" || is.State != "open" || is.User != githubtest.DefaultLogin ||
		!strings.HasPrefix(is.Body, review.IssueMarkerFor("prod")+"\n") || !strings.Contains(is.Body, "billing-ci holds billing:write") {
		t.Errorf("created issue: %+v", is)
	}

	// A week later, the same findings: no edit.
	_, stderr = rw.keep(t, weekly("2026-12-14", "**high** billing-ci holds billing:write, never used"), 1)
	if is = one(); is.Edits != 0 || rw.gh.Count("PATCH ") != 0 || !strings.Contains(stderr, "report issue unchanged: ") {
		t.Errorf("unchanged findings edited the issue: %+v\n%s", is, stderr)
	}

	// Changed findings: one edit.
	changed := weekly("2026-12-21", "**high** billing-ci holds billing:write, never used", "**warn** deploy not used for 45 days")
	_, stderr = rw.keep(t, changed, 2)
	if is = one(); is.Edits != 1 || is.Title != "tokenward report: 2 findings to act on" || !strings.Contains(is.Body, "deploy not used for 45 days") ||
		!strings.Contains(stderr, "report issue updated: ") {
		t.Errorf("changed findings: %+v\n%s", is, stderr)
	}

	// No findings: closed with a comment dated by the run.
	_, stderr = rw.keep(t, weekly("2026-12-28"), 0)
	if is = one(); is.State != "closed" || !strings.Contains(stderr, "report issue closed: ") {
		t.Errorf("no findings: %+v\n%s", is, stderr)
	}
	comments := rw.gh.Comments("acme/infra", 1)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "tokenward report found nothing to act on on 2026-12-07") {
		t.Errorf("closing comments: %+v", comments)
	}
	_, stderr = rw.keep(t, weekly("2027-01-04"), 0)
	if is = one(); is.State != "closed" || len(rw.gh.Comments("acme/infra", 1)) != 1 || !strings.Contains(stderr, "no report issue open") {
		t.Errorf("no findings again: %+v\n%s", is, stderr)
	}
}

// Not being able to keep the issue warns, naming what to give the job.
func TestKeepReportIssueCannot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kv   []string
		want string
	}{
		{"no token", []string{"INPUT_GITHUB-TOKEN", ""}, "no GitHub token; pass `github-token: ${{ github.token }}` and give the job `permissions: issues: write`"},
		{"read-only token", []string{"INPUT_GITHUB-TOKEN", "ghs_read_only"}, "`permissions: issues: write`"},
		{"unknown repository", []string{"GITHUB_REPOSITORY", "acme/missing"}, "repository acme/missing not found"},
		{"no repository", []string{"GITHUB_REPOSITORY", ""}, "GITHUB_REPOSITORY is not set"},
		{"bad clock", []string{"TOKENWARD_NOW", "monday"}, "TOKENWARD_NOW"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rw := newReportIssueWorkflow(t)
			stdout, _ := rw.keep(t, weekly("2026-12-07", "a finding"), 1, tc.kv...)
			if !strings.Contains(stdout, "::warning::report: no report issue kept") || !strings.Contains(stdout, tc.want) {
				t.Errorf("no warning saying %q:\n%s", tc.want, stdout)
			}
			if n := len(rw.gh.Issues("acme/infra")); n != 0 {
				t.Errorf("%d issues opened", n)
			}
		})
	}
}

// Outside a workflow, nothing is sent to GitHub.
func TestKeepReportIssueOnlyInWorkflows(t *testing.T) {
	t.Parallel()
	rw := newReportIssueWorkflow(t)
	stdout, stderr := rw.keep(t, weekly("2026-12-07", "a finding"), 1, "GITHUB_ACTIONS", "")
	if rw.gh.Requests() != 0 || stdout != "" || stderr != "" {
		t.Errorf("outside a workflow: %d requests, printed %q %q", rw.gh.Requests(), stdout, stderr)
	}
}

// keep-issue auto keeps the issue on the report workflow's events only: a
// report step in a pull_request workflow (against a test store, say) does
// not close the issue. true keeps it on every event, false on none.
func TestKeepReportIssueEvents(t *testing.T) {
	t.Parallel()
	rw := newReportIssueWorkflow(t)
	rw.keep(t, weekly("2026-12-07", "**high** billing-ci holds billing:write, never used"), 1)
	if n := len(rw.gh.Issues("acme/infra")); n != 1 {
		t.Fatalf("%d issues after the scheduled run", n)
	}
	requests := rw.gh.Requests()
	for _, ev := range []string{"pull_request", "pull_request_target", "issue_comment", ""} {
		stdout, stderr := rw.keep(t, weekly("2026-12-08"), 0, "GITHUB_EVENT_NAME", ev)
		if rw.gh.Requests() != requests || stdout != "" || !strings.Contains(stderr, "only schedule, workflow_dispatch and push runs keep it") {
			t.Errorf("%q run: %d requests, printed %q %q", ev, rw.gh.Requests()-requests, stdout, stderr)
		}
	}
	run := func(keep string) reportIssueRun {
		return reportIssueRun{markdown: weekly("2026-12-08"), keep: keep, key: func() (string, error) { return "prod", nil }}
	}
	if stdout, stderr := rw.keepRun(t, run("false"), "GITHUB_EVENT_NAME", "schedule"); rw.gh.Requests() != requests || stdout+stderr != "" {
		t.Errorf("keep-issue false: %d requests, printed %q %q", rw.gh.Requests()-requests, stdout, stderr)
	}
	for _, ev := range []string{"workflow_dispatch", "push"} {
		rw.keep(t, weekly("2026-12-08", "**high** billing-ci holds billing:write, never used"), 1, "GITHUB_EVENT_NAME", ev)
		if rw.gh.Requests() == requests {
			t.Errorf("a %s run kept no issue", ev)
		}
	}
	if _, stderr := rw.keepRun(t, run("true"), "GITHUB_EVENT_NAME", "pull_request"); !strings.Contains(stderr, "report issue closed: ") {
		t.Errorf("keep-issue true on pull_request: %s", stderr)
	}
	if is := rw.gh.Issues("acme/infra"); len(is) != 1 || is[0].State != "closed" {
		t.Errorf("issues: %+v", is)
	}
}

// Each key keeps its own issue: a staging store's report with nothing to
// act on leaves production's issue open; an issue of another bot with the
// same key is not touched; a key that cannot be computed is a warning.
func TestKeepReportIssueKeys(t *testing.T) {
	t.Parallel()
	rw := newReportIssueWorkflow(t)
	keyed := func(key, markdown string, findings int) (string, string) {
		return rw.keepRun(t, reportIssueRun{markdown: markdown, findings: findings, keep: "auto", key: func() (string, error) { return key, nil }})
	}
	other := rw.gh.OpenIssue("acme/infra", "some-other-app[bot]", "report", review.IssueMarkerFor("staging")+"\nnot ours")
	keyed("prod", weekly("2026-12-07", "**high** billing-ci holds billing:write, never used"), 1)
	stdout, _ := keyed("staging", weekly("2026-12-07", "**warn** test-ci not used for 45 days"), 1)
	if !strings.Contains(stdout, "::warning::report: no report issue kept in acme/infra: ") || !strings.Contains(stdout, `opened by "some-other-app[bot]"`) {
		t.Errorf("staging beside another bot's issue printed:\n%s", stdout)
	}
	rw.gh.CloseIssue("acme/infra", other, "octocat", "not_planned")
	keyed("staging", weekly("2026-12-07", "**warn** test-ci not used for 45 days"), 1)
	keyed("staging", weekly("2026-12-14"), 0)
	states := map[string]string{}
	for _, is := range rw.gh.Issues("acme/infra") {
		if is.Number == other {
			if is.Edits != 0 || is.State != "closed" || is.ClosedBy != "octocat" || len(rw.gh.Comments("acme/infra", other)) != 0 {
				t.Errorf("another bot's issue was touched: %+v", is)
			}
			continue
		}
		key, _, _ := strings.Cut(strings.TrimPrefix(is.Body, review.IssueMarker+" key="), " ")
		states[key] = is.State
	}
	if states["prod"] != "open" || states["staging"] != "closed" || len(states) != 2 {
		t.Errorf("issues by key: %v, want prod open and staging closed", states)
	}
	stdout, _ = rw.keepRun(t, reportIssueRun{markdown: "x", findings: 1, keep: "auto", key: func() (string, error) { return "", errors.New("read the store's first audit event: gone") }})
	if !strings.Contains(stdout, "::warning::report: no report issue kept in acme/infra: read the store's first audit event: gone") {
		t.Errorf("key error printed:\n%s", stdout)
	}
}
