package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// IssueMarker starts the hidden HTML comment that identifies tokenward's
// report issue in a repository: the body of that issue starts with
// IssueMarkerFor(key), which names the store it reports on, so that two
// report workflows (a staging and a production store) keep two issues.
const IssueMarker = "<!-- tokenward-report"

// IssueMarkerFor is the hidden line that starts the body of the report
// issue of key (see IssueReport.Key).
func IssueMarkerFor(key string) string { return IssueMarker + " key=" + key + " -->" }

// ValidIssueKey reports whether key may name a report issue: 1 to 64
// letters, digits, and . _ -.
func ValidIssueKey(key string) bool {
	return len(key) <= 64 && validKey(key) && !strings.Contains(key, ":")
}

// WorkflowBot is the author of what a workflow's own GITHUB_TOKEN writes.
const WorkflowBot = "github-actions[bot]"

// Volatile parts of a report: what lies between VolatileStart and
// VolatileEnd (such as the date of the run, or the window's dates), and any
// ```mermaid chart, changes from run to run without the findings changing,
// and is left out of the fingerprint that tells whether the issue must be
// edited. A report that knows its findings better says so with
// FingerprintLine instead.
const (
	VolatileStart = "<!-- tokenward-volatile -->"
	VolatileEnd   = "<!-- /tokenward-volatile -->"
)

// fingerprintPrefix starts the hidden line, right after IssueMarker, that
// holds the fingerprint of the findings the issue shows.
const fingerprintPrefix = "<!-- tokenward-fingerprint: "

// FingerprintLine is a hidden line a report's Markdown may hold to give its
// own fingerprint, such as a hash of its findings' level, kind, token, scope
// and user: PublishIssue then compares that one, and the text around it
// (ages in days, counts of verifications, the audit head) may change from
// run to run without an edit. key is 1 to 128 letters, digits, and . _ : -;
// another key is ignored, and the fingerprint computed from the text.
func FingerprintLine(key string) string { return fingerprintPrefix + key + " -->\n" }

// validKey reports whether key may be a fingerprint (see FingerprintLine).
func validKey(key string) bool {
	if key == "" || len(key) > 128 {
		return false
	}
	for _, r := range key {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._:-", r)) {
			return false
		}
	}
	return true
}

// maxClosedPages bounds how many pages (of 100) of closed issues are read
// to find the report issue to reopen, and maxOpenPages of open ones: beyond
// them, a new issue is opened. Anyone who may open issues could otherwise
// make every run read them all.
const (
	maxClosedPages = 10
	maxOpenPages   = 10
)

// IssueReport is what PublishIssue keeps the report issue saying.
type IssueReport struct {
	// Title of the issue; "tokenward report" when empty.
	Title string
	// Body is the report, Markdown.
	Body string
	// Findings is how many findings the report has to act on; 0 closes
	// the issue.
	Findings int
	// Key names the store the report is about: only the issue whose body
	// starts with IssueMarkerFor(Key) is kept (see ValidIssueKey).
	Key string
	// Bot is the login the client writes as when GitHub does not tell
	// (GET /user fails for a workflow's GITHUB_TOKEN and a GitHub App's
	// installation token): WorkflowBot for the workflow's token. Empty
	// takes the issue of any bot: an App's bot is `SLUG[bot]`, which its
	// installation token cannot learn, so the marker's key is then what
	// sets the issue apart. A personal token's login (GET /user) is used
	// whatever Bot says.
	Bot string
	// Now dates the comment that closes the issue.
	Now time.Time
}

// IssueAction is what PublishIssue did.
type IssueAction int

const (
	// IssueUnchanged: the open issue already shows these findings.
	IssueUnchanged IssueAction = iota
	// IssueCreated: there was no report issue; one was opened.
	IssueCreated
	// IssueUpdated: the open issue was edited to show new findings.
	IssueUpdated
	// IssueReopened: the closed issue was reopened, as findings came back.
	IssueReopened
	// IssueClosed: nothing is left to act on; the issue was closed with a
	// comment that says so.
	IssueClosed
	// IssueNone: nothing to act on, and no open issue to close.
	IssueNone
	// IssueDismissed: someone else closed the issue while it showed these
	// same findings; it is left closed until they change.
	IssueDismissed
)

func (a IssueAction) String() string {
	switch a {
	case IssueUnchanged:
		return "unchanged"
	case IssueCreated:
		return "created"
	case IssueUpdated:
		return "updated"
	case IssueReopened:
		return "reopened"
	case IssueClosed:
		return "closed"
	case IssueNone:
		return "none"
	case IssueDismissed:
		return "dismissed"
	}
	return fmt.Sprintf("IssueAction(%d)", int(a))
}

// Issue is tokenward's report issue as PublishIssue left it.
type Issue struct {
	// Number of the issue; 0 when there is none (IssueNone).
	Number int
	// URL is where people see the issue on GitHub.
	URL string
	// Action is what PublishIssue did.
	Action IssueAction
	// Truncated is true when the report was cut to fit in an issue.
	Truncated bool
}

// PublishIssue keeps tokenward's one report issue in repo (owner/name) up to
// date with r, and returns it.
//
// The issue is found by IssueMarkerFor(r.Key), which starts its body, and
// by its author: the user of a personal token (from GET /user), else r.Bot,
// else any bot. Pull requests, which the issues API lists too, are skipped.
// The most recently created open issue among the last maxOpenPages pages
// of open issues is taken first; when none is open, the most recently
// updated closed one among the last maxClosedPages pages of closed issues.
// An open issue with the marker that another bot wrote is not touched; with
// none of ours, it is an error rather than a new issue beside it, which a
// run would open again and again if that bot were in fact the token's own.
//
// With findings, an open issue is edited only when the findings changed:
// the body holds a fingerprint of the report without its volatile parts
// (see VolatileStart), or the one the report gives (see FingerprintLine),
// so runs whose findings are the same edit nothing.
// A closed issue is reopened, so that the history of the report (who looked,
// what was said, what links to it) stays in one place; but one that someone
// else closed while it showed these same findings was dismissed on purpose
// and stays closed until they change. With no issue at all, one is opened.
//
// With no findings, the open issue gets a comment saying that nothing is
// left to act on, dated r.Now, and is closed as completed; with none open,
// nothing is done.
//
// Errors say what to fix, such as the permission the workflow needs; a POST
// that may have succeeded all the same is not repeated (the next run finds
// the issue). c should be a client of destination.NewGitHubClient.
func PublishIssue(ctx context.Context, c *github.Client, repo string, r IssueReport) (Issue, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Issue{}, fmt.Errorf("keep the report issue: repository %q is not owner/name, such as octo-org/api", repo)
	}
	if c == nil {
		return Issue{}, fmt.Errorf("keep the report issue of %s: no GitHub client", repo)
	}
	if !ValidIssueKey(r.Key) {
		return Issue{}, fmt.Errorf("keep the report issue of %s: issue key %q must be 1 to 64 letters, digits, and . _ -", repo, r.Key)
	}
	if r.Findings < 0 {
		return Issue{}, fmt.Errorf("keep the report issue of %s: %d findings is not a count", repo, r.Findings)
	}
	title := r.Title
	if strings.TrimSpace(title) == "" {
		title = "tokenward report"
	}
	login := author(ctx, c)
	if login == "" && r.Bot != "" {
		login = r.Bot
	}
	marker := IssueMarkerFor(r.Key)
	sub := issueSubject(repo)
	open, foreign, err := findIssue(ctx, c, owner, name, login, marker, "open")
	if err != nil {
		return Issue{}, fmt.Errorf("keep the report issue of %s: list its open issues: %w", repo, explain(ctx, err, sub, listing))
	}

	if r.Findings == 0 {
		if open == nil {
			return Issue{Action: IssueNone}, nil
		}
		where := fmt.Sprintf("%s#%d", repo, open.GetNumber())
		note := fmt.Sprintf("tokenward report found nothing to act on on %s: closing this issue. It reopens when findings come back.\n",
			r.Now.UTC().Format(time.DateOnly))
		if _, _, err := c.Issues.CreateComment(ctx, owner, name, open.GetNumber(), &github.IssueComment{Body: &note}); err != nil {
			return Issue{}, fmt.Errorf("keep the report issue %s: comment that nothing is left: %w", where, explain(ctx, err, sub, updating))
		}
		closed, err := editIssue(ctx, c, owner, name, open.GetNumber(), &github.IssueRequest{State: github.String("closed"), StateReason: github.String("completed")})
		if err != nil {
			return Issue{}, fmt.Errorf("keep the report issue %s: close it: %w", where, explain(ctx, err, sub, updating))
		}
		return Issue{Number: open.GetNumber(), URL: urlOf(closed, open), Action: IssueClosed}, nil
	}

	fp, body := reportFingerprint(r.Body)
	text, truncated := fitBody(marker, FingerprintLine(fp)+body, "an issue")
	if open != nil {
		out := Issue{Number: open.GetNumber(), URL: open.GetHTMLURL(), Action: IssueUnchanged, Truncated: truncated}
		if fingerprintOf(open.GetBody(), marker) == fp && open.GetTitle() == title {
			return out, nil
		}
		edited, err := editIssue(ctx, c, owner, name, open.GetNumber(), &github.IssueRequest{Title: &title, Body: &text})
		if err != nil {
			return Issue{}, fmt.Errorf("keep the report issue %s#%d: update it: %w", repo, open.GetNumber(), explain(ctx, err, sub, updating))
		}
		out.URL, out.Action = urlOf(edited, open), IssueUpdated
		return out, nil
	}

	closed, _, err := findIssue(ctx, c, owner, name, login, marker, "closed")
	if err != nil {
		return Issue{}, fmt.Errorf("keep the report issue of %s: list its closed issues: %w", repo, explain(ctx, err, sub, listing))
	}
	if closed != nil {
		where := fmt.Sprintf("%s#%d", repo, closed.GetNumber())
		// The list does not say who closed an issue; the issue does.
		full, _, err := c.Issues.Get(ctx, owner, name, closed.GetNumber())
		if err != nil {
			return Issue{}, fmt.Errorf("keep the report issue %s: read it: %w", where, explain(ctx, err, sub, updating))
		}
		same := fingerprintOf(full.GetBody(), marker) == fp
		if same && !isUs(full.GetClosedBy(), login) {
			return Issue{Number: full.GetNumber(), URL: full.GetHTMLURL(), Action: IssueDismissed, Truncated: truncated}, nil
		}
		req := &github.IssueRequest{State: github.String("open")}
		if !same || full.GetTitle() != title {
			req.Title, req.Body = &title, &text
		}
		reopened, err := editIssue(ctx, c, owner, name, full.GetNumber(), req)
		if err != nil {
			return Issue{}, fmt.Errorf("keep the report issue %s: reopen it: %w", where, explain(ctx, err, sub, updating))
		}
		return Issue{Number: full.GetNumber(), URL: urlOf(reopened, full), Action: IssueReopened, Truncated: truncated}, nil
	}

	if foreign != nil {
		// Opening another would open one every run: say whose it is.
		return Issue{}, fmt.Errorf("keep the report issue of %s: #%d starts with this store's marker but was opened by %s, not %s: "+
			"if that is the token's own bot (a GitHub App's token given as github-token), pass the App's inputs instead (app-id, app-private-key); "+
			"else close it, or give this report another issue-key",
			repo, foreign.GetNumber(), fmt.Sprintf("%q", foreign.GetUser().GetLogin()), login)
	}
	created, _, err := c.Issues.Create(ctx, owner, name, &github.IssueRequest{Title: &title, Body: &text})
	if err != nil {
		return Issue{}, fmt.Errorf("keep the report issue of %s: open it: %w", repo, explain(ctx, err, sub, creating))
	}
	return Issue{Number: created.GetNumber(), URL: created.GetHTMLURL(), Action: IssueCreated, Truncated: truncated}, nil
}

func editIssue(ctx context.Context, c *github.Client, owner, name string, number int, req *github.IssueRequest) (*github.Issue, error) {
	is, _, err := c.Issues.Edit(ctx, owner, name, number, req)
	return is, err
}

// urlOf is the URL GitHub answered with, else the one known before.
func urlOf(answer, before *github.Issue) string {
	if u := answer.GetHTMLURL(); u != "" {
		return u
	}
	return before.GetHTMLURL()
}

// findIssue returns tokenward's report issue among the issues of owner/name
// in state (open or closed), or nil: written by login (see isUs) and whose
// body starts with marker. Open issues are read newest first, up to
// maxOpenPages pages: the issue a run opens is the first the next run
// reads, however many others are open. Closed ones most recently updated
// first, up to maxClosedPages pages. A personal token's login narrows the
// listing to its issues; a bot's is matched here, as GitHub's creator
// filter is not documented for bots. When login is a bot's and none is
// ours, foreign is the first open one with marker that another bot wrote.
func findIssue(ctx context.Context, c *github.Client, owner, name, login, marker, state string) (ours, foreign *github.Issue, err error) {
	opts := &github.IssueListByRepoOptions{State: state, Sort: "created", Direction: "desc",
		ListOptions: github.ListOptions{PerPage: 100}}
	if !strings.HasSuffix(login, "[bot]") {
		opts.Creator = login
	}
	limit := maxOpenPages
	if state == "closed" {
		opts.Sort, limit = "updated", maxClosedPages
	}
	for pages := 1; ; pages++ {
		page, resp, err := c.Issues.ListByRepo(ctx, owner, name, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, is := range page {
			if is.IsPullRequest() || !startsWith(is.GetBody(), marker) {
				continue
			}
			if isUs(is.GetUser(), login) {
				return is, nil, nil
			}
			if foreign == nil && state == "open" && opts.Creator == "" && is.GetUser().GetType() == "Bot" {
				foreign = is
			}
		}
		if resp.NextPage == 0 || pages >= limit {
			return nil, foreign, nil
		}
		opts.Page = resp.NextPage
	}
}

// Fingerprint is the SHA-256, in hex, of a report's Markdown without its
// volatile parts: the regions between VolatileStart and VolatileEnd, the
// ```mermaid charts, and blank space at the ends of lines and between them. Two reports with the same
// fingerprint show the same findings.
func Fingerprint(markdown string) string {
	var b strings.Builder
	volatile, chart := false, false
	for line := range strings.Lines(markdown) {
		l := strings.TrimSpace(line)
		switch {
		case chart:
			chart = !strings.HasPrefix(l, "```")
			continue
		case volatile:
			if i := strings.Index(line, VolatileEnd); i >= 0 {
				volatile = false
				line = line[i+len(VolatileEnd):]
			} else {
				continue
			}
		case strings.HasPrefix(l, "```mermaid"):
			chart = true
			continue
		}
		for {
			i := strings.Index(line, VolatileStart)
			if i < 0 {
				break
			}
			j := strings.Index(line[i:], VolatileEnd)
			if j < 0 {
				line, volatile = line[:i], true
				break
			}
			line = line[:i] + line[i+j+len(VolatileEnd):]
		}
		// Blank lines carry no finding, and a volatile region leaves one.
		if line = strings.TrimRight(line, " \t\r\n"); line != "" {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(b.String())))
	return hex.EncodeToString(sum[:])
}

// reportFingerprint is the fingerprint of a report, and the report without
// the FingerprintLine that gave it: its last line, where the report writes
// it, else "sha256:" and its Fingerprint. A fingerprint line anywhere else
// is text: a value the report quotes must not choose the issue's key.
func reportFingerprint(markdown string) (string, string) {
	body := strings.TrimRight(markdown, " \t\r\n")
	at := strings.LastIndexByte(body, '\n') + 1
	rest, ok := strings.CutPrefix(strings.TrimSpace(body[at:]), fingerprintPrefix)
	if key, ok2 := strings.CutSuffix(rest, " -->"); ok && ok2 && validKey(key) {
		return key, body[:at]
	}
	return "sha256:" + Fingerprint(markdown), markdown
}

// fingerprintOf is the fingerprint an issue's body that starts with marker
// holds, "" when none.
func fingerprintOf(body, marker string) string {
	rest, ok := strings.CutPrefix(strings.TrimLeft(body, " \t\r\n"), marker)
	if !ok {
		return ""
	}
	rest, ok = strings.CutPrefix(strings.TrimLeft(rest, " \t\r\n"), fingerprintPrefix)
	if !ok {
		return ""
	}
	fp, _, ok := strings.Cut(rest, " -->")
	if !ok || !validKey(fp) {
		return ""
	}
	return fp
}

// issueSubject is the report issue of repo, for explain.
func issueSubject(repo string) subject {
	return subject{
		forbidden: "the token may not write issues: give the workflow job `permissions: issues: write` " +
			"(a GitHub App needs Issues: write)",
		notFound: fmt.Sprintf("repository %s not found, or the token cannot see it", repo),
		gone:     fmt.Sprintf("the report issue of %s is gone (was it deleted or transferred meanwhile?); run again", repo),
		disabled: fmt.Sprintf("issues are turned off in %s: turn them on (Settings, General, Features), or run the report elsewhere", repo),
		rejected: "GitHub rejected the issue",
		made:     "opened the issue",
		next:     "the next run updates that one rather than opening another",
	}
}
