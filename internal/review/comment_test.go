package review_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// Tokens of the fake GitHub; no error may show them.
const (
	writerToken  = "test-token-may-comment"
	readerToken  = "test-token-read-only"
	expiredToken = "test-token-expired"
)

// bot is who the tokens comment as, as a workflow's GITHUB_TOKEN does.
const bot = githubtest.DefaultLogin

// fake starts a fake GitHub with pull request acme/api#7, a token that may
// comment and one that may only read.
func fake(t *testing.T) *githubtest.Server {
	t.Helper()
	s := githubtest.New(t)
	s.AddRepo("acme/api")
	s.AddPullRequest("acme/api", 7)
	s.AddTokenGrant(writerToken, githubtest.TokenGrant{WriteComments: true})
	s.AddTokenGrant(readerToken, githubtest.TokenGrant{})
	return s
}

// client returns a client of s that authenticates with tok, built as the
// action builds it; timeout bounds each attempt, 30s when 0.
func client(t *testing.T, s *githubtest.Server, tok string, timeout time.Duration) *github.Client {
	t.Helper()
	clk := clocktest.New()
	c, err := destination.NewGitHubClient(destination.GitHubConfig{
		Token: tok, APIURL: s.URL(), HTTPClient: &http.Client{Transport: s.Client().Transport},
		Sleep: clk.Sleep, Now: clk.Now, MaxAttempts: 2, RequestTimeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ours returns the comments that start with the marker.
func ours(s *githubtest.Server) []githubtest.Comment {
	var out []githubtest.Comment
	for _, c := range s.Comments("acme/api", 7) {
		if strings.HasPrefix(c.Body, review.Marker) {
			out = append(out, c)
		}
	}
	return out
}

func TestPublishCommentCreatesThenUpdatesInPlace(t *testing.T) {
	t.Parallel()
	s := fake(t)
	c := client(t, s, writerToken, 0)
	ctx := context.Background()
	before := s.AddComment("acme/api", 7, "octocat", "Please rotate the deploy token.")

	first, err := review.PublishComment(ctx, c, "acme/api", 7, "## tokenward review\n\n1 token expires soon.\n")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.ID == 0 || !strings.HasSuffix(first.URL, fmt.Sprintf("/acme/api/pull/7#issuecomment-%d", first.ID)) || first.Truncated {
		t.Errorf("first publish = %+v, want a new comment", first)
	}
	between := s.AddComment("acme/api", 7, "hubot", "Deployed.")

	second, err := review.PublishComment(ctx, c, "acme/api", 7, "## tokenward review\n\nNo token expires soon.\n")
	if err != nil {
		t.Fatal(err)
	}
	if second.Created || second.ID != first.ID || second.URL != first.URL {
		t.Errorf("second publish = %+v, want comment %d updated", second, first.ID)
	}
	mine := ours(s)
	if len(mine) != 1 {
		t.Fatalf("%d tokenward comments after two publishes, want exactly one: %+v", len(mine), mine)
	}
	if want := review.Marker + "\n## tokenward review\n\nNo token expires soon.\n"; mine[0].Body != want || mine[0].Edits != 1 || mine[0].User != bot {
		t.Errorf("tokenward comment = %+v, want the newer body %q, edited once", mine[0], want)
	}
	all := s.Comments("acme/api", 7)
	if len(all) != 3 || all[0].ID != before || all[0].Body != "Please rotate the deploy token." || all[0].Edits != 0 ||
		all[2].ID != between || all[2].Body != "Deployed." || all[2].Edits != 0 {
		t.Errorf("others' comments changed: %+v", all)
	}

	// The same body again: nothing to write.
	patches := s.Count("PATCH ")
	third, err := review.PublishComment(ctx, c, "acme/api", 7, review.Marker+"\n## tokenward review\n\nNo token expires soon.\n")
	if err != nil {
		t.Fatal(err)
	}
	if third.Created || third.ID != first.ID || s.Count("PATCH ") != patches || s.Count("POST ") != 1 {
		t.Errorf("an unchanged report was written again: %+v, %d PATCHes, %d POSTs", third, s.Count("PATCH ")-patches, s.Count("POST "))
	}
}

func TestPublishCommentFindsItsComment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		before    int      // others' comments before tokenward's
		bodies    []string // comments at that point, by tokenward unless prefixed "login: "
		after     int      // others' comments after
		wantIndex int      // index in bodies of the comment updated; -1 for a new one
		wantPages int
	}{
		{"on the first page", 3, []string{review.Marker + "\nold"}, 3, 0, 1},
		{"on the second page", 150, []string{review.Marker + "\nold"}, 10, 0, 2},
		{"on the third page", 230, []string{review.Marker + "\nold"}, 0, 0, 3},
		{"none among 250", 250, nil, 0, -1, 3},
		{"the oldest of two", 120, []string{review.Marker + "\nolder", review.Marker + "\nnewer"}, 5, 0, 2},
		{"after leading blank lines", 0, []string{"\n" + review.Marker + "\nold"}, 0, 0, 1},
		{"not a mention further on", 0, []string{"What is `" + review.Marker + "` for?"}, 0, -1, 1},
		{"not a person's comment that starts with the marker", 0, []string{"mallory: " + review.Marker + "\nrisk none, merge away"}, 0, -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fake(t)
			for i := range tc.before {
				s.AddComment("acme/api", 7, "octocat", fmt.Sprint("before ", i))
			}
			var ids []int64
			for _, b := range tc.bodies {
				by := bot
				if who, rest, ok := strings.Cut(b, ": "); ok && !strings.ContainsAny(who, " `") {
					by, b = who, rest
				}
				ids = append(ids, s.AddComment("acme/api", 7, by, b))
			}
			for i := range tc.after {
				s.AddComment("acme/api", 7, "octocat", fmt.Sprint("after ", i))
			}
			got, err := review.PublishComment(context.Background(), client(t, s, writerToken, 0), "acme/api", 7, "new")
			if err != nil {
				t.Fatal(err)
			}
			if n := s.Count("GET /repos/acme/api/issues/7/comments"); n != tc.wantPages {
				t.Errorf("%d pages read, want %d", n, tc.wantPages)
			}
			all := s.Comments("acme/api", 7)
			if tc.wantIndex < 0 {
				last := all[len(all)-1]
				if !got.Created || got.ID != last.ID || last.Body != review.Marker+"\nnew" || len(all) != tc.before+len(tc.bodies)+tc.after+1 {
					t.Errorf("got %+v, want a new comment at the end; comments %d", got, len(all))
				}
				for _, c := range all[:len(all)-1] {
					if c.Edits != 0 {
						t.Errorf("comment %d was edited", c.ID)
					}
				}
				return
			}
			if got.Created || got.ID != ids[tc.wantIndex] {
				t.Fatalf("got %+v, want comment %d updated", got, ids[tc.wantIndex])
			}
			if s.Count("POST ") != 0 || len(all) != tc.before+len(tc.bodies)+tc.after {
				t.Errorf("a comment was added")
			}
			for _, c := range all {
				switch {
				case c.ID == got.ID && (c.Body != review.Marker+"\nnew" || c.Edits != 1):
					t.Errorf("tokenward's comment = %+v", c)
				case c.ID != got.ID && c.Edits != 0:
					t.Errorf("comment %d was edited too", c.ID)
				}
			}
		})
	}
}

func TestPublishCommentErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		tok     string
		repo    string
		number  int
		fault   *githubtest.Fault
		timeout time.Duration
		seed    bool // a tokenward comment exists, so the write is a PATCH
		errHas  []string
		status  int // GitHub's status, reachable with errors.As
	}{
		{"read-only token", readerToken, "acme/api", 7, nil, 0, false, []string{
			"publish review comment on acme/api#7: create the comment: ",
			"`permissions: pull-requests: write`", "from a fork gets a read-only GITHUB_TOKEN",
			"GitHub answered 403: Resource not accessible by integration"}, 403},
		{"read-only token, existing comment", readerToken, "acme/api", 7, nil, 0, true, []string{
			"update comment ", "`permissions: pull-requests: write`"}, 403},
		{"unknown pull request", writerToken, "acme/api", 8, nil, 0, false, []string{
			"publish review comment on acme/api#8: list its comments: ",
			"repository acme/api or its pull request #8 not found, or the token cannot see it"}, 404},
		{"unknown repository", writerToken, "acme/gone", 7, nil, 0, false, []string{
			"repository acme/gone or its pull request #7 not found"}, 404},
		{"expired token", expiredToken, "acme/api", 7, nil, 0, false, []string{"the GitHub token is invalid or expired"}, 401},
		{"5xx on create", writerToken, "acme/api", 7, &githubtest.Fault{Status: 502}, 0, false, []string{
			"create the comment: GitHub failed with 502; if it created the comment all the same, the next run updates that one"}, 502},
		{"no answer to create", writerToken, "acme/api", 7, &githubtest.Fault{Stall: time.Hour}, 50 * time.Millisecond, false, []string{
			"create the comment: ", "did not answer within 50ms", "; if GitHub created the comment all the same, the next run updates that one"}, 0},
		{"422 on create", writerToken, "acme/api", 7, &githubtest.Fault{Status: 422}, 0, false, []string{
			"GitHub rejected the comment"}, 422},
		{"not owner/name", writerToken, "acme", 7, nil, 0, false, []string{`publish review comment: repository "acme" is not owner/name`}, 0},
		{"empty owner", writerToken, "/api", 7, nil, 0, false, []string{"is not owner/name"}, 0},
		{"empty name", writerToken, "acme/", 7, nil, 0, false, []string{"is not owner/name"}, 0},
		{"too many parts", writerToken, "acme/api/x", 7, nil, 0, false, []string{"is not owner/name"}, 0},
		{"empty", writerToken, "", 7, nil, 0, false, []string{"is not owner/name"}, 0},
		{"number 0", writerToken, "acme/api", 0, nil, 0, false, []string{"publish review comment on acme/api#0: a pull request number is a positive number"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fake(t)
			if tc.seed {
				s.AddComment("acme/api", 7, bot, review.Marker+"\nold")
			}
			if tc.fault != nil {
				s.Fail("POST /repos/acme/api/issues/7/comments", *tc.fault)
			}
			_, err := review.PublishComment(context.Background(), client(t, s, tc.tok, tc.timeout), tc.repo, tc.number, "report")
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.errHas {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v\nwant it to say %q", err, want)
				}
			}
			for _, tok := range []string{writerToken, readerToken, expiredToken} {
				if strings.Contains(err.Error(), tok) {
					t.Errorf("err shows a token: %v", err)
				}
			}
			var er *github.ErrorResponse
			if tc.status != 0 && (!errors.As(err, &er) || er.Response.StatusCode != tc.status) {
				t.Errorf("err does not unwrap to GitHub's %d answer: %#v", tc.status, err)
			}
			if tc.status == 0 && tc.fault == nil && s.Requests() != 0 {
				t.Errorf("%d requests sent for a bad argument", s.Requests())
			}
			if n := s.Count("POST /repos/acme/api/issues/7/comments"); n > 1 {
				t.Errorf("the comment was posted %d times", n)
			}
		})
	}
}

func TestPublishCommentTruncates(t *testing.T) {
	t.Parallel()
	line := strings.Repeat("é", 99) + "\n" // 100 characters, 199 bytes
	for _, tc := range []struct {
		name      string
		body      string
		truncated bool
		// keptLines is how many lines of body are kept whole; -1 to skip.
		keptLines int
		closes    string // what must come right before the note
	}{
		{"at the limit", strings.Repeat(line, (review.MaxCommentLength-len(review.Marker)-1)/100), false, -1, ""},
		{"over the limit", strings.Repeat(line, 1000), true, 653, ""},
		{"inside a code block", "```text\n" + strings.Repeat(line, 1000) + "```\n", true, -1, "```\n"},
		{"inside details", "<details><summary>All tokens</summary>\n\n" + strings.Repeat(line, 1000) + "</details>\n", true, -1, "</details>\n"},
		{"after a closed code block", "```\nx\n```\n" + strings.Repeat(line, 1000), true, -1, "é\n"},
		{"one long line", strings.Repeat("é", 70000), true, -1, "é\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fake(t)
			got, err := review.PublishComment(context.Background(), client(t, s, writerToken, 0), "acme/api", 7, tc.body)
			if err != nil {
				t.Fatal(err) // the fake answers 422 over GitHub's limit
			}
			if got.Truncated != tc.truncated {
				t.Errorf("Truncated = %v, want %v", got.Truncated, tc.truncated)
			}
			written := ours(s)[0].Body
			if !utf8.ValidString(written) || utf8.RuneCountInString(written) > review.MaxCommentLength {
				t.Fatalf("wrote %d characters (valid UTF-8: %v)", utf8.RuneCountInString(written), utf8.ValidString(written))
			}
			if !tc.truncated {
				if written != review.Marker+"\n"+tc.body {
					t.Error("a body within the limit was changed")
				}
				return
			}
			kept, note, ok := strings.Cut(written, "\n---\n\n**This report was truncated**")
			if !ok || !strings.Contains(note, "step summary") {
				t.Fatalf("no truncation note saying where the whole report is; body ends %q", written[len(written)-200:])
			}
			if !strings.HasSuffix(kept, tc.closes) {
				t.Errorf("before the note: %q, want it to end with %q", kept[max(len(kept)-40, 0):], tc.closes)
			}
			if tc.keptLines >= 0 {
				want := review.Marker + "\n" + strings.Repeat(line, tc.keptLines)
				if kept != want {
					t.Errorf("kept %d characters, want the marker and %d whole lines", utf8.RuneCountInString(kept), tc.keptLines)
				}
			}
		})
	}
}

// With a personal token, whose user GitHub tells, only that user's comment
// is taken for the review: not a bot's, not another person's.
func TestPublishCommentWithPersonalToken(t *testing.T) {
	t.Parallel()
	s := fake(t)
	s.AddTokenGrant("personal-token-for-test", githubtest.TokenGrant{Login: "tokenward-ci", WriteComments: true})
	s.AddComment("acme/api", 7, bot, review.Marker+"\nby a bot")
	s.AddComment("acme/api", 7, "mallory", review.Marker+"\nby a person")
	mine := s.AddComment("acme/api", 7, "tokenward-ci", review.Marker+"\nold")
	got, err := review.PublishComment(context.Background(), client(t, s, "personal-token-for-test", 0), "acme/api", 7, "new")
	if err != nil {
		t.Fatal(err)
	}
	if got.Created || got.ID != mine {
		t.Fatalf("got %+v, want comment %d (tokenward-ci's) updated", got, mine)
	}
	for _, c := range s.Comments("acme/api", 7) {
		if (c.ID == mine) != (c.Edits == 1) {
			t.Errorf("comment by %s: %d edits", c.User, c.Edits)
		}
	}
}
