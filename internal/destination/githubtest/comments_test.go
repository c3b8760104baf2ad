package githubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// seedComments adds n comments by someone to acme/api#7 and returns their ids.
func seedComments(s *Server, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = s.AddComment("acme/api", 7, "someone", fmt.Sprint("comment ", i))
	}
	return ids
}

func TestCommentPages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		comments  int
		query     string
		wantFirst int // index of the first comment on the page
		wantLen   int
		wantRels  []string
	}{
		{"none", 0, "", 0, 0, nil},
		{"default of 30", 31, "", 0, 30, []string{"next", "last"}},
		{"second and last page", 31, "?page=2", 30, 1, []string{"first", "prev"}},
		{"middle page", 250, "?per_page=100&page=2", 100, 100, []string{"next", "last", "first", "prev"}},
		{"per_page capped at 100", 250, "?per_page=500", 0, 100, []string{"next", "last"}},
		{"per_page 0 is the default", 40, "?per_page=0", 0, 30, []string{"next", "last"}},
		{"exactly one page", 100, "?per_page=100", 0, 100, nil},
		{"beyond the last page", 5, "?page=3", 0, 0, []string{"first", "prev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := setup(t)
			s.AddPullRequest("acme/api", 7)
			ids := seedComments(s, tc.comments)
			st, link, body := c.raw("GET", "repos/acme/api/issues/7/comments"+tc.query, "")
			if st != 200 {
				t.Fatalf("status %d: %s", st, body)
			}
			var got []struct {
				ID   int64  `json:"id"`
				Body string `json:"body"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if got == nil {
				t.Error("an empty page is null, want []")
			}
			if len(got) != tc.wantLen {
				t.Fatalf("%d comments, want %d", len(got), tc.wantLen)
			}
			for i, g := range got {
				if g.ID != ids[tc.wantFirst+i] {
					t.Fatalf("comment %d has id %d, want %d (creation order)", i, g.ID, ids[tc.wantFirst+i])
				}
			}
			var rels []string
			for _, l := range strings.Split(link, ", ") {
				if _, rel, ok := strings.Cut(l, `; rel="`); ok {
					rels = append(rels, strings.TrimSuffix(rel, `"`))
					if !strings.HasPrefix(l, "<"+s.URL()+"repos/acme/api/issues/7/comments?") {
						t.Errorf("link %q is not to this list", l)
					}
				}
			}
			if !slices.Equal(rels, tc.wantRels) {
				t.Errorf("Link %q has rels %v, want %v", link, rels, tc.wantRels)
			}
		})
	}
}

// TestCommentPagesWithGoGitHub: go-github's NextPage walks every page, under
// a GitHub Enterprise prefix too.
func TestCommentPagesWithGoGitHub(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/api/v3"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if prefix != "" {
				opts = append(opts, WithPrefix(prefix))
			}
			s, _ := setup(t, opts...)
			s.AddPullRequest("acme/api", 7)
			ids := seedComments(s, 250)
			gh := github.NewClient(s.Client()).WithAuthToken("reader")
			base, err := url.Parse(s.URL())
			if err != nil {
				t.Fatal(err)
			}
			gh.BaseURL = base
			var got []int64
			opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
			for {
				page, resp, err := gh.Issues.ListComments(context.Background(), "acme", "api", 7, opt)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range page {
					got = append(got, c.GetID())
				}
				if resp.NextPage == 0 {
					break
				}
				opt.Page = resp.NextPage
			}
			if !slices.Equal(got, ids) {
				t.Errorf("walked %d comments, want the %d seeded in order", len(got), len(ids))
			}
			if n := s.Count("GET /repos/acme/api/issues/7/comments"); n != 3 {
				t.Errorf("%d pages fetched, want 3", n)
			}
		})
	}
}

func TestCommentCreateAndEdit(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	s.AddPullRequest("acme/api", 7)
	s.AddIssue("acme/api", 8)
	other := s.AddComment("acme/api", 7, "octocat", "looks good")

	st, out := c.do("POST", "repos/acme/api/issues/7/comments", map[string]any{"body": "first"})
	if st != 201 {
		t.Fatalf("create: %d %v", st, out)
	}
	id := int64(out["id"].(float64))
	user, _ := out["user"].(map[string]any)
	if out["body"] != "first" || user["login"] != DefaultLogin || user["type"] != "Bot" ||
		out["html_url"] != fmt.Sprintf("https://github.com/acme/api/pull/7#issuecomment-%d", id) ||
		out["created_at"] == nil || out["updated_at"] == nil || out["node_id"] == nil {
		t.Errorf("created comment %v", out)
	}
	st, out = c.do("PATCH", fmt.Sprint("repos/acme/api/issues/comments/", id), map[string]any{"body": "second"})
	if st != 200 || out["body"] != "second" || int64(out["id"].(float64)) != id {
		t.Fatalf("edit: %d %v", st, out)
	}
	want := []Comment{
		{ID: other, User: "octocat", Body: "looks good"},
		{ID: id, User: DefaultLogin, Body: "second", Edits: 1},
	}
	if got := s.Comments("acme/api", 7); !slices.Equal(got, want) {
		t.Errorf("Comments = %+v, want %+v", got, want)
	}

	st, out = c.do("POST", "repos/acme/api/issues/8/comments", map[string]any{"body": "on an issue"})
	if st != 201 || !strings.Contains(out["html_url"].(string), "/acme/api/issues/8#issuecomment-") {
		t.Errorf("comment on an issue: %d %v", st, out)
	}
	if got := s.Comments("acme/api", 99); got != nil {
		t.Errorf("Comments of an unknown pull request = %v", got)
	}
}

func TestCommentRejections(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", MaxCommentLength) // characters, not bytes
	for _, tc := range []struct {
		name, tok, method, path, body string
		want                          int
		inMsg                         string
	}{
		{"list without a token", "", "GET", "repos/acme/api/issues/7/comments", "", 401, "Bad credentials"},
		{"create without a token", "", "POST", "repos/acme/api/issues/7/comments", `{"body":"x"}`, 401, "Bad credentials"},
		{"edit with an unknown token", "nope", "PATCH", "repos/acme/api/issues/comments/{mine}", `{"body":"x"}`, 401, "Bad credentials"},
		{"list read-only", "reader", "GET", "repos/acme/api/issues/7/comments", "", 200, ""},
		{"create read-only", "reader", "POST", "repos/acme/api/issues/7/comments", `{"body":"x"}`, 403, "Resource not accessible by integration"},
		{"edit read-only", "reader", "PATCH", "repos/acme/api/issues/comments/{mine}", `{"body":"x"}`, 403, "Resource not accessible by integration"},
		{"create with secrets only", "secrets", "POST", "repos/acme/api/issues/7/comments", `{"body":"x"}`, 403, "Resource not accessible by integration"},
		{"list unknown repository", "writer", "GET", "repos/acme/nope/issues/7/comments", "", 404, "Not Found"},
		{"list unknown pull request", "writer", "GET", "repos/acme/api/issues/9/comments", "", 404, "Not Found"},
		{"create unknown repository", "writer", "POST", "repos/acme/nope/issues/7/comments", `{"body":"x"}`, 404, "Not Found"},
		{"create unknown pull request", "writer", "POST", "repos/acme/api/issues/9/comments", `{"body":"x"}`, 404, "Not Found"},
		{"edit unknown comment", "writer", "PATCH", "repos/acme/api/issues/comments/1", `{"body":"x"}`, 404, "Not Found"},
		{"edit a comment of another repository", "writer", "PATCH", "repos/acme/web/issues/comments/{mine}", `{"body":"x"}`, 404, "Not Found"},
		{"edit in an unknown repository", "writer", "PATCH", "repos/acme/nope/issues/comments/{mine}", `{"body":"x"}`, 404, "Not Found"},
		{"create empty", "writer", "POST", "repos/acme/api/issues/7/comments", `{"body":""}`, 422, "Body cannot be blank"},
		{"create blank", "writer", "POST", "repos/acme/api/issues/7/comments", `{"body":" \n"}`, 422, "Body cannot be blank"},
		{"create without a body", "writer", "POST", "repos/acme/api/issues/7/comments", `{}`, 422, "Body cannot be blank"},
		{"edit empty", "writer", "PATCH", "repos/acme/api/issues/comments/{mine}", `{"body":""}`, 422, "Body cannot be blank"},
		{"create too long", "writer", "POST", "repos/acme/api/issues/7/comments", `{"body":"x` + long + `"}`, 422, "Body is too long (maximum is 65536 characters)"},
		{"edit too long", "writer", "PATCH", "repos/acme/api/issues/comments/{mine}", `{"body":"x` + long + `"}`, 422, "Body is too long (maximum is 65536 characters)"},
		{"create at the limit", "writer", "POST", "repos/acme/api/issues/7/comments", `{"body":"` + long + `"}`, 201, ""},
		{"create bad JSON", "writer", "POST", "repos/acme/api/issues/7/comments", `{`, 400, "Problems parsing JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := setup(t)
			s.AddRepo("acme/web")
			s.AddPullRequest("acme/api", 7)
			s.AddPullRequest("acme/web", 7)
			s.AddTokenGrant("secrets", TokenGrant{WriteSecrets: true})
			mine := s.AddComment("acme/api", 7, DefaultLogin, "mine")
			before := s.Comments("acme/api", 7)
			c.tok = tc.tok
			path := strings.ReplaceAll(tc.path, "{mine}", fmt.Sprint(mine))
			st, _, body := c.raw(tc.method, path, tc.body)
			if st != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, path, st, body, tc.want)
			}
			if !bytes.Contains(body, []byte(tc.inMsg)) {
				t.Errorf("answer %s does not say %q", body, tc.inMsg)
			}
			after := s.Comments("acme/api", 7)
			if st >= 300 && !slices.Equal(after, before) {
				t.Errorf("a rejected request changed the comments: %+v", after)
			}
			if st == 422 {
				var e struct {
					Errors []struct{ Resource, Field, Code, Message string }
				}
				if json.Unmarshal(body, &e); len(e.Errors) != 1 || e.Errors[0].Resource != "IssueComment" {
					t.Errorf("422 without GitHub's errors list: %s", body)
				}
			}
		})
	}
}

func TestTokenGrants(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	s.AddPullRequest("acme/api", 7)
	s.AddTokenGrant("workflow", TokenGrant{WriteComments: true})
	s.AddTokenGrant("me", TokenGrant{Login: "octocat", WriteComments: true})
	for _, tc := range []struct{ tok, user string }{{"writer", DefaultLogin}, {"workflow", DefaultLogin}, {"me", "octocat"}} {
		c.tok = tc.tok
		st, out := c.do("POST", "repos/acme/api/issues/7/comments", map[string]any{"body": tc.tok})
		if user, _ := out["user"].(map[string]any); st != 201 || user["login"] != tc.user {
			t.Errorf("comment with %s: %d %v, want 201 by %s", tc.tok, st, out, tc.user)
		}
	}
	c.tok = "workflow"
	if st, _ := c.do("PUT", "repos/acme/api/actions/secrets/X", c.seal("repos/acme/api/actions/secrets/public-key", "v")); st != 403 {
		t.Errorf("a token that may only comment wrote a secret: %d", st)
	}
}
