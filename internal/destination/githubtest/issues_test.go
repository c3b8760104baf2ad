package githubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// listNumbers lists issues with query and returns their numbers in order.
func listNumbers(t *testing.T, c client, query string) []int {
	t.Helper()
	st, _, body := c.raw("GET", "repos/acme/api/issues"+query, "")
	if st != 200 {
		t.Fatalf("list %s: %d %s", query, st, body)
	}
	var got []struct {
		Number      int             `json:"number"`
		PullRequest json.RawMessage `json:"pull_request"`
		ClosedBy    json.RawMessage `json:"closed_by"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := []int{}
	for _, g := range got {
		if g.ClosedBy != nil {
			t.Errorf("issue %d of a list has closed_by, which GitHub sends for one issue only", g.Number)
		}
		out = append(out, g.Number)
	}
	return out
}

func TestIssueListFilters(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	s.AddPullRequest("acme/api", 1)                       // #1, by octocat, a pull request
	a := s.OpenIssue("acme/api", "octocat", "a", "")      // #2
	b := s.OpenIssue("acme/api", DefaultLogin, "b", "")   // #3
	d := s.OpenIssue("acme/api", "Hubot", "d", "")        // #4
	s.CloseIssue("acme/api", a, "octocat", "not_planned") // a updated after d
	s.AddComment("acme/api", b, "octocat", "a comment")   // b has 1 comment
	if a != 2 || b != 3 || d != 4 {
		t.Fatalf("numbers %d %d %d, want 2 3 4 after pull request #1", a, b, d)
	}
	for _, tc := range []struct {
		query string
		want  []int
	}{
		{"", []int{4, 3, 1}},        // open, newest first, with the pull request
		{"?state=closed", []int{2}}, //
		{"?state=all&direction=asc", []int{1, 2, 3, 4}},
		{"?state=all&sort=updated", []int{3, 2, 4, 1}}, // b's comment came last, then closing a
		{"?state=all&sort=comments", []int{3, 4, 2, 1}},
		{"?state=all&creator=octocat", []int{2, 1}},
		{"?creator=hubot", []int{4}}, // logins match whatever their case
		{"?creator=" + url.QueryEscape(DefaultLogin), []int{3}},
		{"?creator=nobody", []int{}},
	} {
		if got := listNumbers(t, c, tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("list %q = %v, want %v", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"?state=merged", "?sort=title", "?direction=up"} {
		if st, _, body := c.raw("GET", "repos/acme/api/issues"+q, ""); st != 422 || !bytes.Contains(body, []byte("Validation Failed")) {
			t.Errorf("list %s: %d %s, want 422", q, st, body)
		}
	}
}

// TestIssuePagesWithGoGitHub: go-github walks every page of issues, and
// tells pull requests apart.
func TestIssuePagesWithGoGitHub(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, WithPrefix("/api/v3"))
	s.AddPullRequest("acme/api", 1)
	for range 150 {
		s.OpenIssue("acme/api", "octocat", "an issue", "")
	}
	gh := github.NewClient(s.Client()).WithAuthToken("reader")
	base, _ := url.Parse(s.URL())
	gh.BaseURL = base
	opts := &github.IssueListByRepoOptions{State: "all", Direction: "asc", ListOptions: github.ListOptions{PerPage: 100}}
	var numbers []int
	pulls := 0
	for {
		page, resp, err := gh.Issues.ListByRepo(context.Background(), "acme", "api", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range page {
			numbers = append(numbers, is.GetNumber())
			if is.IsPullRequest() {
				pulls++
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(numbers) != 151 || numbers[0] != 1 || numbers[150] != 151 || pulls != 1 {
		t.Errorf("walked %d issues (%v...), %d pull requests; want 151 in order, 1 pull request", len(numbers), numbers[:min(3, len(numbers))], pulls)
	}
	if n := s.Count("GET /api/v3/repos/acme/api/issues"); n != 0 {
		t.Errorf("the log holds the prefix: %d", n)
	}
	if n := s.Count("GET /repos/acme/api/issues"); n != 2 {
		t.Errorf("%d pages fetched, want 2", n)
	}
}

func TestIssueCreateEditCloseReopen(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	s.AddPullRequest("acme/api", 1)
	st, out := c.do("POST", "repos/acme/api/issues", map[string]any{"title": "report", "body": "3 findings"})
	user, _ := out["user"].(map[string]any)
	if st != 201 || out["number"] != float64(2) || out["state"] != "open" || user["login"] != DefaultLogin || user["type"] != "Bot" ||
		out["html_url"] != "https://github.com/acme/api/issues/2" || out["pull_request"] != nil {
		t.Fatalf("create: %d %v", st, out)
	}
	if st, out = c.do("PATCH", "repos/acme/api/issues/2", map[string]any{"body": "2 findings"}); st != 200 || out["body"] != "2 findings" || out["title"] != "report" {
		t.Fatalf("edit the body: %d %v", st, out)
	}
	if st, out = c.do("PATCH", "repos/acme/api/issues/2", map[string]any{"state": "closed", "state_reason": "completed"}); st != 200 ||
		out["state"] != "closed" || out["closed_at"] == nil || out["state_reason"] != "completed" {
		t.Fatalf("close: %d %v", st, out)
	}
	if by, _ := out["closed_by"].(map[string]any); by["login"] != DefaultLogin {
		t.Errorf("closed_by = %v", out["closed_by"])
	}
	if st, out = c.do("GET", "repos/acme/api/issues/2", nil); st != 200 || out["state"] != "closed" || out["closed_by"] == nil {
		t.Errorf("get: %d %v", st, out)
	}
	if st, out = c.do("PATCH", "repos/acme/api/issues/2", map[string]any{"state": "open", "title": "report again"}); st != 200 ||
		out["state"] != "open" || out["closed_at"] != nil || out["state_reason"] != "reopened" || out["title"] != "report again" {
		t.Fatalf("reopen: %d %v", st, out)
	}
	if st, out = c.do("GET", "repos/acme/api/issues/1", nil); st != 200 || out["pull_request"] == nil {
		t.Errorf("a pull request read as an issue: %d %v", st, out)
	}
	want := []Issue{
		{Number: 1, Pull: true, User: "octocat", Title: "#1", State: "open"},
		{Number: 2, User: DefaultLogin, Title: "report again", Body: "2 findings", State: "open", StateReason: "reopened", ClosedBy: DefaultLogin, Edits: 3},
	}
	if got := s.Issues("acme/api"); !slices.Equal(got, want) {
		t.Errorf("Issues = %+v\nwant %+v", got, want)
	}
	// An issue takes comments as a pull request does, with issues: write.
	s.AddTokenGrant("issues", TokenGrant{WriteIssues: true})
	c.tok = "issues"
	if st, out := c.do("POST", "repos/acme/api/issues/2/comments", map[string]any{"body": "resolved"}); st != 201 ||
		!strings.Contains(out["html_url"].(string), "/acme/api/issues/2#issuecomment-") {
		t.Errorf("comment with issues: write: %d %v", st, out)
	}
}

func TestIssueRejections(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", MaxCommentLength+1)
	for _, tc := range []struct {
		name, tok, method, path, body string
		want                          int
		inMsg                         string
	}{
		{"list without a token", "", "GET", "repos/acme/api/issues", "", 401, "Bad credentials"},
		{"list read-only", "reader", "GET", "repos/acme/api/issues", "", 200, ""},
		{"create read-only", "reader", "POST", "repos/acme/api/issues", `{"title":"x"}`, 403, "Resource not accessible by integration"},
		{"create with comments only", "comments", "POST", "repos/acme/api/issues", `{"title":"x"}`, 403, "Resource not accessible by integration"},
		{"edit with comments only", "comments", "PATCH", "repos/acme/api/issues/1", `{"state":"closed"}`, 403, "Resource not accessible by integration"},
		{"create in an unknown repository", "writer", "POST", "repos/acme/nope/issues", `{"title":"x"}`, 404, "Not Found"},
		{"list an unknown repository", "writer", "GET", "repos/acme/nope/issues", "", 404, "Not Found"},
		{"get an unknown issue", "writer", "GET", "repos/acme/api/issues/9", "", 404, "Not Found"},
		{"edit an unknown issue", "writer", "PATCH", "repos/acme/api/issues/9", `{"body":"x"}`, 404, "Not Found"},
		{"create without a title", "writer", "POST", "repos/acme/api/issues", `{"body":"x"}`, 422, "Validation Failed"},
		{"create with a blank title", "writer", "POST", "repos/acme/api/issues", `{"title":" "}`, 422, "Validation Failed"},
		{"create too long", "writer", "POST", "repos/acme/api/issues", `{"title":"x","body":"` + long + `"}`, 422, "body is too long"},
		{"edit to a blank title", "writer", "PATCH", "repos/acme/api/issues/1", `{"title":""}`, 422, "Validation Failed"},
		{"edit to an unknown state", "writer", "PATCH", "repos/acme/api/issues/1", `{"state":"done"}`, 422, "Validation Failed"},
		{"edit to an unknown reason", "writer", "PATCH", "repos/acme/api/issues/1", `{"state":"closed","state_reason":"fixed"}`, 422, "Validation Failed"},
		{"bad JSON", "writer", "POST", "repos/acme/api/issues", `{`, 400, "Problems parsing JSON"},
		{"list with issues off", "writer", "GET", "repos/acme/off/issues", "", 410, "Issues are disabled"},
		{"create with issues off", "writer", "POST", "repos/acme/off/issues", `{"title":"x"}`, 410, "Issues are disabled"},
		{"get with issues off", "writer", "GET", "repos/acme/off/issues/1", "", 410, "Issues are disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := setup(t)
			s.AddRepo("acme/off")
			s.OpenIssue("acme/off", "octocat", "before", "")
			s.DisableIssues("acme/off")
			s.AddTokenGrant("comments", TokenGrant{WriteComments: true})
			s.OpenIssue("acme/api", DefaultLogin, "mine", "body")
			before := s.Issues("acme/api")
			c.tok = tc.tok
			st, _, body := c.raw(tc.method, tc.path, tc.body)
			if st != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, st, body, tc.want)
			}
			if !bytes.Contains(body, []byte(tc.inMsg)) {
				t.Errorf("answer %s does not say %q", body, tc.inMsg)
			}
			if after := s.Issues("acme/api"); st >= 300 && !slices.Equal(after, before) {
				t.Errorf("a rejected request changed the issues: %+v", after)
			}
		})
	}
}
