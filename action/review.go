package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// never is the --fail-on level that never fails.
const never = "never"

// reviewSettings are the review command's flags, completed with the
// action's inputs by cli.parse.
type reviewSettings struct {
	plan, format, failOn, policy string
	usageWindow                  time.Duration
}

// defaultUsageWindow is how far back review --store reads the scopes each
// changed token used.
const defaultUsageWindow = 30 * duration.Day

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
	window := spanFlag(fs, "usage-window", defaultUsageWindow, "with --store: how far back to read the scopes each changed token used, such as 30d (at least 7d)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	s.usageWindow = *window
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
	var cfg registry.Config // of the store given with --store
	if sf.store != "" {
		now, err := registry.ClockFromEnv(c.getenv)
		if err != nil {
			return c.fail(exitUsage, "review: %v", err)
		}
		cfg = c.config(sf)
		opts.Runtime = c.reviewUsage(ctx, cfg, plan, now(), s.usageWindow)
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
		if code := c.reviewAuditHead(ctx, cfg); code != exitOK {
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
	if s.usageWindow < review.RecentUse {
		return review.None, fmt.Errorf("--usage-window %s is shorter than 7d, the span in which a use counts as recent: give 7d or more, such as 30d",
			duration.Format(s.usageWindow))
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
func (c *cli) reviewAuditHead(ctx context.Context, cfg registry.Config) int {
	ar, err := registry.OpenAuditReader(ctx, cfg)
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

// reviewUsage reads what the usage log of the store given with --store
// says about the plan's tokens: each one's last use (its network, not its
// address: the report may be posted on a public pull request) and the
// scopes it used since now - window. It opens the store read-only, without
// the master key. A store it cannot read, or one whose usage log is empty,
// is said in the report's one line and warned about, never a failure: the
// review is the same without it.
func (c *cli) reviewUsage(ctx context.Context, cfg registry.Config, plan *tfjson.Plan, now time.Time, window time.Duration) *review.Runtime {
	rt := &review.Runtime{Now: now, Window: window, Tokens: map[string]review.TokenUsage{}}
	unavailable := func(why string, err error) *review.Runtime {
		if err != nil {
			c.warning("review: usage not shown: %s: %v", why, err)
			why += " (the reason is in the log)"
		}
		return &review.Runtime{Now: now, Window: window, Unavailable: why}
	}
	reg, err := registry.OpenVerifier(ctx, cfg)
	if err != nil {
		return unavailable("the store could not be read", err)
	}
	defer reg.Close()
	log, err := reg.UsageLog()
	if err != nil {
		return unavailable("the store keeps no usage log", nil)
	}
	if newest, err := log.Usage(ctx, store.UsageQuery{Limit: 1}); err != nil {
		return unavailable("the usage log could not be read", err)
	} else if len(newest) == 0 {
		return unavailable("the store's usage log holds no event yet (is `tokenward serve` recording usage?)", nil)
	}
	rollup, err := reg.UsageRollup()
	if err != nil {
		return unavailable("the store keeps no daily usage rollup", nil)
	}
	names := map[string]string{} // token id → name in the store
	for _, name := range review.StoreTokens(plan) {
		id, err := reg.TokenID(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue // not in this store: the review says so
		}
		if err != nil {
			return unavailable("the store's tokens could not be read", err)
		}
		at, ip, ok, err := reg.LastUsed(ctx, id)
		if err != nil {
			return unavailable("the usage log could not be read", err)
		}
		u := review.TokenUsage{Scopes: map[string]review.ScopeUse{}}
		if ok {
			u.LastUsedAt, u.LastUsedNetwork = at, store.UsageNetwork(ip)
		}
		rt.Tokens[name] = u
		names[id] = name
	}
	if len(names) == 0 {
		return rt
	}
	uses, err := rollup.ScopeUses(ctx, now.Add(-window))
	if err != nil {
		return unavailable("the daily usage rollup could not be read", err)
	}
	for _, su := range uses {
		if name, ok := names[su.TokenID]; ok {
			rt.Tokens[name].Scopes[su.Scope] = review.ScopeUse{Uses: su.Uses, LastAt: su.LastAt}
		}
	}
	return rt
}

// warning is a warning: an annotation in a workflow, a line on stderr
// elsewhere.
func (c *cli) warning(format string, args ...any) {
	if c.inWorkflow() {
		c.gha.Warningf(format, args...)
		return
	}
	fmt.Fprintf(c.stderr, "tokenward: warning: "+format+"\n", args...)
}
