package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/report"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
)

// tokenward report: a review of the store as it is now (issue 17). It
// opens the store read-only and needs no master key; given one, it also
// checks the sensitive user values and the checkpoint signatures.

// reportSettings are the report command's flags.
type reportSettings struct {
	format, failOn, policy string
	unusedAfter            time.Duration
	// issueKey names the store in the report issue's marker (default: a
	// hash of the store's id); keepIssue is auto, true or false.
	issueKey, keepIssue string
}

// report reviews the store and prints the findings; in a workflow it sets
// the outputs risk and findings, writes the step summary and keeps the
// report's issue. It exits 1 when a finding reaches --fail-on.
func (c *cli) report(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("report")
	var s reportSettings
	fs.StringVar(&s.format, "format", "markdown", "markdown or json (input \"format\")")
	fs.StringVar(&s.failOn, "fail-on", never, "exit 1 when a finding reaches info, warn or high; never to only report (default $TOKENWARD_FAIL_ON)")
	fs.StringVar(&s.policy, "policy", "", "a policy file, HCL or JSON, with the settings of the provider's policy block, checked against every token (input \"policy\")")
	fs.StringVar(&s.issueKey, "issue-key", "", "in a workflow, the name of the store in the report issue's hidden marker, 1 to 64 letters, digits, and . _ -; each key keeps its own issue (default: a hash of the store's id) (input \"issue-key\")")
	fs.StringVar(&s.keepIssue, "keep-issue", "auto", "in a workflow, keep the report issue: auto on schedule, workflow_dispatch and push runs only; true on every run; false never (input \"keep-issue\")")
	unusedAfter := spanFlag(fs, "unused-after", report.DefaultUnusedAfter, "a token unused this long is reported, and scopes are weighed over this window, such as 30d (default $TOKENWARD_UNUSED_AFTER)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	s.unusedAfter = *unusedAfter
	failAt, err := s.check()
	if err != nil {
		return c.fail(exitUsage, "report: %v", err)
	}
	opts := report.Options{UnusedAfter: s.unusedAfter}
	if s.policy != "" {
		if opts.Policy, err = review.LoadPolicy(s.policy); err != nil {
			return c.fail(exitUsage, "report: %v", err)
		}
		opts.PolicySource = filepath.Base(s.policy)
	}
	now, err := registry.ClockFromEnv(c.getenv)
	if err != nil {
		return c.fail(exitUsage, "report: %v", err)
	}
	opts.Now = now()
	cfg := c.config(sf)
	reg, hasKey, err := registry.OpenReader(ctx, cfg)
	if err != nil {
		return c.fail(exitTrouble, "report: %v", err)
	}
	defer reg.Close()
	if opts.AuditKeys, err = c.reportAuditKeys(cfg, hasKey); err != nil {
		return c.fail(exitUsage, "report: %v", err)
	}
	rep, err := report.Build(ctx, reg, opts)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	// The Markdown is rendered only when something shows it.
	var md string
	if s.format == "markdown" || c.getenv("GITHUB_STEP_SUMMARY") != "" || c.inWorkflow() {
		md = rep.Markdown()
	}
	if s.format == "json" {
		_, err = c.stdout.Write(rep.JSON())
	} else {
		_, err = io.WriteString(c.stdout, md)
	}
	if err != nil {
		return c.fail(exitTrouble, "report: write the report: %v", err)
	}
	if c.getenv("GITHUB_OUTPUT") != "" {
		c.gha.SetOutput("risk", rep.Risk.String())
		c.gha.SetOutput("findings", strconv.Itoa(len(rep.Findings)))
	}
	if c.getenv("GITHUB_STEP_SUMMARY") != "" {
		c.gha.AddStepSummary(md)
	}
	if c.inWorkflow() {
		c.keepReportIssue(ctx, reportIssueRun{markdown: md, findings: rep.Count(review.Warn), keep: s.keepIssue,
			key: func() (string, error) { return reportIssueKey(ctx, reg, s.issueKey) }})
	}
	if failAt != review.None && rep.Risk >= failAt {
		return c.fail(exitFailed, "report: %d findings reach %s (risk %s), which --fail-on %s refuses", rep.Count(failAt), failAt, rep.Risk, s.failOn)
	}
	return exitOK
}

// check validates the settings and returns the level that fails the
// report; None for never.
func (s reportSettings) check() (review.Level, error) {
	if s.format != "markdown" && s.format != "json" {
		return review.None, fmt.Errorf("--format %q must be markdown or json", clean(s.format))
	}
	if s.issueKey != "" && !review.ValidIssueKey(s.issueKey) {
		return review.None, fmt.Errorf("--issue-key %q must be 1 to 64 letters, digits, and . _ -, such as production", clean(s.issueKey))
	}
	if s.keepIssue != "auto" && s.keepIssue != "true" && s.keepIssue != "false" {
		return review.None, fmt.Errorf("--keep-issue %q must be auto, true or false", clean(s.keepIssue))
	}
	if s.unusedAfter <= 0 {
		return review.None, errors.New("--unused-after must be longer than zero, such as 30d")
	}
	if s.failOn == never {
		return review.None, nil
	}
	l, err := review.ParseLevel(s.failOn)
	if err != nil {
		return review.None, fmt.Errorf("--fail-on %q must be info, warn, high or never", clean(s.failOn))
	}
	return l, nil
}

// reportAuditKeys are the public keys the report checks checkpoint
// signatures with: TOKENWARD_AUDIT_PUBKEY, else those of the master key
// when one was given; none leaves them unchecked.
func (c *cli) reportAuditKeys(cfg registry.Config, hasKey bool) (map[string]ed25519.PublicKey, error) {
	out := map[string]ed25519.PublicKey{}
	var pubs []seal.PublicKey
	switch v := c.getenv(EnvAuditPubkey); {
	case v != "":
		var err error
		if pubs, err = seal.ParsePublicKeys(v); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvAuditPubkey, err)
		}
	case hasKey:
		keys, err := registry.Keyring(cfg)
		if err != nil {
			return nil, err
		}
		if pubs, err = keys.PublicKeys(); err != nil {
			return nil, err
		}
	}
	for _, k := range pubs {
		out[k.ID] = k.Key
	}
	return out, nil
}
