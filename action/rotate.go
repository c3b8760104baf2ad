package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

func (c *cli) rotate(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("rotate")
	dryRun := fs.Bool("dry-run", false, "list what is due and change nothing")
	force := fs.Bool("force", false, "rotate the selected tokens even when they are not due (all tokens without --token)")
	var names stringList
	fs.Var(&names, "token", "rotate only this token (repeatable)")
	maxRotations := intFlag(fs, "max-rotations", 0, 0, "rotate at most `N` tokens in this run; the rest are reported as still due (0: no bound)")
	workers := intFlag(fs, "workers", 4, 1, "`N` tokens rotated at once, 1 or more; GitHub writes are paced whatever this is")
	skipFiles := fs.Bool("skip-files", false, "leave out tokens that deliver to files, for a machine that does not hold them (default true on a GitHub-hosted runner)")
	honeytokens := fs.Bool("honeytokens", false, "rotate honeytokens too (they are left alone unless named with --token)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	for _, n := range names {
		if len(n) > registry.MaxNameLength {
			return c.fail(exitUsage, "rotate: --token %s is %d characters long; a token's name is at most %d", registry.Quote(n), len(n), registry.MaxNameLength)
		}
	}
	opts := rotation.RunOptions{DryRun: *dryRun, MaxRotations: *maxRotations, Selection: rotation.Selection{Force: *force, Tokens: names, Honeytokens: *honeytokens}}
	if c.skipFiles(fs, *skipFiles) {
		opts.SkipKinds = []string{destination.KindFile}
	}
	reg, err := c.open(ctx, sf, registry.WithCheckpointEvery(rotateCheckpointEvery))
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	eng, err := c.engine(reg, rotation.WithWorkers(*workers), rotation.WithProgress(c.progress(time.Now)),
		rotation.WithLockNotice(c.lockNotice))
	if err != nil {
		return c.fail(exitTrouble, "rotate: %v", err)
	}
	rep, err := eng.Run(ctx, opts)
	if err != nil && len(rep.Results) == 0 {
		if errors.Is(err, registry.ErrNotFound) {
			return c.fail(exitUsage, "%v", err)
		}
		return c.fail(exitTrouble, "%v", err)
	}
	if opts.DryRun {
		return c.auditHead(ctx, reg, false, c.reportPlan(rep))
	}
	// Tokens rotated before a late error are reported all the same.
	code := c.auditHead(ctx, reg, true, c.reportRun(rep))
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	return code
}

// skipFiles completes --skip-files: the flag or the action's skip-files
// input when either is set, else true on a GitHub-hosted runner, whose disk
// is thrown away after the job and holds no consumer's files.
func (c *cli) skipFiles(fs *flag.FlagSet, skip bool) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "skip-files" })
	if set {
		return skip
	}
	return c.getenv("RUNNER_ENVIRONMENT") == "github-hosted"
}

// reportLeftOut says which due tokens a run left out because they deliver
// to files, as a warning in a workflow: they must be rotated elsewhere. It
// returns the rows for the step summary.
func (c *cli) reportLeftOut(rep rotation.Report) string {
	var b strings.Builder
	for _, it := range rep.LeftOut {
		msg := fmt.Sprintf("%s is %s but left out: it delivers to files, which this machine does not hold (--skip-files); "+
			"rotate it on the host that holds them: tokenward rotate --token %s", it.Token, it.Reason, it.Token)
		fmt.Fprintln(c.stdout, "left out:", msg)
		if c.inWorkflow() {
			c.gha.Warningf("%s", msg)
		}
		fmt.Fprintf(&b, "| %s | %s | left out: delivers to files; rotate it where they are |\n", cell(it.Token), it.Reason)
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n| Token | Reason | Left out |\n|---|---|---|\n" + b.String()
}

// reportHoneytokens says which due (or forced) honeytokens a run left
// alone, and how to rotate them; no warning, since leaving a decoy where it
// was planted is what a run should do. It returns the rows for the step
// summary.
func (c *cli) reportHoneytokens(rep rotation.Report) string {
	var b strings.Builder
	for _, it := range rep.Honeytokens {
		fmt.Fprintf(c.stdout, "left alone: %s is a honeytoken (%s); honeytokens rotate only when asked: tokenward rotate --honeytokens, or --token %s\n",
			it.Token, it.Reason, it.Token)
		fmt.Fprintf(&b, "| %s | %s | left alone: honeytoken (rotate with --honeytokens or --token) |\n", cell(it.Token), it.Reason)
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n| Token | Reason | Left alone |\n|---|---|---|\n" + b.String()
}

// lockNotice says on stderr, and as a notice in a workflow, whom a run
// waits for when its lock is held, since when, and when that lease lapses,
// so a run after a crash does not wait in silence; or that it took over
// the lock of a holder whose process is gone.
func (c *cli) lockNotice(h rotation.LockHeld) {
	what := "the store's run lock"
	if h.Token != "" {
		what = "the lock of token " + h.Token
	}
	who := "holder " + h.Holder
	if h.PID != 0 {
		who = fmt.Sprintf("pid %d on host %s", h.PID, h.Host)
	}
	if !h.Since.IsZero() {
		who += " since " + timeOrDash(h.Since)
	}
	var msg string
	if h.TakenOver {
		msg = fmt.Sprintf("took over %s from %s: that process is gone (a crash?), so its lease was not waited for", what, who)
	} else {
		msg = fmt.Sprintf("%s is held by %s; its lease lapses at %s unless that process renews it (a crashed one does not); waiting until %s at the latest",
			what, who, timeOrDash(h.ExpiresAt), timeOrDash(h.WaitUntil))
	}
	fmt.Fprintln(c.stderr, "tokenward:", msg)
	if c.inWorkflow() {
		c.gha.Noticef("%s", msg)
	}
}

// progressEvery is the longest a run of many tokens goes without a progress
// line: GitHub's pacing (a second per write) makes a twentieth of a large
// run take minutes.
const progressEvery = 30 * time.Second

// progress reports a long run's progress on stderr: how many of the due
// tokens are done, how many failed and the time since the run began, about
// every twentieth of the way and at least every progressEvery. Runs of fewer
// than ten tokens print only their table. now is the wall clock, not
// TOKENWARD_NOW: it measures the run itself.
func (c *cli) progress(now func() time.Time) func(done, total int, r rotation.Result) {
	failed := 0
	start := now()
	last := start
	return func(done, total int, r rotation.Result) {
		if r.Err != nil {
			failed++
		}
		if total < 10 {
			return
		}
		t := now()
		if step := max(1, total/20); done%step != 0 && done != total && t.Sub(last) < progressEvery {
			return
		}
		last = t
		fmt.Fprintf(c.stderr, "tokenward: rotated %d of %d due tokens (%d failed), %s elapsed\n",
			done, total, failed, t.Sub(start).Round(time.Second))
	}
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// reportPlan prints what a dry run found due.
func (c *cli) reportPlan(rep rotation.Report) int {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TOKEN\tREASON\tDUE SINCE\n")
	for _, it := range rep.Planned {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.Token, it.Reason, timeOrDash(it.DueAt))
	}
	tw.Flush()
	fmt.Fprintf(c.stdout, "\n%d due (dry run: nothing changed); next due after these: %s\n", len(rep.Planned), timeOrDash(rep.NextDue))
	leftOut := c.reportLeftOut(rep) + c.reportHoneytokens(rep)
	if c.getenv("GITHUB_OUTPUT") != "" {
		c.gha.SetOutput("rotated", "0")
		c.gha.SetOutput("failed", "0")
		c.gha.SetOutput("next-due", nextDue(rep))
	}
	if c.getenv("GITHUB_STEP_SUMMARY") != "" {
		var b strings.Builder
		b.WriteString("### tokenward rotate (dry run)\n\n| Token | Reason | Due since |\n|---|---|---|\n")
		for _, it := range rep.Planned {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(it.Token), it.Reason, timeOrDash(it.DueAt))
		}
		fmt.Fprintf(&b, "\n%d due; nothing was changed.\n%s", len(rep.Planned), leftOut)
		c.gha.AddStepSummary(b.String())
	}
	return exitOK
}

func nextDue(rep rotation.Report) string {
	if rep.NextDue.IsZero() {
		return ""
	}
	return rep.NextDue.UTC().Format(time.RFC3339)
}

// outcome is one result's line in the reports.
func outcome(r rotation.Result) string {
	switch {
	case r.Err != nil:
		return "failed: " + r.Err.Error()
	case r.Skipped != "":
		return "skipped: " + r.Skipped
	case r.Resumed:
		return "rotated (resumed)"
	}
	return "rotated"
}

func fingerprints(r rotation.Result) string {
	from, to := r.From, r.To
	if from == "" {
		from = "(none)"
	}
	if to == "" {
		to = "(none)"
	}
	return from + " → " + to
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ").Replace(s)
}

// reportRun prints the run's table, and in a workflow writes the step
// summary, the outputs and an error annotation per failure. It exits 1 when
// a due token could not be rotated.
func (c *cli) reportRun(rep rotation.Report) int {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TOKEN\tDESTINATIONS\tFINGERPRINT\tRESULT\tNEXT ROTATION\n")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", subject(r), len(r.Delivered)+len(r.Failed), fingerprints(r), outcome(r), timeOrDash(r.NextRotationAt))
	}
	tw.Flush()
	failed := rep.Failed()
	revoked := "previous versions"
	if rep.Revoked == 1 {
		revoked = "previous version"
	}
	fmt.Fprintf(c.stdout, "\n%d rotated, %d failed, %d still due, %d %s revoked at the end of their overlap; next due: %s\n",
		rep.Rotated(), len(failed), len(rep.StillDue), rep.Revoked, revoked, timeOrDash(rep.NextDue))
	for _, it := range rep.StillDue {
		fmt.Fprintf(c.stdout, "still due: %s (%s), left by --max-rotations\n", it.Token, it.Reason)
	}
	for _, r := range rep.Results {
		for _, w := range r.Warnings {
			fmt.Fprintf(c.stdout, "warning: %s: %s\n", r.Token, w)
			if c.inWorkflow() {
				c.gha.Warningf("%s: %s", r.Token, w)
			}
		}
	}
	retired := retiredLine(rep)
	if retired != "" {
		fmt.Fprintln(c.stdout, retired)
	}
	leftOut := c.reportLeftOut(rep) + c.reportHoneytokens(rep)
	if c.inWorkflow() {
		for _, r := range failed {
			c.gha.Errorf("%s", r.Err)
		}
		if rep.RetireFailed != nil {
			c.gha.Errorf("%s", rep.RetireFailed)
		}
	}
	if c.getenv("GITHUB_OUTPUT") != "" {
		c.gha.SetOutput("rotated", strconv.Itoa(rep.Rotated()))
		c.gha.SetOutput("failed", strconv.Itoa(len(failed)))
		c.gha.SetOutput("next-due", nextDue(rep))
	}
	if c.getenv("GITHUB_STEP_SUMMARY") != "" {
		var b strings.Builder
		b.WriteString("### tokenward rotate\n\n| Token | Destinations | Fingerprint | Result | Next rotation |\n|---|---|---|---|---|\n")
		for _, r := range rep.Results {
			dests := append(append([]string{}, r.Delivered...), failedDestinations(r)...)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(subject(r)), cell(strings.Join(dests, "<br>")),
				cell(fingerprints(r)), cell(outcome(r)), timeOrDash(r.NextRotationAt))
		}
		fmt.Fprintf(&b, "\n**%d rotated, %d failed, %d still due.** Next due: %s.\n%s", rep.Rotated(), len(failed), len(rep.StillDue), timeOrDash(rep.NextDue), leftOut)
		if retired != "" {
			fmt.Fprintf(&b, "\n%s\n", cell(retired))
		}
		c.gha.AddStepSummary(b.String())
	}
	if len(failed) > 0 || rep.RetireFailed != nil {
		return exitFailed
	}
	return exitOK
}

// subject names what a result rotated: a token by its name; a credential
// by its name, its issuer's kind and the user of its new password (never
// the password).
func subject(r rotation.Result) string {
	if r.Issuer == "" {
		return r.Token
	}
	if r.User == "" {
		return fmt.Sprintf("%s (%s credential)", r.Token, r.Issuer)
	}
	return fmt.Sprintf("%s (%s credential, user %s)", r.Token, r.Issuer, r.User)
}

// retiredLine says what the run retired at credentials' issuers, and what
// it could not; "" when there was nothing to retire.
func retiredLine(rep rotation.Report) string {
	var parts []string
	if rep.Retired > 0 {
		parts = append(parts, fmt.Sprintf("%d credential version(s) retired at their issuers at the end of their overlap", rep.Retired))
	}
	if rep.RetireFailed != nil {
		parts = append(parts, fmt.Sprintf("not retired, still logging in until the next run retires it: %s", rep.RetireFailed))
	}
	return strings.Join(parts, "; ")
}

func failedDestinations(r rotation.Result) []string {
	out := make([]string, len(r.Failed))
	for i, f := range r.Failed {
		out[i] = f.Destination + " (failed)"
	}
	return out
}

// rotateCheckpointEvery is how many events a rotation run appends between
// two checkpoints; its end is signed whatever the count.
const rotateCheckpointEvery = 100

// auditHead ends a rotation run: when the run may have changed the store
// it signs the audit head (a dry run only reads it), then reports the head
// as a witness. A head that cannot be signed turns a passing exit into
// exitTrouble.
func (c *cli) auditHead(ctx context.Context, reg *registry.Registry, changed bool, code int) int {
	var head audit.Head
	var err error
	if changed {
		head, err = reg.Checkpoint(ctx)
	} else {
		head, err = reg.AuditHead(ctx)
	}
	if err != nil {
		c.fail(exitTrouble, "audit head: %v", err)
		if code == exitOK {
			return exitTrouble
		}
		return code
	}
	c.reportAuditHead(c.stdout, head)
	return code
}
