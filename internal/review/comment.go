package review

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
)

// Marker is the hidden HTML comment that identifies tokenward's review
// comment on a pull request. The body of that comment starts with it.
const Marker = "<!-- tokenward-review -->"

// MaxCommentLength is the most characters GitHub accepts in the body of a
// comment; PublishComment truncates a longer report to fit.
const MaxCommentLength = 65536

// truncatedNote ends a report cut to fit in a comment or an issue.
func truncatedNote(what string) string {
	return "\n---\n\n**This report was truncated** to fit GitHub's limit of 65536 characters for " + what + ". " +
		"The whole report is in the step summary of this workflow run.\n"
}

// Comment is tokenward's review comment as PublishComment left it.
type Comment struct {
	// ID is GitHub's id of the comment.
	ID int64
	// URL is where people see the comment on GitHub.
	URL string
	// Created is true when the comment was posted by this call, false when
	// an existing one was updated or already said the same.
	Created bool
	// Truncated is true when the report was cut to fit in a comment.
	Truncated bool
}

// PublishComment creates or updates tokenward's one review comment on pull
// request number of repo (owner/name) so that it says body, and returns it.
//
// The comment is found again by Marker, which starts the body written: the
// oldest comment whose body starts with Marker and that the same identity
// wrote is edited in place, and left alone when it already says the same.
// The identity is the user of a personal token, which GET /user tells, or
// else any bot: a workflow's GITHUB_TOKEN and a GitHub App may not read
// GET /user, and comment as bots, which no person can be.
// A comment that merely mentions Marker further on is not taken for it.
// Comments are listed page by page until it is found; when none is, a new
// comment is posted. Should two runs ever post one each, every later run
// updates the oldest, and the other keeps its stale report.
//
// A body longer than MaxCommentLength characters is cut at a line boundary,
// with a note that the whole report is in the workflow run's step summary.
//
// A POST that fails with a 5xx or without an answer is not sent again, since
// GitHub may have created the comment all the same: the next run then finds
// and updates it, and the error says so. c should be a client of
// destination.NewGitHubClient, which retries everything else worth retrying.
func PublishComment(ctx context.Context, c *github.Client, repo string, number int, body string) (Comment, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Comment{}, fmt.Errorf("publish review comment: repository %q is not owner/name, such as octo-org/api", repo)
	}
	where := fmt.Sprintf("%s#%d", repo, number)
	if c == nil {
		return Comment{}, fmt.Errorf("publish review comment on %s: no GitHub client", where)
	}
	if number <= 0 {
		return Comment{}, fmt.Errorf("publish review comment on %s: a pull request number is a positive number", where)
	}
	text, truncated := fitBody(Marker, body, "a comment")
	found, err := findComment(ctx, c, owner, name, number, author(ctx, c))
	if err != nil {
		return Comment{}, fmt.Errorf("publish review comment on %s: list its comments: %w", where, explain(ctx, err, commentSubject(repo, number), listing))
	}
	if found != nil {
		out := Comment{ID: found.GetID(), URL: found.GetHTMLURL(), Truncated: truncated}
		if found.GetBody() == text {
			return out, nil
		}
		edited, _, err := c.Issues.EditComment(ctx, owner, name, found.GetID(), &github.IssueComment{Body: &text})
		if err != nil {
			return Comment{}, fmt.Errorf("publish review comment on %s: update comment %d: %w", where, found.GetID(), explain(ctx, err, commentSubject(repo, number), updating))
		}
		if u := edited.GetHTMLURL(); u != "" {
			out.URL = u
		}
		return out, nil
	}
	created, _, err := c.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: &text})
	if err != nil {
		return Comment{}, fmt.Errorf("publish review comment on %s: create the comment: %w", where, explain(ctx, err, commentSubject(repo, number), creating))
	}
	return Comment{ID: created.GetID(), URL: created.GetHTMLURL(), Created: true, Truncated: truncated}, nil
}

// author is the login the client comments as, when GitHub tells (a
// personal token); "" for a bot, which may not read GET /user: a workflow's
// GITHUB_TOKEN or a GitHub App.
func author(ctx context.Context, c *github.Client) string {
	u, _, err := c.Users.Get(ctx, "")
	if err != nil || u.GetType() == "Bot" {
		return ""
	}
	return u.GetLogin()
}

// written reports whether a comment was written by the identity that
// comments now: by login when it is known, else by any bot. Anyone may post
// a comment that starts with Marker; taking a person's comment for ours
// would let them edit the review that gates the merge.
func written(cm *github.IssueComment, login string) bool { return isUs(cm.GetUser(), login) }

// isUs reports whether u is the identity that writes now (see written).
func isUs(u *github.User, login string) bool {
	if login != "" {
		return u.GetLogin() == login
	}
	return u.GetType() == "Bot"
}

// findComment returns the oldest comment of the pull request written by
// login (see written) whose body starts with Marker, or nil. GitHub lists
// issue comments oldest first, so the first one found is the oldest, and
// later pages need not be read.
func findComment(ctx context.Context, c *github.Client, owner, name string, number int, login string) (*github.IssueComment, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		page, resp, err := c.Issues.ListComments(ctx, owner, name, number, opts)
		if err != nil {
			return nil, err
		}
		for _, cm := range page {
			if isOurs(cm.GetBody()) && written(cm, login) {
				return cm, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

func isOurs(body string) bool { return startsWith(body, Marker) }

// startsWith reports whether body starts with marker, after blank space.
func startsWith(body, marker string) bool {
	return strings.HasPrefix(strings.TrimLeft(body, " \t\r\n"), marker)
}

// fitBody is the body to write: marker, then body, cut to fit GitHub's
// limit, with a note that says it was cut to fit in what ("a comment").
// It reports whether body was cut.
func fitBody(marker, body, what string) (string, bool) {
	if !strings.HasPrefix(body, marker) {
		body = marker + "\n" + body
	}
	if utf8.RuneCountInString(body) <= MaxCommentLength {
		return body, false
	}
	note := truncatedNote(what)
	// Keep whole lines that fit with the note, then close what the cut left
	// open, so that the note is not rendered inside a code block or a
	// collapsed <details>; drop a line more while that does not fit.
	budget := MaxCommentLength - utf8.RuneCountInString(note)
	kept := prefixRunes(body, budget)
	if i := strings.LastIndexByte(kept, '\n'); i > len(marker) {
		kept = kept[:i+1]
	} else {
		// No line ends after the marker's: cut within the line.
		kept = prefixRunes(body, budget-1) + "\n"
	}
	for {
		text := kept + closers(kept) + note
		if utf8.RuneCountInString(text) <= MaxCommentLength {
			return text, true
		}
		i := strings.LastIndexByte(kept[:len(kept)-1], '\n')
		if i < len(marker) {
			return marker + "\n" + note, true
		}
		kept = kept[:i+1]
	}
}

// prefixRunes returns the first n characters of s.
func prefixRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// closers returns what closes the code fence and the <details> blocks that
// markdown leaves open at its end.
func closers(markdown string) string {
	var b strings.Builder
	fence := ""
	for line := range strings.Lines(markdown) {
		l := strings.TrimLeft(line, " ")
		for _, f := range []string{"```", "~~~"} {
			switch {
			case fence == "" && strings.HasPrefix(l, f):
				fence = f
			case fence == f && strings.TrimSpace(l) == f:
				fence = ""
			}
		}
	}
	if fence != "" {
		b.WriteString(fence + "\n")
	}
	lower := strings.ToLower(markdown)
	for range strings.Count(lower, "<details") - strings.Count(lower, "</details>") {
		b.WriteString("</details>\n")
	}
	return b.String()
}

// step is the request of PublishComment or PublishIssue that failed.
type step int

const (
	listing step = iota
	updating
	creating
)

// subject is what explain says about what PublishComment or PublishIssue
// writes.
type subject struct {
	forbidden string // the permission to give, on a 403
	notFound  string // a 404 while listing or creating
	gone      string // a 404 while updating
	disabled  string // a 410
	rejected  string // a 422
	made      string // what a POST makes, such as "created the comment"
	next      string // what the next run does when a POST may have made it all the same
}

// commentSubject is the review comment on pull request number of repo.
func commentSubject(repo string, number int) subject {
	return subject{
		forbidden: "the token may not comment on pull requests: give the workflow job `permissions: pull-requests: write` " +
			"(a GitHub App needs Pull requests: write); a pull request from a fork gets a read-only GITHUB_TOKEN, which cannot comment",
		notFound: fmt.Sprintf("repository %s or its pull request #%d not found, or the token cannot see it", repo, number),
		gone:     fmt.Sprintf("the comment, repository %s or its pull request #%d is gone (was the comment deleted meanwhile?); run again", repo, number),
		disabled: "GitHub refused the request",
		rejected: "GitHub rejected the comment",
		made:     "created the comment",
		next:     "the next run updates that one rather than adding another",
	}
}

// explain says what to fix after a request about sub failed. A POST that
// got no answer, or a 5xx, may have created what it asked for all the same,
// and the error says so.
func explain(ctx context.Context, err error, sub subject, s step) error {
	var (
		er    *github.ErrorResponse
		rate  *github.RateLimitError
		abuse *github.AbuseRateLimitError
	)
	switch {
	case ctx.Err() != nil:
		return err
	case errors.As(err, &rate) || errors.As(err, &abuse):
		return &destination.GitHubError{Hint: "GitHub rate limited the request; try again later", Detail: err.Error(), Err: err}
	case !errors.As(err, &er) || er.Response == nil:
		if s == creating {
			return &destination.GitHubError{Hint: err.Error() + "; if GitHub " + sub.made + " all the same, " + sub.next, Err: err}
		}
		return err
	}
	return destination.ExplainGitHub(err, func(code int, _ string) (string, bool) {
		switch {
		case code == http.StatusForbidden:
			return sub.forbidden, false
		case code == http.StatusNotFound && s == updating:
			return sub.gone, false
		case code == http.StatusNotFound:
			return sub.notFound, false
		case code == http.StatusGone:
			return sub.disabled, false
		case code == http.StatusUnprocessableEntity:
			return sub.rejected, false
		case code >= 500 && s == creating:
			return fmt.Sprintf("GitHub failed with %d; if it %s all the same, %s", code, sub.made, sub.next), false
		case code >= 500:
			return fmt.Sprintf("GitHub failed with %d; try again later", code), false
		default:
			return "GitHub refused the request", false
		}
	})
}
