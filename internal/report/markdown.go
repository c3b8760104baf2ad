package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// MaxRows is how many findings a section of the Markdown shows.
const MaxRows = 25

// section is one heading of the Markdown and the kinds filed under it.
type section struct {
	title string
	kinds []string
	none  string // said when the section has no finding
}

var sections = []section{
	{"Tokens not used", []string{KindNeverUsed, KindUnused, KindVerificationsFailed}, "Every token was used in the window."},
	{"Scopes granted but never required", []string{KindUnusedScope, KindWildcardNarrower}, "Every token used in the window required every scope it holds."},
	{"Policy", []string{KindPolicyViolation}, "Every token meets the policy."},
	{"Rotation and delivery", []string{KindNoCurrentVersion, KindVersionExpired, KindRotationOverdue, KindRotationUnfinished, KindDeliveryFailed}, "No rotation is overdue or unfinished, and every last delivery succeeded."},
	{"Versions presented after expiry or revocation", []string{KindExpiredVersionUsed, KindRevokedVersionUsed}, "No expired or revoked version was presented in the window."},
	{"User configuration", []string{KindInvalidUserValue, KindOrphanUserValue, KindSensitiveUnchecked}, "Every user value passes its setting."},
	{"Open alerts", []string{KindOpenAlerts}, "No alert is open."},
	{"Audit chain", []string{KindAuditChainBroken, KindAuditNoCheckpoint}, ""},
}

// Markdown renders the report: a chart of the busiest tokens' use, then
// one section per kind of trouble, each finding with its level and fix.
// It holds no time but the window's dates: the same store and clock render
// the same text, so a workflow can edit an issue only when it changed.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## tokenward report: risk %s\n\n", strings.ToUpper(r.Risk.String()))
	r.chart(&b)
	fmt.Fprintf(&b, "%d tokens reviewed over %d days, %s to %s. %s.\n\n", r.Tokens, r.Window.Days, date(r.Window.Since), date(r.Window.Until), r.counts())
	if r.Policy == "" {
		b.WriteString("No policy was given (`--policy FILE`): tokens were not checked against one.\n")
	} else {
		fmt.Fprintf(&b, "Policy: %s.\n", text(r.Policy))
	}
	for _, sec := range sections {
		fmt.Fprintf(&b, "\n### %s\n\n", sec.title)
		if sec.title == "Audit chain" {
			r.auditLine(&b)
		}
		var rows []Finding
		for _, f := range r.Findings {
			for _, k := range sec.kinds {
				if f.Kind == k {
					rows = append(rows, f)
				}
			}
		}
		if len(rows) == 0 {
			if sec.none != "" {
				b.WriteString(sec.none + "\n")
			}
			continue
		}
		// The most severe first; the rest of a long section is left to
		// the JSON, so the text fits a step summary (1 MiB) and an issue.
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Level > rows[j].Level })
		b.WriteString("| Level | Finding | What to do |\n|:------|:--------|:-----------|\n")
		for _, f := range rows[:min(len(rows), MaxRows)] {
			fmt.Fprintf(&b, "| **%s** | %s | %s |\n", f.Level, cell(f.Detail), cell(f.Fix))
		}
		if n := len(rows) - MaxRows; n > 0 {
			fmt.Fprintf(&b, "\n%d more findings of this section are not shown: `tokenward report --format json` lists them all.\n", n)
		}
	}
	// Hidden: what the workflow's issue compares (see fingerprint).
	b.WriteString("\n" + review.FingerprintLine("findings:"+r.fingerprint()))
	return b.String()
}

// counts is "3 findings: 1 high, 2 warn".
func (r *Report) counts() string {
	if len(r.Findings) == 0 {
		return "No findings"
	}
	by := map[review.Level]int{}
	for _, f := range r.Findings {
		by[f.Level]++
	}
	var parts []string
	for l := review.High; l >= review.Info; l-- {
		if by[l] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", by[l], l))
		}
	}
	noun := "findings"
	if len(r.Findings) == 1 {
		noun = "finding"
	}
	return fmt.Sprintf("%d %s: %s", len(r.Findings), noun, strings.Join(parts, ", "))
}

// chart writes the Mermaid xychart-beta of the busiest tokens: their
// verifications per day as bars, their failures as a line.
func (r *Report) chart(b *strings.Builder) {
	days := r.Window.Days
	uses, fails := make([]int64, days), make([]int64, days)
	var top int64 = 1
	names := make([]string, len(r.Busiest))
	for i, s := range r.Busiest {
		names[i] = s.Token
		for d := 0; d < days && d < len(s.Uses); d++ {
			uses[d] += s.Uses[d]
			fails[d] += s.Failures[d]
			top = max(top, uses[d])
		}
	}
	labels := make([]string, days)
	for d := range labels {
		labels[d] = fmt.Sprintf("%q", r.Window.Since.AddDate(0, 0, d).Format("01-02"))
	}
	title := "No verifications in the window"
	if len(names) > 0 {
		title = fmt.Sprintf("Verifications (bars) and failures (line) per day: %s", strings.Join(names, ", "))
	}
	b.WriteString("```mermaid\nxychart-beta\n")
	fmt.Fprintf(b, "    title %q\n", title)
	fmt.Fprintf(b, "    x-axis [%s]\n", strings.Join(labels, ", "))
	fmt.Fprintf(b, "    y-axis \"Verifications\" 0 --> %d\n", top)
	fmt.Fprintf(b, "    bar [%s]\n", joinInts(uses))
	fmt.Fprintf(b, "    line [%s]\n", joinInts(fails))
	b.WriteString("```\n\n")
	if len(r.Busiest) > 0 {
		b.WriteString("| Token | Verifications | Failures |\n|:------|------:|------:|\n")
		for _, s := range r.Busiest {
			fmt.Fprintf(b, "| %s | %d | %d |\n", cell(code(s.Token)), s.Total, s.Failed)
		}
		b.WriteString("\n")
	}
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

func (r *Report) auditLine(b *strings.Builder) {
	a := r.Audit
	if a.Intact {
		fmt.Fprintf(b, "The chain is intact: %d events, head `%d:%s`.", a.HeadSeq, a.HeadSeq, a.HeadHash)
	} else {
		fmt.Fprintf(b, "The chain is **broken** (head `%d:%s`).", a.HeadSeq, a.HeadHash)
	}
	switch {
	case a.Latest == nil:
		b.WriteString(" No checkpoint is signed.")
	default:
		fmt.Fprintf(b, " Latest signed checkpoint: event %d, signed on %s by key `%s`", a.Latest.Seq, date(a.Latest.At), a.Latest.KeyID)
		if a.SignaturesChecked {
			fmt.Fprintf(b, "; signatures verified up to event %d.", a.SignedSeq)
		} else {
			b.WriteString("; signatures not checked (set TOKENWARD_AUDIT_PUBKEY, or give the master key).")
		}
		if a.Latest.Seq < a.HeadSeq {
			fmt.Fprintf(b, " Events %d to %d are not covered by a checkpoint yet.", a.Latest.Seq+1, a.HeadSeq)
		}
	}
	b.WriteString("\n\n")
}

// cell makes text safe in a table cell: no line break, no column break.
// Runs of spaces stay: in a code span they may be part of a name.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.ReplaceAll(s, "|", `\|`)
}

// text puts s on one line.
func text(s string) string { return strings.Join(strings.Fields(s), " ") }

// JSON renders the report as {"risk", "window", ..., "findings"}, indented,
// with a final newline.
func (r *Report) JSON() []byte {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		// Every field is a plain value: marshalling cannot fail.
		panic(fmt.Sprintf("report: marshal: %v", err))
	}
	return append(b, '\n')
}

// fingerprint names the findings by what they are about, not by their
// wording: ages, counts and the chart change every week while the findings
// stay, and the workflow's issue is edited only when this changes.
func (r *Report) fingerprint() string {
	h := sha256.New()
	for _, f := range r.Findings {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\n", f.Level, f.Kind, f.Token, f.Scope, f.User)
	}
	return hex.EncodeToString(h.Sum(nil))
}
