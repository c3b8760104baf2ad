package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// never is the --fail-on level that never fails.
const never = "never"

// reviewSettings are the review command's flags, completed with the
// action's inputs by cli.parse.
type reviewSettings struct {
	plan, format, failOn, policy string
}

// review reports what a plan changes in tokenward resources, with risk
// flags and the policy's verdict. In a workflow it writes the report as the
// step summary, sets the outputs risk and changes, and keeps one comment on
// the pull request up to date. It exits 1 when the risk reaches --fail-on.
func (c *cli) review(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("review")
	var s reviewSettings
	fs.StringVar(&s.plan, "plan", "", "the JSON of `terraform show -json PLANFILE`; - for standard input (input \"plan\")")
	fs.StringVar(&s.format, "format", "markdown", "markdown or json (input \"format\")")
	fs.StringVar(&s.failOn, "fail-on", "high", "exit 1 when a flag reaches info, warn or high; never to only report (input \"fail-on\")")
	fs.StringVar(&s.policy, "policy", "", "a policy file, HCL or JSON, with the settings of the provider's policy block (default: the provider block in the plan; input \"policy\")")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	failAt, err := s.check()
	if err != nil {
		return c.fail(exitUsage, "review: %v", err)
	}

	plan, err := c.readPlan(s.plan)
	if err != nil {
		return c.fail(exitUsage, "review: %v", err)
	}
	opts, err := reviewPolicy(plan, s.policy)
	if err != nil {
		return c.fail(exitUsage, "review: %v", err)
	}
	rep := review.Build(plan, opts)
	md := rep.Markdown()
	if s.format == "json" {
		_, err = c.stdout.Write(rep.JSON())
	} else {
		_, err = io.WriteString(c.stdout, md)
	}
	if err != nil {
		return c.fail(exitTrouble, "review: write the report: %v", err)
	}

	if c.getenv("GITHUB_OUTPUT") != "" {
		c.gha.SetOutput("risk", rep.Risk.String())
		c.gha.SetOutput("changes", strconv.Itoa(len(rep.Changes)))
	}
	if c.getenv("GITHUB_STEP_SUMMARY") != "" {
		c.gha.AddStepSummary(md)
	}
	if sf.store != "" {
		// Asked for: the head of the store's audit chain as a witness.
		if code := c.reviewAuditHead(ctx, sf); code != exitOK {
			return code
		}
	}
	if c.inWorkflow() {
		c.comment(ctx, md)
	}

	if failAt != review.None && rep.Risk >= failAt {
		return c.fail(exitFailed, "review: the change's risk is %s, which --fail-on %s refuses; a reviewer must agree to it, or the change must be narrowed",
			rep.Risk, s.failOn)
	}
	return exitOK
}

// check validates the settings and returns the level that fails the
// review; None for never.
func (s reviewSettings) check() (review.Level, error) {
	if s.plan == "" {
		return review.None, errors.New("--plan is required: the JSON of `terraform show -json PLANFILE` (the action's plan input)")
	}
	if s.format != "markdown" && s.format != "json" {
		return review.None, fmt.Errorf("--format %q must be markdown or json", s.format)
	}
	if s.failOn == never {
		return review.None, nil
	}
	l, err := review.ParseLevel(s.failOn)
	if err != nil {
		return review.None, fmt.Errorf("--fail-on %q must be info, warn, high or never", s.failOn)
	}
	return l, nil
}

func (c *cli) readPlan(path string) (*tfjson.Plan, error) {
	if path == "-" {
		return review.Read(c.stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	plan, err := review.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return plan, nil
}

// reviewPolicy picks the policy: the file when one is given, else the
// provider block of the plan's configuration.
func reviewPolicy(plan *tfjson.Plan, file string) (review.Options, error) {
	if file != "" {
		pol, err := review.LoadPolicy(file)
		if err != nil {
			return review.Options{}, err
		}
		return review.Options{Policy: pol, PolicySource: filepath.Base(file)}, nil
	}
	pol, ok, err := review.PolicyFromPlan(plan)
	if err != nil || !ok {
		return review.Options{}, err
	}
	return review.Options{Policy: pol, PolicySource: "the provider block"}, nil
}

// comment keeps the review comment on the pull request the workflow runs
// for. Not being able to comment is a warning: the step's outcome is the
// policy gate, and the report is in the step summary all the same.
func (c *cli) comment(ctx context.Context, md string) {
	number, ok := c.pullRequest()
	if !ok {
		return
	}
	repo := c.getenv("GITHUB_REPOSITORY")
	cfg, ok, err := destination.GitHubConfigFromEnv(c.env)
	switch {
	case err != nil:
		c.gha.Warningf("review: not commented on pull request #%d: %v", number, err)
		return
	case !ok:
		c.gha.Warningf("review: not commented on pull request #%d: no GitHub token; pass `github-token: ${{ github.token }}` "+
			"and give the job `permissions: pull-requests: write`", number)
		return
	}
	client, err := destination.NewGitHubClient(cfg)
	if err == nil {
		var cm review.Comment
		cm, err = review.PublishComment(ctx, client, repo, number, md)
		if err == nil {
			verb := "updated"
			if cm.Created {
				verb = "posted"
			}
			fmt.Fprintf(c.stderr, "review %s on pull request #%d: %s\n", verb, number, cm.URL)
			return
		}
	}
	c.gha.Warningf("review: not commented on pull request #%d: %v", number, err)
}

// pullRequest is the number of the pull request the workflow runs for,
// from the event that started it.
func (c *cli) pullRequest() (int, bool) {
	switch c.getenv("GITHUB_EVENT_NAME") {
	case "pull_request", "pull_request_target":
	default:
		return 0, false
	}
	ghc, err := c.gha.Context()
	if err != nil || ghc.Event == nil {
		return 0, false
	}
	pr, _ := ghc.Event["pull_request"].(map[string]any)
	n, ok := pr["number"].(float64)
	if !ok {
		n, ok = ghc.Event["number"].(float64)
	}
	if !ok || n <= 0 {
		return 0, false
	}
	return int(n), true
}

// reviewAuditHead reports the audit head of the store review was given
// with --store, on stderr since stdout holds the report. It needs no key.
func (c *cli) reviewAuditHead(ctx context.Context, sf *storeFlags) int {
	ar, err := c.openAuditReader(ctx, sf)
	if err != nil {
		return c.fail(exitTrouble, "review: %v", err)
	}
	defer ar.Close()
	head, err := ar.Head(ctx)
	if err != nil {
		return c.fail(exitTrouble, "review: %v", err)
	}
	c.reportAuditHead(c.stderr, head)
	return exitOK
}
