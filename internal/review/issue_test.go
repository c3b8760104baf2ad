package review_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// issuesToken may write issues, as `permissions: issues: write` allows.
const issuesToken = "test-token-may-write-issues"

// storeKey names the store of the report issue; marker starts its body.
const storeKey = "prod-7f3a"

var marker = review.IssueMarkerFor(storeKey)

// dec2 is the day of the runs.
var dec2 = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

// report is a report's Markdown: a date and a chart that change every run,
// and the findings.
func report(day int, findings ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## tokenward report\n\n%sas of 2026-11-%02d%s\n\n", review.VolatileStart, day, review.VolatileEnd)
	fmt.Fprintf(&b, "```mermaid\nxychart-beta\n  bar [%d, %d, 3]\n```\n\n", day, day*2)
	for _, f := range findings {
		fmt.Fprintf(&b, "- **high** %s\n", f)
	}
	return b.String()
}

func issuesFake(t *testing.T) *githubtest.Server {
	t.Helper()
	s := fake(t)
	s.AddTokenGrant(issuesToken, githubtest.TokenGrant{WriteIssues: true})
	return s
}

// reportIssues returns the issues whose body starts with IssueMarker,
// whatever their key.
func reportIssues(s *githubtest.Server) []githubtest.Issue {
	var out []githubtest.Issue
	for _, is := range s.Issues("acme/api") {
		if strings.HasPrefix(is.Body, review.IssueMarker) {
			out = append(out, is)
		}
	}
	return out
}

// TestPublishIssueLifecycle: two runs with unchanged findings edit the one
// issue once at most; changed findings edit it once; no findings close it
// with a comment; findings that come back reopen it.
func TestPublishIssueLifecycle(t *testing.T) {
	t.Parallel()
	s := issuesFake(t)
	s.AddPullRequest("acme/api", 7)
	s.OpenIssue("acme/api", "octocat", "Rotate the deploy token", "Please.")
	c := client(t, s, issuesToken, 0)
	ctx := context.Background()
	publish := func(body string, findings int) review.Issue {
		t.Helper()
		is, err := review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: storeKey,
			Title: fmt.Sprintf("tokenward report: %d findings", findings), Body: body, Findings: findings, Now: dec2})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	one := func() githubtest.Issue {
		t.Helper()
		got := reportIssues(s)
		if len(got) != 1 {
			t.Fatalf("%d report issues, want exactly one: %+v", len(got), got)
		}
		return got[0]
	}

	first := publish(report(1, "billing-ci holds billing:write, never used"), 1)
	if first.Action != review.IssueCreated || first.Number != 9 || first.URL != "https://github.com/acme/api/issues/9" || first.Truncated {
		t.Fatalf("first run = %+v, want issue #9 created", first)
	}
	is := one()
	if is.Title != "tokenward report: 1 findings" || is.User != bot || is.State != "open" || is.Edits != 0 ||
		!strings.HasPrefix(is.Body, marker+"\n<!-- tokenward-fingerprint: sha256:") ||
		!strings.Contains(is.Body, "billing-ci holds billing:write") {
		t.Errorf("created issue = %+v", is)
	}

	// A week later: the same findings, another date and chart.
	patches := s.Count("PATCH ")
	if got := publish(report(8, "billing-ci holds billing:write, never used"), 1); got.Action != review.IssueUnchanged || got.Number != 9 {
		t.Errorf("unchanged findings = %+v, want issue #9 unchanged", got)
	}
	if s.Count("PATCH ") != patches || s.Count("POST ") != 1 || one().Edits != 0 {
		t.Errorf("unchanged findings wrote: %d PATCHes, %d POSTs", s.Count("PATCH ")-patches, s.Count("POST "))
	}

	// Changed findings: one edit, then none again.
	changed := report(15, "billing-ci holds billing:write, never used", "deploy not used for 45 days")
	for range 2 {
		publish(changed, 2)
	}
	is = one()
	if is.Edits != 1 || is.Title != "tokenward report: 2 findings" || !strings.Contains(is.Body, "deploy not used for 45 days") {
		t.Errorf("after changed findings twice: %+v, want one edit with the new report", is)
	}

	// Nothing left: closed with a comment, once.
	if got := publish(report(22), 0); got.Action != review.IssueClosed || got.Number != 9 {
		t.Errorf("no findings = %+v, want issue #9 closed", got)
	}
	is = one()
	if is.State != "closed" || is.StateReason != "completed" || is.ClosedBy != bot {
		t.Errorf("after no findings: %+v, want closed as completed", is)
	}
	comments := s.Comments("acme/api", 9)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "tokenward report found nothing to act on on 2026-12-02") {
		t.Errorf("closing comments: %+v", comments)
	}
	requests := s.Requests()
	if got := publish(report(29), 0); got.Action != review.IssueNone || got.Number != 0 {
		t.Errorf("no findings again = %+v, want nothing done", got)
	}
	if s.Count("POST ") != 2 || s.Count("PATCH ") != patches+2 || len(s.Comments("acme/api", 9)) != 1 {
		t.Errorf("no findings with no open issue wrote: %d requests", s.Requests()-requests)
	}

	// The same findings come back: the issue is reopened, its body kept.
	if got := publish(changed, 2); got.Action != review.IssueReopened || got.Number != 9 {
		t.Errorf("findings back = %+v, want issue #9 reopened", got)
	}
	is = one()
	if is.State != "open" || is.Edits != 3 || !strings.Contains(is.Body, "deploy not used for 45 days") {
		t.Errorf("reopened issue: %+v", is)
	}
	if others := s.Issues("acme/api"); others[0].Number != 7 || others[0].Edits != 0 || others[1].Title != "Rotate the deploy token" || others[1].Edits != 0 {
		t.Errorf("other issues changed: %+v", others)
	}
}

// Someone closing the issue dismisses these findings: it stays closed
// until they change.
func TestPublishIssueDismissed(t *testing.T) {
	t.Parallel()
	s := issuesFake(t)
	c := client(t, s, issuesToken, 0)
	ctx := context.Background()
	body := report(1, "billing-ci holds billing:write")
	first, err := review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: storeKey, Body: body, Findings: 1, Now: dec2})
	if err != nil {
		t.Fatal(err)
	}
	s.CloseIssue("acme/api", first.Number, "octocat", "not_planned")
	got, err := review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: storeKey, Body: report(8, "billing-ci holds billing:write"), Findings: 1, Now: dec2})
	if err != nil || got.Action != review.IssueDismissed || got.Number != first.Number {
		t.Fatalf("same findings after a person closed the issue = %+v, %v; want it left closed", got, err)
	}
	if is := reportIssues(s); len(is) != 1 || is[0].State != "closed" || is[0].Edits != 0 {
		t.Errorf("dismissed issue: %+v", is)
	}
	got, err = review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: storeKey, Body: report(15, "deploy never used"), Findings: 1, Now: dec2})
	if err != nil || got.Action != review.IssueReopened || got.Number != first.Number {
		t.Fatalf("new findings = %+v, %v; want the issue reopened", got, err)
	}
	if is := reportIssues(s); len(is) != 1 || is[0].State != "open" || is[0].Edits != 1 || !strings.Contains(is[0].Body, "deploy never used") ||
		is[0].Title != "tokenward report" {
		t.Errorf("reopened issue: %+v", is)
	}
}

func TestPublishIssueFindsItsIssue(t *testing.T) {
	t.Parallel()
	mark := marker + "\nold report"
	for _, tc := range []struct {
		name   string
		seed   func(s *githubtest.Server) int // returns the number that must be kept, 0 for a new issue
		tok    string
		action review.IssueAction
	}{
		{"a person's issue with the marker is not ours", func(s *githubtest.Server) int {
			s.OpenIssue("acme/api", "mallory", "report", mark)
			return 0
		}, issuesToken, review.IssueCreated},
		{"an issue that only mentions the marker is not ours", func(s *githubtest.Server) int {
			s.OpenIssue("acme/api", bot, "about", "We use "+marker)
			return 0
		}, issuesToken, review.IssueCreated},
		{"a pull request is not an issue", func(s *githubtest.Server) int {
			s.AddPullRequest("acme/api", 1)
			s.AddComment("acme/api", 1, bot, mark) // a comment, not the body: still a new issue
			return 0
		}, issuesToken, review.IssueCreated},
		{"before 150 other open issues, the newest of two", func(s *githubtest.Server) int {
			s.OpenIssue("acme/api", bot, "report", mark)
			n := s.OpenIssue("acme/api", bot, "report", mark)
			for range 150 {
				s.OpenIssue("acme/api", "octocat", "other", "x")
			}
			return n
		}, issuesToken, review.IssueUpdated},
		{"another store's issue is not ours", func(s *githubtest.Server) int {
			s.OpenIssue("acme/api", bot, "report", review.IssueMarkerFor("staging")+"\nold report")
			return 0
		}, issuesToken, review.IssueCreated},
		{"an issue marked without a key is not ours", func(s *githubtest.Server) int {
			s.OpenIssue("acme/api", bot, "report", "<!-- tokenward-report -->\nold report")
			return 0
		}, issuesToken, review.IssueCreated},
		{"an open one before a closed one", func(s *githubtest.Server) int {
			n := s.OpenIssue("acme/api", bot, "report", mark)
			s.CloseIssue("acme/api", s.OpenIssue("acme/api", bot, "report", mark), bot, "completed")
			return n
		}, issuesToken, review.IssueUpdated},
		{"the most recently closed", func(s *githubtest.Server) int {
			a := s.OpenIssue("acme/api", bot, "report", mark)
			b := s.OpenIssue("acme/api", bot, "report", mark)
			s.CloseIssue("acme/api", b, bot, "completed")
			s.CloseIssue("acme/api", a, bot, "completed")
			return a
		}, issuesToken, review.IssueReopened},
		{"a personal token's own, not a bot's", func(s *githubtest.Server) int {
			s.OpenIssue("acme/api", bot, "report", mark)
			return s.OpenIssue("acme/api", "tokenward-ci", "report", mark)
		}, "personal-token-for-test", review.IssueUpdated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := issuesFake(t)
			s.AddTokenGrant("personal-token-for-test", githubtest.TokenGrant{Login: "tokenward-ci", WriteIssues: true})
			want := tc.seed(s)
			before := s.Issues("acme/api")
			got, err := review.PublishIssue(context.Background(), client(t, s, tc.tok, 0), "acme/api",
				review.IssueReport{Key: storeKey, Body: report(1, "a finding"), Findings: 1, Now: dec2})
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != tc.action || (want != 0 && got.Number != want) {
				t.Fatalf("got %+v, want %s of #%d", got, tc.action, want)
			}
			after := s.Issues("acme/api")
			if want == 0 && (len(after) != len(before)+1 || after[len(after)-1].Number != got.Number) {
				t.Errorf("no new issue: %+v", got)
			}
			for i, is := range before {
				if is.Number != got.Number && after[i] != is {
					t.Errorf("issue #%d changed: %+v", is.Number, after[i])
				}
			}
		})
	}
}

func TestPublishIssueErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		tok      string
		repo     string
		findings int
		seed     bool // an open report issue exists: #8, after pull request #7
		setup    func(s *githubtest.Server)
		errHas   []string
		status   int
	}{
		{"read-only token", readerToken, "acme/api", 1, false, nil, []string{
			"keep the report issue of acme/api: open it: ", "`permissions: issues: write`", "403"}, 403},
		{"comments only", writerToken, "acme/api", 1, true, nil, []string{
			"keep the report issue acme/api#8: update it: ", "`permissions: issues: write`"}, 403},
		{"comments only, closing", writerToken + "-no-comments", "acme/api", 0, true, nil, []string{
			"keep the report issue acme/api#8: comment that nothing is left: ", "`permissions: issues: write`"}, 403},
		{"issues off", issuesToken, "acme/api", 1, false, func(s *githubtest.Server) { s.DisableIssues("acme/api") }, []string{
			"list its open issues: ", "issues are turned off in acme/api"}, 410},
		{"unknown repository", issuesToken, "acme/gone", 1, false, nil, []string{"repository acme/gone not found"}, 404},
		{"5xx on create", issuesToken, "acme/api", 1, false, func(s *githubtest.Server) {
			s.Fail("POST /repos/acme/api/issues", githubtest.Fault{Status: 502})
		}, []string{"open it: GitHub failed with 502; if it opened the issue all the same, the next run updates that one"}, 502},
		{"not owner/name", issuesToken, "acme", 1, false, nil, []string{`repository "acme" is not owner/name`}, 0},
		{"negative findings", issuesToken, "acme/api", -1, false, nil, []string{"-1 findings is not a count"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := issuesFake(t)
			s.AddTokenGrant(writerToken+"-no-comments", githubtest.TokenGrant{})
			if tc.seed {
				s.OpenIssue("acme/api", bot, "report", marker+"\nold")
			}
			if tc.setup != nil {
				tc.setup(s)
			}
			_, err := review.PublishIssue(context.Background(), client(t, s, tc.tok, 0), tc.repo,
				review.IssueReport{Key: storeKey, Body: report(1, "x"), Findings: tc.findings, Now: dec2})
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.errHas {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v\nwant it to say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "test-token") {
				t.Errorf("err shows a token: %v", err)
			}
			var er *github.ErrorResponse
			if tc.status != 0 && (!errors.As(err, &er) || er.Response.StatusCode != tc.status) {
				t.Errorf("err does not unwrap to GitHub's %d answer: %#v", tc.status, err)
			}
			if tc.status == 0 && s.Requests() != 0 {
				t.Errorf("%d requests sent for a bad argument", s.Requests())
			}
			if n := s.Count("POST /repos/acme/api/issues"); n > 1 {
				t.Errorf("%d POSTs, want at most 1", n)
			}
		})
	}
}

func TestPublishIssueTruncates(t *testing.T) {
	t.Parallel()
	s := issuesFake(t)
	body := report(1) + strings.Repeat("- **warn** a token not used for 30 days, remove it or say why it stays\n", 2000)
	got, err := review.PublishIssue(context.Background(), client(t, s, issuesToken, 0), "acme/api", review.IssueReport{Key: storeKey, Body: body, Findings: 2000, Now: dec2})
	if err != nil {
		t.Fatal(err)
	}
	is := reportIssues(s)
	if !got.Truncated || len(is) != 1 || utf8.RuneCountInString(is[0].Body) > review.MaxCommentLength ||
		!strings.Contains(is[0].Body, "65536 characters for an issue") {
		t.Fatalf("got %+v, body of %d characters", got, utf8.RuneCountInString(is[0].Body))
	}
	// The fingerprint is of the whole report: the cut one is not edited again.
	again, err := review.PublishIssue(context.Background(), client(t, s, issuesToken, 0), "acme/api", review.IssueReport{Key: storeKey, Body: body, Findings: 2000, Now: dec2})
	if err != nil || again.Action != review.IssueUnchanged {
		t.Errorf("second run = %+v, %v; want unchanged", again, err)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	base := review.Fingerprint(report(1, "a", "b"))
	for _, tc := range []struct {
		name, markdown string
		same           bool
	}{
		{"another date and chart", report(9, "a", "b"), true},
		{"trailing blanks", strings.ReplaceAll(report(1, "a", "b"), "\n", "  \n") + "\n\n", true},
		{"a volatile region over lines", strings.Replace(report(1, "a", "b"), "## tokenward report\n",
			"## tokenward report\n"+review.VolatileStart+"\nrun 42\nat 06:00\n"+review.VolatileEnd+"\n", 1), true},
		{"a finding more", report(1, "a", "b", "c"), false},
		{"a finding changed", report(1, "a", "B"), false},
		{"a volatile region never closed hides the rest", report(1, "a", "b") + review.VolatileStart + "\n- c\n", true},
	} {
		if got := review.Fingerprint(tc.markdown) == base; got != tc.same {
			t.Errorf("%s: same fingerprint %v, want %v", tc.name, got, tc.same)
		}
	}
}

// A report that gives its own fingerprint is compared by it: its text may
// change without an edit.
func TestPublishIssueWithTheReportsFingerprint(t *testing.T) {
	t.Parallel()
	s := issuesFake(t)
	c := client(t, s, issuesToken, 0)
	ctx := context.Background()
	withKey := func(key, text string) string {
		return "## tokenward report\n\n" + text + "\n\n" + review.FingerprintLine(key)
	}
	publish := func(body string) review.Issue {
		t.Helper()
		is, err := review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: storeKey, Body: body, Findings: 1, Now: dec2})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	publish(withKey("findings:v1:abc", "`deploy` was last used 59 days ago"))
	body := reportIssues(s)[0].Body
	if strings.Count(body, "tokenward-fingerprint") != 1 || !strings.HasPrefix(body, marker+"\n"+review.FingerprintLine("findings:v1:abc")) {
		t.Fatalf("body:\n%s", body)
	}
	for _, tc := range []struct {
		name, body string
		want       review.IssueAction
		edits      int
	}{
		{"same key, other text", withKey("findings:v1:abc", "`deploy` was last used 66 days ago"), review.IssueUnchanged, 0},
		{"another key", withKey("findings:v1:abd", "`deploy` was last used 66 days ago"), review.IssueUpdated, 1},
		{"an invalid key is text", withKey("findings v1 <b>", "`deploy` was last used 66 days ago"), review.IssueUpdated, 2},
		{"the invalid key again", withKey("findings v1 <b>", "`deploy` was last used 66 days ago"), review.IssueUnchanged, 2},
		// Only the last line is the report's own: one a finding quotes
		// earlier is text, and does not choose the key.
		{"a key back", withKey("findings:v1:abc", "`deploy` was last used 66 days ago"), review.IssueUpdated, 3},
		{"the key earlier alone is text", "## tokenward report\n\n" + review.FingerprintLine("findings:v1:abc") + "`deploy` was last used 66 days ago\n", review.IssueUpdated, 4},
		{"the key back again", withKey("findings:v1:abc", "`deploy` was last used 66 days ago"), review.IssueUpdated, 5},
		{"the key earlier, another last", withKey("findings:v1:xyz", review.FingerprintLine("findings:v1:abc")+"`deploy` was last used 66 days ago"), review.IssueUpdated, 6},
	} {
		got := publish(tc.body)
		if is := reportIssues(s); got.Action != tc.want || is[0].Edits != tc.edits {
			t.Errorf("%s: %s with %d edits, want %s with %d", tc.name, got.Action, is[0].Edits, tc.want, tc.edits)
		}
	}
}

// The workflow's GITHUB_TOKEN cannot say who it is (GET /user fails): with
// Bot set to WorkflowBot, an issue another GitHub App's bot opened with the
// same marker is neither edited nor closed; nor is another opened beside
// it, which would open one every run if that bot were the token's own.
func TestPublishIssueOtherBot(t *testing.T) {
	t.Parallel()
	s := issuesFake(t)
	other := s.OpenIssue("acme/api", "some-other-app[bot]", "report", marker+"\nfake report")
	c := client(t, s, issuesToken, 0)
	ctx := context.Background()
	_, err := review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: storeKey, Bot: review.WorkflowBot, Body: report(1, "a finding"), Findings: 1, Now: dec2})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(`#%d starts with this store's marker but was opened by "some-other-app[bot]", not github-actions[bot]`, other)) ||
		!strings.Contains(err.Error(), "another issue-key") {
		t.Fatalf("with another bot's issue: err = %v", err)
	}
	got, err := review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: storeKey, Bot: review.WorkflowBot, Body: report(8), Now: dec2})
	if err != nil || got.Action != review.IssueNone {
		t.Fatalf("no findings = %+v, %v; want nothing done", got, err)
	}
	if n := s.Count("POST ") + s.Count("PATCH "); n != 0 {
		t.Errorf("%d writes", n)
	}
	// Our own issue, beside it, is the one kept.
	ours := s.OpenIssue("acme/api", review.WorkflowBot, "report", marker+"\nold report")
	if got, err = review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: storeKey, Bot: review.WorkflowBot, Body: report(15), Now: dec2}); err != nil ||
		got.Action != review.IssueClosed || got.Number != ours {
		t.Fatalf("no findings with ours open = %+v, %v; want #%d closed", got, err, ours)
	}
	var is githubtest.Issue
	for _, x := range s.Issues("acme/api") {
		if x.Number == other {
			is = x
		}
	}
	if is.Number != other || is.State != "open" || is.Edits != 0 || is.Body != marker+"\nfake report" || len(s.Comments("acme/api", other)) != 0 {
		t.Errorf("another bot's issue was touched: %+v", is)
	}
}

// Two report workflows, on two stores, keep two issues: the one with no
// findings closes its own, not the other's.
func TestPublishIssueTwoKeys(t *testing.T) {
	t.Parallel()
	s := issuesFake(t)
	c := client(t, s, issuesToken, 0)
	ctx := context.Background()
	publish := func(key, body string, findings int) review.Issue {
		t.Helper()
		got, err := review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: key, Bot: review.WorkflowBot, Body: body, Findings: findings, Now: dec2})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	prod := publish("prod", report(1, "billing-ci never used"), 1)
	staging := publish("staging", report(1, "test-ci never used"), 1)
	if prod.Action != review.IssueCreated || staging.Action != review.IssueCreated || prod.Number == staging.Number {
		t.Fatalf("two stores = %+v and %+v; want two issues", prod, staging)
	}
	if got := publish("staging", report(8), 0); got.Action != review.IssueClosed || got.Number != staging.Number {
		t.Errorf("staging with no findings = %+v; want #%d closed", got, staging.Number)
	}
	if got := publish("prod", report(8, "billing-ci never used"), 1); got.Action != review.IssueUnchanged || got.Number != prod.Number {
		t.Errorf("prod a week later = %+v; want #%d unchanged", got, prod.Number)
	}
	for _, is := range reportIssues(s) {
		want := map[int]string{prod.Number: "open", staging.Number: "closed"}[is.Number]
		if is.State != want || !strings.HasPrefix(is.Body, review.IssueMarkerFor(map[int]string{prod.Number: "prod", staging.Number: "staging"}[is.Number])+"\n") {
			t.Errorf("issue #%d: %+v, want %s", is.Number, is, want)
		}
	}
	for _, key := range []string{"", "a b", "x:y", "<!--", strings.Repeat("k", 65)} {
		if _, err := review.PublishIssue(ctx, c, "acme/api", review.IssueReport{Key: key, Body: "x", Findings: 1, Now: dec2}); err == nil ||
			!strings.Contains(err.Error(), "must be 1 to 64 letters, digits, and . _ -") {
			t.Errorf("key %q: err = %v", key, err)
		}
	}
}

// Open issues are read up to maxOpenPages pages: a report issue older than
// a thousand open issues is not found, and a new one is opened, which the
// next run finds first.
func TestPublishIssueOpenPagesCapped(t *testing.T) {
	t.Parallel()
	s := issuesFake(t)
	old := s.OpenIssue("acme/api", bot, "report", marker+"\nold report")
	for range 1000 {
		s.OpenIssue("acme/api", "octocat", "other", "x")
	}
	c := client(t, s, issuesToken, 0)
	got, err := review.PublishIssue(context.Background(), c, "acme/api", review.IssueReport{Key: storeKey, Bot: review.WorkflowBot, Body: report(1, "a finding"), Findings: 1, Now: dec2})
	if err != nil || got.Action != review.IssueCreated || got.Number == old {
		t.Fatalf("got %+v, %v; want a new issue", got, err)
	}
	if n := s.Count("GET /repos/acme/api/issues"); n > 10+10 {
		t.Errorf("%d listing requests, want at most 10 pages of open and 10 of closed issues", n)
	}
	again, err := review.PublishIssue(context.Background(), c, "acme/api", review.IssueReport{Key: storeKey, Bot: review.WorkflowBot, Body: report(8, "a finding"), Findings: 1, Now: dec2})
	if err != nil || again.Action != review.IssueUnchanged || again.Number != got.Number {
		t.Errorf("next run = %+v, %v; want #%d unchanged", again, err, got.Number)
	}
}
