package destination_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
)

// TestGitHubClientAuthenticates: the client of NewGitHubClient talks to the
// API as a token or as a GitHub App installation, on github.com or under a
// GitHub Enterprise Server prefix.
func TestGitHubClientAuthenticates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, prefix string
		app          bool
		wantUser     string
	}{
		{"token", "", false, "octocat"},
		{"token on enterprise server", "/api/v3", false, "octocat"},
		{"app", "", true, "app-7[bot]"},
		{"app on enterprise server", "/api/v3", true, "app-7[bot]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []githubtest.Option
			if tc.prefix != "" {
				opts = append(opts, githubtest.WithPrefix(tc.prefix))
			}
			s := githubtest.New(t, opts...)
			s.AddRepo("acme/api")
			s.AddPullRequest("acme/api", 7)
			cfg := destination.GitHubConfig{APIURL: strings.TrimSuffix(s.URL(), "/"), Sleep: clocktest.New().Sleep}
			if tc.app {
				cfg.AppID, cfg.InstallationID, cfg.PrivateKey = 7, 70, s.AddApp(7, 70)
			} else {
				s.AddTokenGrant("tw-test-pat", githubtest.TokenGrant{Login: "octocat", WriteComments: true})
				cfg.Token = "tw-test-pat"
			}
			c, err := destination.NewGitHubClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			got, _, err := c.Issues.CreateComment(ctx, "acme", "api", 7, &github.IssueComment{Body: github.String("hello")})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetUser().GetLogin() != tc.wantUser {
				t.Errorf("comment written by %q, want %q", got.GetUser().GetLogin(), tc.wantUser)
			}
			list, _, err := c.Issues.ListComments(ctx, "acme", "api", 7, nil)
			if err != nil || len(list) != 1 || list[0].GetID() != got.GetID() {
				t.Fatalf("list: %v, %v", list, err)
			}
		})
	}
}

// TestGitHubClientRetriesReads: the client retries as the writer does.
func TestGitHubClientRetriesReads(t *testing.T) {
	t.Parallel()
	s := githubtest.New(t)
	s.AddRepo("acme/api")
	s.AddPullRequest("acme/api", 7)
	s.AddToken("writer", true)
	clk := clocktest.New()
	c, err := destination.NewGitHubClient(destination.GitHubConfig{
		Token: "writer", APIURL: s.URL(), HTTPClient: &http.Client{Transport: s.Client().Transport},
		Sleep: clk.Sleep, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Fail("GET /repos/acme/api/issues/7/comments", githubtest.Fault{Status: 502, Times: 2})
	if _, _, err := c.Issues.ListComments(context.Background(), "acme", "api", 7, nil); err != nil {
		t.Fatalf("list after two 502s: %v", err)
	}
	if n := s.Count("GET /repos/acme/api/issues/7/comments"); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if len(clk.Waits()) != 2 {
		t.Errorf("waits %v, want two backoffs", clk.Waits())
	}
}

// refuseFirst fails the first request whose "METHOD path" contains match as
// a connection that could not be made, before anything reached GitHub.
type refuseFirst struct {
	base  http.RoundTripper
	match string
	mu    sync.Mutex
	done  bool
}

func (r *refuseFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	refuse := !r.done && strings.Contains(req.Method+" "+req.URL.Path, r.match)
	r.done = r.done || refuse
	r.mu.Unlock()
	if refuse {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return r.base.RoundTrip(req)
}

// TestGitHubClientCommentWrites: creating a comment is sent again only when
// GitHub surely did not act on it; editing one is retried like any write.
func TestGitHubClientCommentWrites(t *testing.T) {
	t.Parallel()
	const create, edit = "POST /repos/acme/api/issues/7/comments", "PATCH /repos/acme/api/issues/comments/"
	for _, tc := range []struct {
		name    string
		match   string
		fault   *githubtest.Fault
		refuse  bool
		sends   int // requests that matched
		waits   int
		errHas  string
		wantErr int // the status of GitHub's answer in the error, if any
	}{
		{"create after a 502 is not sent again", create, &githubtest.Fault{Status: 502}, false, 1, 0, "502", 502},
		{"create after a 503 with Retry-After is not sent again", create, &githubtest.Fault{Status: 503, RetryAfter: "1"}, false, 1, 0, "503", 503},
		{"create after a timeout is not sent again", create, &githubtest.Fault{Stall: time.Hour}, false, 1, 0, "did not answer within 50ms: ", 0},
		{"create after a secondary rate limit", create, &githubtest.Fault{Status: 403, RetryAfter: "5"}, false, 2, 1, "", 0},
		{"create after a 429", create, &githubtest.Fault{Status: 429}, false, 2, 1, "", 0},
		{"create after a refused connection", create, nil, true, 1, 1, "", 0}, // the refused attempt never reached the server
		{"edit after a 502", edit, &githubtest.Fault{Status: 502}, false, 2, 1, "", 0},
		{"edit after a timeout", edit, &githubtest.Fault{Stall: time.Hour}, false, 2, 1, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := githubtest.New(t)
			s.AddRepo("acme/api")
			s.AddPullRequest("acme/api", 7)
			s.AddToken("writer", true)
			var id int64
			if tc.match == edit {
				id = s.AddComment("acme/api", 7, githubtest.DefaultLogin, "old")
			}
			var base http.RoundTripper = s.Client().Transport
			if tc.refuse {
				base = &refuseFirst{base: base, match: tc.match}
			}
			clk := clocktest.New()
			c, err := destination.NewGitHubClient(destination.GitHubConfig{
				Token: "writer", APIURL: s.URL(), HTTPClient: &http.Client{Transport: base},
				Sleep: clk.Sleep, Now: clk.Now, RequestTimeout: 50 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.fault != nil {
				s.Fail(tc.match, *tc.fault)
			}
			body := &github.IssueComment{Body: github.String("new")}
			if tc.match == edit {
				_, _, err = c.Issues.EditComment(context.Background(), "acme", "api", id, body)
			} else {
				_, _, err = c.Issues.CreateComment(context.Background(), "acme", "api", 7, body)
			}
			switch {
			case tc.errHas == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
				t.Fatalf("err = %v, want it to say %q", err, tc.errHas)
			}
			var er *github.ErrorResponse
			if tc.wantErr != 0 && (!errors.As(err, &er) || er.Response.StatusCode != tc.wantErr) {
				t.Errorf("err = %#v, want GitHub's %d answer", err, tc.wantErr)
			}
			if n := s.Count(tc.match); n != tc.sends {
				t.Errorf("%d requests matched %q, want %d", n, tc.match, tc.sends)
			}
			if len(clk.Waits()) != tc.waits {
				t.Errorf("waits %v, want %d", clk.Waits(), tc.waits)
			}
			comments := s.Comments("acme/api", 7)
			if tc.errHas == "" && (len(comments) != 1 || comments[0].Body != "new") {
				t.Errorf("comments %+v, want one saying new", comments)
			}
		})
	}
}

// TestGitHubClientPacesCommentWrites: creating and editing comments are
// writes, paced as secrets are; reading them and the token exchange are not.
func TestGitHubClientPacesCommentWrites(t *testing.T) {
	t.Parallel()
	s := githubtest.New(t)
	s.AddRepo("acme/api")
	s.AddPullRequest("acme/api", 7)
	clk := clocktest.New()
	s.Fail("POST /app/installations/70/access_tokens", githubtest.Fault{Status: 502})
	c, err := destination.NewGitHubClient(destination.GitHubConfig{
		AppID: 7, InstallationID: 70, PrivateKey: s.AddApp(7, 70),
		APIURL: s.URL(), HTTPClient: &http.Client{Transport: s.Client().Transport},
		Sleep: clk.Sleep, Now: clk.Now, Pace: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created, _, err := c.Issues.CreateComment(ctx, "acme", "api", 7, &github.IssueComment{Body: github.String("one")})
	if err != nil {
		t.Fatal(err)
	}
	// The token exchange was retried after its 502 (a second token is
	// harmless) and was not paced: one backoff, no pace, so far.
	if n := s.Count("POST /app/installations/70/access_tokens"); n != 2 {
		t.Errorf("%d token exchanges, want 2", n)
	}
	if w := clk.Waits(); len(w) != 1 || w[0] >= time.Second {
		t.Fatalf("waits %v, want one backoff of under a second", w)
	}
	for _, b := range []string{"two", "three"} {
		if _, _, err := c.Issues.ListComments(ctx, "acme", "api", 7, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Issues.EditComment(ctx, "acme", "api", created.GetID(), &github.IssueComment{Body: github.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := clk.Waits()[1:], []time.Duration{time.Second, time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits after the exchange %v, want %v", got, want)
	}
}
