package destination_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

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
