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

// truncatedNote ends a report cut to fit in a comment.
const truncatedNote = "\n---\n\n**This report was truncated** to fit GitHub's limit of 65536 characters for a comment. " +
	"The whole report is in the step summary of this workflow run.\n"

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
	text, truncated := commentText(body)
	found, err := findComment(ctx, c, owner, name, number, author(ctx, c))
	if err != nil {
		return Comment{}, fmt.Errorf("publish review comment on %s: list its comments: %w", where, explain(ctx, err, repo, number, listing))
	}
	if found != nil {
		out := Comment{ID: found.GetID(), URL: found.GetHTMLURL(), Truncated: truncated}
		if found.GetBody() == text {
			return out, nil
		}
		edited, _, err := c.Issues.EditComment(ctx, owner, name, found.GetID(), &github.IssueComment{Body: &text})
		if err != nil {
			return Comment{}, fmt.Errorf("publish review comment on %s: update comment %d: %w", where, found.GetID(), explain(ctx, err, repo, number, updating))
		}
		if u := edited.GetHTMLURL(); u != "" {
			out.URL = u
		}
		return out, nil
	}
	created, _, err := c.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: &text})
	if err != nil {
		return Comment{}, fmt.Errorf("publish review comment on %s: create the comment: %w", where, explain(ctx, err, repo, number, creating))
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
func written(cm *github.IssueComment, login string) bool {
	if login != "" {
		return cm.GetUser().GetLogin() == login
	}
	return cm.GetUser().GetType() == "Bot"
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

func isOurs(body string) bool {
	return strings.HasPrefix(strings.TrimLeft(body, " \t\r\n"), Marker)
}

// commentText is the body to write: Marker, then body, cut to fit GitHub's
// limit. It reports whether body was cut.
func commentText(body string) (string, bool) {
	if !strings.HasPrefix(body, Marker) {
		body = Marker + "\n" + body
	}
	if utf8.RuneCountInString(body) <= MaxCommentLength {
		return body, false
	}
	// Keep whole lines that fit with the note, then close what the cut left
	// open, so that the note is not rendered inside a code block or a
	// collapsed <details>; drop a line more while that does not fit.
	budget := MaxCommentLength - utf8.RuneCountInString(truncatedNote)
	kept := prefixRunes(body, budget)
	if i := strings.LastIndexByte(kept, '\n'); i > len(Marker) {
		kept = kept[:i+1]
	} else {
		// No line ends after the marker's: cut within the line.
		kept = prefixRunes(body, budget-1) + "\n"
	}
	for {
		text := kept + closers(kept) + truncatedNote
		if utf8.RuneCountInString(text) <= MaxCommentLength {
			return text, true
		}
		i := strings.LastIndexByte(kept[:len(kept)-1], '\n')
		if i < len(Marker) {
			return Marker + "\n" + truncatedNote, true
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

// step is the request of PublishComment that failed.
type step int

const (
	listing step = iota
	updating
	creating
)

// explain says what to fix after a request about the pull request failed.
// A POST that got no answer, or a 5xx, may have created the comment all the
// same, and the error says so.
func explain(ctx context.Context, err error, repo string, number int, s step) error {
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
			return &destination.GitHubError{Hint: err.Error() + "; if GitHub created the comment all the same, the next run updates that one rather than adding another", Err: err}
		}
		return err
	}
	return destination.ExplainGitHub(err, func(code int, _ string) (string, bool) {
		switch {
		case code == http.StatusForbidden:
			return "the token may not comment on pull requests: give the workflow job `permissions: pull-requests: write` " +
				"(a GitHub App needs Pull requests: write); a pull request from a fork gets a read-only GITHUB_TOKEN, which cannot comment", false
		case code == http.StatusNotFound && s == updating:
			return fmt.Sprintf("the comment, repository %s or its pull request #%d is gone (was the comment deleted meanwhile?); run again", repo, number), false
		case code == http.StatusNotFound:
			return fmt.Sprintf("repository %s or its pull request #%d not found, or the token cannot see it", repo, number), false
		case code == http.StatusUnprocessableEntity:
			return "GitHub rejected the comment", false
		case code >= 500 && s == creating:
			return fmt.Sprintf("GitHub failed with %d; if it created the comment all the same, the next run updates that one rather than adding another", code), false
		case code >= 500:
			return fmt.Sprintf("GitHub failed with %d; try again later", code), false
		default:
			return "GitHub refused the request", false
		}
	})
}
