package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// issueHelp is what a workflow needs to keep the report issue.
const issueHelp = "pass `github-token: ${{ github.token }}` and give the job `permissions: issues: write`"

// reportIssueRun is what keepReportIssue keeps the issue with.
type reportIssueRun struct {
	// markdown is the whole report, every finding in it.
	markdown string
	// findings is how many reach warn: info findings (a value left
	// unchecked, no checkpoint yet) neither open the issue nor keep it open.
	findings int
	// keep is --keep-issue: auto, true or false.
	keep string
	// key names the store in the issue's marker (see reportIssueKey).
	key func() (string, error)
}

// issueEvents are the events on which keep-issue auto keeps the issue: the
// runs of the report workflow. A report step in a pull_request workflow,
// say against a test store, must not close the production store's issue.
var issueEvents = map[string]bool{"schedule": true, "workflow_dispatch": true, "push": true}

// keepReportIssue keeps the one report issue of the store in the repository
// the workflow runs in up to date with the report: opened or edited while
// it has findings at warn or above, closed with a comment when none are left
// (see review.PublishIssue). Outside a workflow, with keep-issue false, or
// with auto on another event than issueEvents', it does nothing. Not being
// able to keep the issue is a warning: the step's outcome is --fail-on's,
// and the report is in the step summary all the same.
func (c *cli) keepReportIssue(ctx context.Context, r reportIssueRun) {
	if !c.inWorkflow() || r.keep == "false" {
		return
	}
	if ev := c.getenv("GITHUB_EVENT_NAME"); r.keep != "true" && !issueEvents[ev] {
		fmt.Fprintf(c.stderr, "report: no report issue kept on a %q run: only schedule, workflow_dispatch and push runs keep it (keep-issue: true keeps it on every run)\n", clean(ev))
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
	key, err := r.key()
	if err != nil {
		c.gha.Warningf("report: no report issue kept in %s: %v", repo, err)
		return
	}
	client, err := destination.NewGitHubClient(cfg)
	if err != nil {
		c.gha.Warningf("report: no report issue kept in %s: %v", repo, err)
		return
	}
	// GET /user fails for the workflow's GITHUB_TOKEN, so PublishIssue
	// cannot learn who writes: github-actions[bot], unless a GitHub App
	// writes, whose bot (SLUG[bot]) its installation token cannot learn:
	// then any bot's issue with this store's key is taken.
	bot := review.WorkflowBot
	if cfg.AppID != 0 {
		bot = ""
	}
	is, err := review.PublishIssue(ctx, client, repo, review.IssueReport{
		Title: reportIssueTitle(r.findings), Body: r.markdown, Findings: r.findings, Key: key, Bot: bot, Now: now(),
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

// reportIssueKey names the store in the report issue's marker: explicit
// when given (--issue-key), else "store-" and 12 hex digits of the SHA-256
// of the store's id (registry.StoreID, the same for a store and its copies:
// a staging store restored from production's backup needs its own
// --issue-key), or of its location (without password) while it has
// recorded nothing.
func reportIssueKey(ctx context.Context, reg *registry.Registry, explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	id, err := reg.StoreID(ctx)
	if err != nil {
		return "", fmt.Errorf("name the store for the issue (or give issue-key): %w", err)
	}
	if id == "" {
		id = "location:" + reg.Location()
	}
	sum := sha256.Sum256([]byte(id))
	return "store-" + hex.EncodeToString(sum[:6]), nil
}

// reportIssueTitle is the issue's title, which the issue list shows: how
// many findings there are to act on (at warn or above).
func reportIssueTitle(findings int) string {
	if findings == 1 {
		return "tokenward report: 1 finding to act on"
	}
	return fmt.Sprintf("tokenward report: %d findings to act on", findings)
}
