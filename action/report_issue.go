package main

import (
	"context"
	"fmt"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// issueHelp is what a workflow needs to keep the report issue.
const issueHelp = "pass `github-token: ${{ github.token }}` and give the job `permissions: issues: write`"

// keepReportIssue keeps the one report issue of the repository the
// workflow runs in up to date with the report: opened or edited while it
// has findings, closed with a comment when none are left (see
// review.PublishIssue). Outside a workflow it does nothing. Not being able
// to keep the issue is a warning: the step's outcome is --fail-on's, and the
// report is in the step summary all the same.
func (c *cli) keepReportIssue(ctx context.Context, markdown string, findings int) {
	if !c.inWorkflow() {
		return
	}
	repo := c.getenv("GITHUB_REPOSITORY")
	if repo == "" {
		c.gha.Warningf("report: no report issue kept: GITHUB_REPOSITORY is not set")
		return
	}
	cfg, ok, err := destination.GitHubConfigFromEnv(c.env)
	switch {
	case err != nil:
		c.gha.Warningf("report: no report issue kept in %s: %v", repo, err)
		return
	case !ok:
		c.gha.Warningf("report: no report issue kept in %s: no GitHub token; %s", repo, issueHelp)
		return
	}
	now, err := registry.ClockFromEnv(c.getenv)
	if err != nil {
		c.gha.Warningf("report: no report issue kept in %s: %v", repo, err)
		return
	}
	client, err := destination.NewGitHubClient(cfg)
	if err != nil {
		c.gha.Warningf("report: no report issue kept in %s: %v", repo, err)
		return
	}
	is, err := review.PublishIssue(ctx, client, repo, review.IssueReport{
		Title: reportIssueTitle(findings), Body: markdown, Findings: findings, Now: now(),
	})
	if err != nil {
		c.gha.Warningf("report: no report issue kept in %s: %v", repo, err)
		return
	}
	switch is.Action {
	case review.IssueNone:
		fmt.Fprintf(c.stderr, "report: nothing to act on, and no report issue open in %s\n", repo)
	case review.IssueDismissed:
		fmt.Fprintf(c.stderr, "report issue left closed: someone closed it with these same findings: %s\n", is.URL)
	default:
		fmt.Fprintf(c.stderr, "report issue %s: %s\n", is.Action, is.URL)
	}
	if is.Truncated {
		c.gha.Warningf("report: the report issue holds the report cut to GitHub's limit; the whole report is in the step summary")
	}
}

// reportIssueTitle is the issue's title, which the issue list shows: how
// many findings there are to act on.
func reportIssueTitle(findings int) string {
	if findings == 1 {
		return "tokenward report: 1 finding to act on"
	}
	return fmt.Sprintf("tokenward report: %d findings to act on", findings)
}
