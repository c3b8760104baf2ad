package destination_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
)

// spend marks the first successful secret write's response as the last
// request the rate limit allowed, as GitHub does at the end of an hour.
type spend struct {
	base  http.RoundTripper
	reset func() time.Time
	mu    sync.Mutex
	done  bool
}

func (s *spend) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodPut {
		return resp, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done && resp.StatusCode < 300 {
		s.done = true
		resp.Header.Set("X-RateLimit-Remaining", "0")
		resp.Header.Set("X-RateLimit-Reset", strconv.FormatInt(s.reset().Unix(), 10))
	}
	return resp, nil
}

// TestGitHubWaitsForASpentRateLimit: a success that uses up the rate limit
// makes the next request wait for the reset, not fail at once.
func TestGitHubWaitsForASpentRateLimit(t *testing.T) {
	t.Parallel()
	var reset time.Time
	e := setup(t, func(c *destination.GitHubConfig) {
		reset = c.Now().Add(10 * time.Minute).Truncate(time.Second)
		c.HTTPClient = &http.Client{Transport: &spend{base: c.HTTPClient.Transport, reset: func() time.Time { return reset }}}
	})
	first := dest(t, destination.KindRepositorySecret, repoSecret)
	second := dest(t, destination.KindRepositorySecret, destination.Config{Repository: "acme/web", Name: "DEPLOY_TOKEN"})
	if err := e.w.Write(t.Context(), first, "tw_first"); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Write(t.Context(), second, "tw_second"); err != nil {
		t.Fatalf("the write after a spent rate limit: %v", err)
	}
	if got, _ := e.s.RepoSecret("acme/web", "DEPLOY_TOKEN"); got != "tw_second" {
		t.Fatalf("acme/web holds %q", got)
	}
	if e.clk.Now().Before(reset) {
		t.Fatalf("the writer did not wait for the reset at %v (now %v, waits %v)", reset, e.clk.Now(), e.clk.Waits())
	}
}

// TestGitHubHonoursRetryAfterOn5xx: a 503 that says when to come back is
// retried then, not after the usual backoff.
func TestGitHubHonoursRetryAfterOn5xx(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.s.Fail("PUT /repos/acme/api/actions/secrets/DEPLOY_TOKEN", githubtest.Fault{Status: 503, RetryAfter: "42"})
	if err := e.w.Write(t.Context(), dest(t, destination.KindRepositorySecret, repoSecret), "tw_value"); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range e.clk.Waits() {
		found = found || w == 42*time.Second
	}
	if !found {
		t.Fatalf("waits %v; want the 42s the 503 asked for", e.clk.Waits())
	}
}
