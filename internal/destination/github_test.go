package destination_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// recorder notes the status of every response, "METHOD path status".
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.log = append(r.log, fmt.Sprintf("%s %s %d", req.Method, req.URL.EscapedPath(), resp.StatusCode))
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) statuses(match string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.log {
		if strings.Contains(l, match) {
			out = append(out, l[strings.LastIndex(l, " ")+1:])
		}
	}
	return out
}

type env struct {
	t   *testing.T
	s   *githubtest.Server
	clk *clocktest.Clock
	rec *recorder
	w   *destination.GitHub
}

// setup starts a fake GitHub with acme/api (environments "prod east" and
// "a/b"), acme/web and the organization acme, and a writer with a token
// that may write secrets. mod adjusts the writer's configuration.
func setup(t *testing.T, mod func(*destination.GitHubConfig), opts ...githubtest.Option) *env {
	t.Helper()
	s := githubtest.New(t, opts...)
	s.AddRepo("acme/api")
	s.AddRepo("acme/web")
	s.AddEnvironment("acme/api", "prod east")
	s.AddEnvironment("acme/api", "a/b")
	s.AddOrg("acme")
	s.AddToken("writer", true)
	s.AddToken("reader", false)
	e := &env{t: t, s: s, clk: clocktest.New(), rec: &recorder{base: s.Client().Transport}}
	cfg := destination.GitHubConfig{
		Token:      "writer",
		APIURL:     s.URL(),
		HTTPClient: &http.Client{Transport: e.rec},
		Sleep:      e.clk.Sleep,
		Now:        e.clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := destination.NewGitHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.w = w
	return e
}

func dest(t *testing.T, kind string, c destination.Config) store.Destination {
	t.Helper()
	d, err := destination.New(kind, c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	repoSecret = destination.Config{Repository: "acme/api", Name: "DEPLOY_TOKEN"}
	envSecret  = destination.Config{Repository: "acme/api", Environment: "prod east", Name: "DEPLOY_TOKEN"}
	slashEnv   = destination.Config{Repository: "acme/api", Environment: "a/b", Name: "DEPLOY_TOKEN"}
	orgAll     = destination.Config{Organization: "acme", Name: "DEPLOY_TOKEN", Visibility: destination.VisibilityAll}
	orgSel     = destination.Config{Organization: "acme", Name: "DEPLOY_TOKEN", Visibility: destination.VisibilitySelected, Repositories: []string{"acme/api", "web", "acme/web"}}
	depSecret  = destination.Config{Repository: "acme/api", Name: "DEPLOY_TOKEN"}
)

// noLeak fails the test when err shows the value or anything sealed.
func noLeak(t *testing.T, s *githubtest.Server, err error, values ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, v := range append(values, s.Sealed()...) {
		if v != "" && strings.Contains(msg, v) {
			t.Errorf("error %q shows a value or a sealed value", msg)
		}
	}
}

func TestGitHubWriteCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kind string
		cfg  destination.Config
		put  string // path of the PUT
		read func(s *githubtest.Server) (string, bool)
	}{
		{"repository", destination.KindRepositorySecret, repoSecret, "/repos/acme/api/actions/secrets/DEPLOY_TOKEN",
			func(s *githubtest.Server) (string, bool) { return s.RepoSecret("acme/api", "DEPLOY_TOKEN") }},
		{"environment with a space", destination.KindRepositorySecret, envSecret, "/environments/prod%20east/secrets/DEPLOY_TOKEN",
			func(s *githubtest.Server) (string, bool) { return s.EnvSecret("acme/api", "prod east", "DEPLOY_TOKEN") }},
		{"environment with a slash", destination.KindRepositorySecret, slashEnv, "/environments/a%2Fb/secrets/DEPLOY_TOKEN",
			func(s *githubtest.Server) (string, bool) { return s.EnvSecret("acme/api", "a/b", "DEPLOY_TOKEN") }},
		{"organization", destination.KindOrganizationSecret, orgAll, "/orgs/acme/actions/secrets/DEPLOY_TOKEN",
			func(s *githubtest.Server) (string, bool) {
				v, vis, _, ok := s.OrgSecret("acme", "DEPLOY_TOKEN")
				return v, ok && vis == "all"
			}},
		{"dependabot", destination.KindDependabotSecret, depSecret, "/repos/acme/api/dependabot/secrets/DEPLOY_TOKEN",
			func(s *githubtest.Server) (string, bool) { return s.DependabotSecret("acme/api", "DEPLOY_TOKEN") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, nil)
			d := dest(t, tc.kind, tc.cfg)
			for _, v := range []string{"tw_first value", "tw_second value"} {
				if err := e.w.Write(context.Background(), d, v); err != nil {
					t.Fatal(err)
				}
				if got, ok := tc.read(e.s); !ok || got != v {
					t.Fatalf("GitHub holds %q, %v; want %q", got, ok, v)
				}
			}
			if got := e.rec.statuses(tc.put); !slices.Equal(got, []string{"201", "204"}) {
				t.Errorf("PUT statuses %v, want [201 204]", got)
			}
			isRepo := tc.kind == destination.KindRepositorySecret && tc.cfg.Environment == ""
			if _, ok := e.s.RepoSecret("acme/api", "DEPLOY_TOKEN"); ok != isRepo {
				t.Errorf("the repository's Actions secret exists: %v, want %v", ok, isRepo)
			}
			if st := e.w.Stats(); st.Writes != 2 || st.KeyFetches != 1 || st.Retries != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestGitHubOrganizationSelectedRepositories(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	api, web := e.s.AddRepo("acme/api"), e.s.AddRepo("acme/web")
	d := dest(t, destination.KindOrganizationSecret, orgSel)
	for range 3 {
		if err := e.w.Write(context.Background(), d, "v"); err != nil {
			t.Fatal(err)
		}
	}
	v, vis, ids, ok := e.s.OrgSecret("acme", "DEPLOY_TOKEN")
	if !ok || v != "v" || vis != "selected" || !slices.Equal(ids, []int64{api, web}) {
		t.Fatalf("OrgSecret = %q %q %v %v; want v selected [%d %d]", v, vis, ids, ok, api, web)
	}
	if st := e.w.Stats(); st.RepoLookups != 2 || e.s.Count("GET /repos/acme/") != 2 {
		t.Errorf("repository lookups: stats %d, server %d; want 2 (cached)", st.RepoLookups, e.s.Count("GET /repos/acme/"))
	}

	missing := orgSel
	missing.Repositories = []string{"acme/api", "gone"}
	err := e.w.Write(context.Background(), dest(t, destination.KindOrganizationSecret, missing), "secret-v")
	if err == nil || !strings.Contains(err.Error(), "repository acme/gone, selected for the secret of organization acme, not found") {
		t.Fatalf("err = %v", err)
	}
	noLeak(t, e.s, err, "secret-v")
}

func TestGitHubPublicKeysFetchedOncePerScope(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	dests := []store.Destination{
		dest(t, destination.KindRepositorySecret, repoSecret),
		dest(t, destination.KindRepositorySecret, envSecret),
		dest(t, destination.KindRepositorySecret, slashEnv),
		dest(t, destination.KindOrganizationSecret, orgAll),
		dest(t, destination.KindDependabotSecret, depSecret),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 20 {
		for _, d := range dests {
			wg.Go(func() {
				if err := e.w.Write(context.Background(), d, fmt.Sprint("v", i)); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := e.w.Stats()
	if st.KeyFetches != len(dests) || e.s.Count("/public-key") != len(dests) {
		t.Errorf("key fetches: stats %d, server %d; want %d", st.KeyFetches, e.s.Count("/public-key"), len(dests))
	}
	if st.RepoLookups != 1 {
		t.Errorf("repository lookups %d, want 1", st.RepoLookups)
	}
	if st.Writes != 100 || e.s.Count("PUT ") != 100 {
		t.Errorf("writes: stats %d, server %d; want 100", st.Writes, e.s.Count("PUT "))
	}
}

func TestGitHubRefetchesARotatedKey(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	d := dest(t, destination.KindRepositorySecret, repoSecret)
	if err := e.w.Write(context.Background(), d, "one"); err != nil {
		t.Fatal(err)
	}
	e.s.RotateKeys()
	if err := e.w.Write(context.Background(), d, "two"); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.s.RepoSecret("acme/api", "DEPLOY_TOKEN"); v != "two" {
		t.Fatalf("GitHub holds %q, want two", v)
	}
	if got := e.rec.statuses("PUT "); !slices.Equal(got, []string{"201", "422", "204"}) {
		t.Errorf("PUT statuses %v, want [201 422 204]", got)
	}
	if st := e.w.Stats(); st.KeyFetches != 2 {
		t.Errorf("key fetches %d, want 2", st.KeyFetches)
	}
}

func TestGitHubDelete(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	a := dest(t, destination.KindRepositorySecret, repoSecret)
	other := repoSecret
	other.Name = "OTHER"
	b := dest(t, destination.KindRepositorySecret, other)
	ev := dest(t, destination.KindRepositorySecret, envSecret)
	org := dest(t, destination.KindOrganizationSecret, orgAll)
	dep := dest(t, destination.KindDependabotSecret, depSecret)
	for _, d := range []store.Destination{a, b, ev, org, dep} {
		if err := e.w.Write(ctx, d, "v"); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []store.Destination{a, ev, org, dep} {
		if err := e.w.Delete(ctx, d); err != nil {
			t.Fatalf("delete %s: %v", d.Key, err)
		}
		if err := e.w.Delete(ctx, d); err != nil {
			t.Fatalf("delete %s again: %v", d.Key, err)
		}
	}
	if _, ok := e.s.RepoSecret("acme/api", "DEPLOY_TOKEN"); ok {
		t.Error("repository secret not deleted")
	}
	if _, ok := e.s.EnvSecret("acme/api", "prod east", "DEPLOY_TOKEN"); ok {
		t.Error("environment secret not deleted")
	}
	if _, _, _, ok := e.s.OrgSecret("acme", "DEPLOY_TOKEN"); ok {
		t.Error("organization secret not deleted")
	}
	if _, ok := e.s.DependabotSecret("acme/api", "DEPLOY_TOKEN"); ok {
		t.Error("Dependabot secret not deleted")
	}
	if v, ok := e.s.RepoSecret("acme/api", "OTHER"); !ok || v != "v" {
		t.Error("a secret tokenward was not asked to delete is gone")
	}
	if n := e.s.Count("DELETE "); n != 8 {
		t.Errorf("%d DELETE requests, want 8", n)
	}
	gone := envSecret
	gone.Repository = "acme/gone"
	if err := e.w.Delete(ctx, dest(t, destination.KindRepositorySecret, gone)); err != nil {
		t.Errorf("delete in a repository that is gone: %v", err)
	}

	r := setup(t, func(c *destination.GitHubConfig) { c.Token = "reader" })
	err := r.w.Delete(ctx, a)
	if err == nil || !strings.Contains(err.Error(), "lacks the Secrets: write permission on acme/api") {
		t.Errorf("delete without permission: %v", err)
	}
}

func TestGitHubRetries(t *testing.T) {
	t.Parallel()
	between := func(lo, hi time.Duration) func(time.Duration) bool {
		return func(d time.Duration) bool { return d >= lo && d <= hi }
	}
	exactly := func(want time.Duration) func(time.Duration) bool {
		return func(d time.Duration) bool { return d == want }
	}
	start := clocktest.Start
	for _, tc := range []struct {
		name   string
		match  string
		fault  githubtest.Fault
		waits  []func(time.Duration) bool
		sends  int // PUTs or key GETs sent, with match
		errHas string
	}{
		{"5xx twice then success", "PUT ", githubtest.Fault{Status: 502, Times: 2},
			[]func(time.Duration) bool{between(500*time.Millisecond, time.Second), between(time.Second, 2*time.Second)}, 3, ""},
		{"5xx on a key fetch", "GET /repos/acme/api/actions/secrets/public-key", githubtest.Fault{Status: 503},
			[]func(time.Duration) bool{between(500*time.Millisecond, time.Second)}, 2, ""},
		{"stall then success", "PUT ", githubtest.Fault{Stall: time.Hour},
			[]func(time.Duration) bool{between(500*time.Millisecond, time.Second)}, 2, ""},
		{"403 with Retry-After", "PUT ", githubtest.Fault{Status: 403, RetryAfter: "7"},
			[]func(time.Duration) bool{exactly(7 * time.Second)}, 2, ""},
		{"429 with Retry-After", "PUT ", githubtest.Fault{Status: 429, RetryAfter: "3"},
			[]func(time.Duration) bool{exactly(3 * time.Second)}, 2, ""},
		{"429 with a date", "PUT ", githubtest.Fault{Status: 429, RetryAfter: start.Add(42 * time.Second).Format(http.TimeFormat)},
			[]func(time.Duration) bool{exactly(42 * time.Second)}, 2, ""},
		{"429 without a hint", "PUT ", githubtest.Fault{Status: 429},
			[]func(time.Duration) bool{between(500*time.Millisecond, time.Second)}, 2, ""},
		{"primary rate limit", "PUT ", githubtest.Fault{RateLimitReset: start.Add(90 * time.Second)},
			[]func(time.Duration) bool{exactly(90 * time.Second)}, 2, ""},
		{"primary rate limit on 429", "GET /repos/acme/api/actions", githubtest.Fault{Status: 429, RateLimitReset: start.Add(5 * time.Minute)},
			[]func(time.Duration) bool{exactly(5 * time.Minute)}, 2, ""},
		{"rate limit beyond 15 minutes", "PUT ", githubtest.Fault{RateLimitReset: start.Add(2 * time.Hour)},
			nil, 1, "resets at 11:00:00 UTC (in 2h0m0s)"},
		{"5xx every time", "PUT ", githubtest.Fault{Status: 502, Times: 100},
			[]func(time.Duration) bool{between(500*time.Millisecond, time.Second), between(time.Second, 2*time.Second), between(2*time.Second, 4*time.Second)}, 4, "GitHub failed with 502 on every attempt"},
		{"stall every time", "PUT ", githubtest.Fault{Stall: time.Hour, Times: 100},
			[]func(time.Duration) bool{between(500*time.Millisecond, time.Second), between(time.Second, 2*time.Second), between(2*time.Second, 4*time.Second)}, 4, "did not answer within 50ms, 4 times"},
		{"rate limited every time", "PUT ", githubtest.Fault{Status: 429, RetryAfter: "1", Times: 100},
			[]func(time.Duration) bool{exactly(time.Second), exactly(time.Second), exactly(time.Second)}, 4, "still rate limited the request after 4 attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, func(c *destination.GitHubConfig) {
				// Only the stalls need a short timeout; elsewhere a slow
				// answer on a loaded machine would add a retry the case
				// does not expect.
				c.RequestTimeout = 10 * time.Second
				if tc.fault.Stall > 0 {
					c.RequestTimeout = 50 * time.Millisecond
				}
				c.MaxAttempts = 4
			})
			e.s.Fail(tc.match, tc.fault)
			err := e.w.Write(context.Background(), dest(t, destination.KindRepositorySecret, repoSecret), "tw_value")
			noLeak(t, e.s, err, "tw_value")
			switch {
			case tc.errHas == "" && err != nil:
				t.Fatalf("write: %v", err)
			case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
				t.Fatalf("err = %v, want it to say %q", err, tc.errHas)
			case tc.errHas != "" && !strings.HasPrefix(err.Error(), "write github_secret:acme/api:DEPLOY_TOKEN: "):
				t.Errorf("err = %v, want it to start with what was being done", err)
			}
			if tc.errHas == "" {
				if v, _ := e.s.RepoSecret("acme/api", "DEPLOY_TOKEN"); v != "tw_value" {
					t.Errorf("GitHub holds %q", v)
				}
			}
			waits := e.clk.Waits()
			if len(waits) != len(tc.waits) {
				t.Fatalf("waits %v, want %d of them", waits, len(tc.waits))
			}
			for i, ok := range tc.waits {
				if !ok(waits[i]) {
					t.Errorf("wait %d is %v", i, waits[i])
				}
			}
			if n := e.s.Count(tc.match); n != tc.sends {
				t.Errorf("%d requests matched %q, want %d", n, tc.match, tc.sends)
			}
			if st := e.w.Stats(); st.Retries != tc.sends-1 {
				t.Errorf("retries %d, want %d", st.Retries, tc.sends-1)
			}
		})
	}
}

func TestGitHubErrorsNotRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		token  string
		kind   string
		cfg    destination.Config
		fault  *githubtest.Fault
		errHas string
	}{
		{"401", "expired", destination.KindRepositorySecret, repoSecret, nil, "the GitHub token is invalid or expired"},
		{"403 repository", "reader", destination.KindRepositorySecret, repoSecret, nil, "the token or GitHub App lacks the Secrets: write permission on acme/api"},
		{"403 environment", "reader", destination.KindRepositorySecret, envSecret, nil, "lacks the Secrets: write and Environments: write permission on acme/api"},
		{"403 dependabot", "reader", destination.KindDependabotSecret, depSecret, nil, "lacks the Dependabot secrets: write permission on acme/api"},
		{"403 organization", "reader", destination.KindOrganizationSecret, orgAll, nil, "lacks the organization Secrets: write permission on acme"},
		{"404 repository", "writer", destination.KindRepositorySecret, destination.Config{Repository: "acme/gone", Name: "X"}, nil, "repository acme/gone not found, or the token cannot see it"},
		{"404 environment", "writer", destination.KindRepositorySecret, destination.Config{Repository: "acme/api", Environment: "staging", Name: "X"}, nil, `repository acme/api (or its environment "staging") not found`},
		{"404 organization", "writer", destination.KindOrganizationSecret, destination.Config{Organization: "umbrella", Name: "X", Visibility: "all"}, nil, "organization umbrella not found"},
		{"422", "writer", destination.KindRepositorySecret, repoSecret, &githubtest.Fault{Status: 422}, "GitHub rejected the secret: Unprocessable Entity; check the secret name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, func(c *destination.GitHubConfig) { c.Token = tc.token })
			if tc.fault != nil {
				e.s.Fail("PUT ", *tc.fault)
			}
			err := e.w.Write(context.Background(), dest(t, tc.kind, tc.cfg), "tw_value")
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want it to say %q", err, tc.errHas)
			}
			noLeak(t, e.s, err, "tw_value")
			if st := e.w.Stats(); st.Retries != 0 {
				t.Errorf("retried %d times", st.Retries)
			}
			if len(e.clk.Waits()) != 0 {
				t.Errorf("waited %v", e.clk.Waits())
			}
		})
	}
}

func TestGitHubPacesWrites(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *destination.GitHubConfig) { c.Pace = time.Second })
	ctx := context.Background()
	d := dest(t, destination.KindRepositorySecret, repoSecret)
	for range 3 {
		if err := e.w.Write(ctx, d, "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.w.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	// The first write waits for nothing; the key fetch is not a write.
	if got, want := e.clk.Waits(), []time.Duration{time.Second, time.Second, time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

func TestGitHubPacesParallelWrites(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *destination.GitHubConfig) { c.Pace = time.Second })
	var wg sync.WaitGroup
	for i := range 5 {
		c := repoSecret
		c.Name = fmt.Sprint("S", i)
		wg.Go(func() {
			if err := e.w.Write(context.Background(), dest(t, destination.KindRepositorySecret, c), "v"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, want := e.clk.Waits(), slices.Repeat([]time.Duration{time.Second}, 4); !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

func TestGitHubAppAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		prefix  string
		install int64
		errHas  string
	}{
		{"github.com", "", 70, ""},
		{"enterprise server", "/api/v3", 70, ""},
		{"wrong installation", "", 71, "could not get a GitHub App installation token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []githubtest.Option
			if tc.prefix != "" {
				opts = append(opts, githubtest.WithPrefix(tc.prefix))
			}
			s := githubtest.New(t, opts...)
			s.AddRepo("acme/api")
			key := s.AddApp(7, 70)
			api := s.URL()
			if tc.prefix != "" {
				api = strings.TrimSuffix(api, "/") // as GHES users write it
			}
			w, err := destination.NewGitHub(destination.GitHubConfig{
				AppID: 7, InstallationID: tc.install, PrivateKey: key,
				APIURL: api, Sleep: clocktest.New().Sleep,
			})
			if err != nil {
				t.Fatal(err)
			}
			d := dest(t, destination.KindRepositorySecret, repoSecret)
			for _, v := range []string{"one", "two"} {
				err = w.Write(context.Background(), d, v)
				if err != nil {
					break
				}
			}
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want it to say %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := s.RepoSecret("acme/api", "DEPLOY_TOKEN"); v != "two" {
				t.Errorf("GitHub holds %q", v)
			}
			if n := s.Count("POST /app/installations/70/access_tokens"); n != 1 {
				t.Errorf("%d token exchanges, want 1", n)
			}
		})
	}
}

func TestGitHubEnterpriseTokenAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, githubtest.WithPrefix("/api/v3"))
	w, err := destination.NewGitHub(destination.GitHubConfig{Token: "writer", APIURL: strings.TrimSuffix(e.s.URL(), "/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []destination.Config{envSecret, slashEnv} {
		if err := w.Write(context.Background(), dest(t, destination.KindRepositorySecret, c), c.Environment); err != nil {
			t.Fatal(err)
		}
		if v, _ := e.s.EnvSecret("acme/api", c.Environment, "DEPLOY_TOKEN"); v != c.Environment {
			t.Errorf("environment %q holds %q", c.Environment, v)
		}
	}
}

func TestGitHubCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *destination.GitHubConfig) { c.Sleep = nil }) // the real timer
	e.s.Fail("PUT ", githubtest.Fault{Status: 429, RetryAfter: "600"})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for e.s.Count("PUT ") == 0 {
			time.Sleep(time.Millisecond) // poll until the 429 was answered
		}
		cancel()
	}()
	err := e.w.Write(ctx, dest(t, destination.KindRepositorySecret, repoSecret), "v")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNewGitHubChecksItsConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    destination.GitHubConfig
		errHas string
	}{
		{"nothing", destination.GitHubConfig{}, "GitHub credentials are not configured"},
		{"token and app", destination.GitHubConfig{Token: "t", AppID: 1, InstallationID: 2, PrivateKey: []byte("k")}, "configure only one"},
		{"app without installation", destination.GitHubConfig{AppID: 1, PrivateKey: []byte("k")}, "app id, installation id and private key"},
		{"bad key", destination.GitHubConfig{AppID: 1, InstallationID: 2, PrivateKey: []byte("not a key")}, "GitHub App private key"},
		{"bad URL", destination.GitHubConfig{Token: "t", APIURL: "ftp://x"}, "must be http(s)://host"},
		{"negative pace", destination.GitHubConfig{Token: "t", Pace: -time.Second}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := destination.NewGitHub(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("NewGitHub: err = %v, want it to say %q", err, tc.errHas)
			}
			if _, err := destination.NewGitHubClient(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("NewGitHubClient: err = %v, want it to say %q", err, tc.errHas)
			}
		})
	}
}

func TestGitHubConfigFromEnv(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, []byte("PEM FROM FILE"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		ok     bool
		errHas string
		check  func(destination.GitHubConfig) bool
	}{
		{"nothing", map[string]string{"GITHUB_API_URL": "https://api.github.com"}, false, "", nil},
		{"token", map[string]string{"GITHUB_TOKEN": "t", "GITHUB_API_URL": "https://ghe.example/api/v3"}, true, "",
			func(c destination.GitHubConfig) bool {
				return c.Token == "t" && c.APIURL == "https://ghe.example/api/v3" && c.Pace == time.Second
			}},
		{"pace", map[string]string{"GITHUB_TOKEN": "t", "TOKENWARD_GITHUB_PACE": "250ms"}, true, "",
			func(c destination.GitHubConfig) bool { return c.Pace == 250*time.Millisecond }},
		{"bad pace", map[string]string{"GITHUB_TOKEN": "t", "TOKENWARD_GITHUB_PACE": "soon"}, true, "TOKENWARD_GITHUB_PACE", nil},
		{"app with key", map[string]string{"TOKENWARD_GITHUB_APP_ID": "7", "TOKENWARD_GITHUB_APP_INSTALLATION_ID": "70", "TOKENWARD_GITHUB_APP_PRIVATE_KEY": "PEM"}, true, "",
			func(c destination.GitHubConfig) bool {
				return c.AppID == 7 && c.InstallationID == 70 && string(c.PrivateKey) == "PEM" && c.Token == ""
			}},
		{"app with key file", map[string]string{"TOKENWARD_GITHUB_APP_ID": "7", "TOKENWARD_GITHUB_APP_INSTALLATION_ID": "70", "TOKENWARD_GITHUB_APP_PRIVATE_KEY_FILE": keyFile}, true, "",
			func(c destination.GitHubConfig) bool { return string(c.PrivateKey) == "PEM FROM FILE" }},
		{"app without installation", map[string]string{"TOKENWARD_GITHUB_APP_ID": "7", "TOKENWARD_GITHUB_APP_PRIVATE_KEY": "PEM"}, true, "TOKENWARD_GITHUB_APP_INSTALLATION_ID is not set", nil},
		{"app without key", map[string]string{"TOKENWARD_GITHUB_APP_ID": "7", "TOKENWARD_GITHUB_APP_INSTALLATION_ID": "70"}, true, "set TOKENWARD_GITHUB_APP_PRIVATE_KEY or TOKENWARD_GITHUB_APP_PRIVATE_KEY_FILE", nil},
		{"app id not a number", map[string]string{"TOKENWARD_GITHUB_APP_ID": "seven", "TOKENWARD_GITHUB_APP_INSTALLATION_ID": "70", "TOKENWARD_GITHUB_APP_PRIVATE_KEY": "PEM"}, true, "TOKENWARD_GITHUB_APP_ID", nil},
		{"both keys", map[string]string{"TOKENWARD_GITHUB_APP_ID": "7", "TOKENWARD_GITHUB_APP_INSTALLATION_ID": "70", "TOKENWARD_GITHUB_APP_PRIVATE_KEY": "PEM", "TOKENWARD_GITHUB_APP_PRIVATE_KEY_FILE": keyFile}, true, "set only one", nil},
		{"token and app", map[string]string{"TOKENWARD_GITHUB_TOKEN": "t", "TOKENWARD_GITHUB_APP_ID": "7"}, true, "set only one", nil},
		{"tokenward token first", map[string]string{"TOKENWARD_GITHUB_TOKEN": "fine-grained", "GITHUB_TOKEN": "workflow"}, true, "",
			func(c destination.GitHubConfig) bool { return c.Token == "fine-grained" }},
		{"app wins over the job's GITHUB_TOKEN", map[string]string{"GITHUB_TOKEN": "workflow", "TOKENWARD_GITHUB_APP_ID": "7", "TOKENWARD_GITHUB_APP_INSTALLATION_ID": "70", "TOKENWARD_GITHUB_APP_PRIVATE_KEY": "PEM"}, true, "",
			func(c destination.GitHubConfig) bool { return c.Token == "" && c.AppID == 7 }},
		{"missing key file", map[string]string{"TOKENWARD_GITHUB_APP_ID": "7", "TOKENWARD_GITHUB_APP_INSTALLATION_ID": "70", "TOKENWARD_GITHUB_APP_PRIVATE_KEY_FILE": keyFile + ".gone"}, true, "TOKENWARD_GITHUB_APP_PRIVATE_KEY_FILE", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, ok, err := destination.GitHubConfigFromEnv(func(k string) string { return tc.env[k] })
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v", ok, tc.ok)
			}
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want it to say %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil && !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

// BenchmarkGitHubWrite writes one secret to each of 20 repositories, twice,
// against a fake GitHub that answers in 20ms, and reports the requests each
// round needs: public keys are fetched once per repository per writer.
func BenchmarkGitHubWrite(b *testing.B) {
	s := githubtest.New(b)
	s.AddToken("writer", true)
	s.SetLatency(20 * time.Millisecond)
	var dests []store.Destination
	for i := range 20 {
		full := fmt.Sprintf("acme/svc%d", i)
		s.AddRepo(full)
		d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: full, Name: "TOKEN"})
		if err != nil {
			b.Fatal(err)
		}
		dests = append(dests, d)
	}
	for b.Loop() {
		w, err := destination.NewGitHub(destination.GitHubConfig{Token: "writer", APIURL: s.URL()})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, d := range dests {
			wg.Go(func() {
				for range 2 {
					if err := w.Write(context.Background(), d, "v"); err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
		st := w.Stats()
		b.ReportMetric(float64(st.Requests), "requests/round")
		b.ReportMetric(float64(st.KeyFetches), "keyfetches/round")
	}
}
