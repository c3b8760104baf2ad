package rotation_test

import (
	"context"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// waits records the GitHub writer's waits instead of sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) Sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return ctx.Err()
}

func (w *waits) has(d time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.d {
		if x == d {
			return true
		}
	}
	return false
}

// TestRotationSurvivesGitHubFaults: a destination that fails leaves the
// token valid everywhere, the run reports it, and the next run finishes.
func TestRotationSurvivesGitHubFaults(t *testing.T) {
	t.Parallel()
	const failing = "PUT /repos/acme/web/actions/secrets/DEPLOY_TOKEN"
	cases := []struct {
		name     string
		fault    *githubtest.Fault
		repo     string // the failing destination's repository
		fix      func(s *githubtest.Server)
		sameRun  bool          // the writer waits and succeeds in the first run
		wait     time.Duration // a wait the writer must have honoured
		errorHas string
	}{
		{name: "5xx", fault: &githubtest.Fault{Status: 502, Times: 3}, repo: "acme/web", errorHas: "502"},
		{name: "stall", fault: &githubtest.Fault{Stall: time.Minute, Times: 3}, repo: "acme/web", errorHas: "acme/web"},
		{name: "403 with Retry-After", fault: &githubtest.Fault{Status: 403, RetryAfter: "30", Times: 1}, repo: "acme/web", sameRun: true, wait: 30 * time.Second},
		{name: "429 with Retry-After", fault: &githubtest.Fault{Status: 429, RetryAfter: "7", Times: 1}, repo: "acme/web", sameRun: true, wait: 7 * time.Second},
		{name: "429 until the run gives up", fault: &githubtest.Fault{Status: 429, RetryAfter: "5", Times: 3}, repo: "acme/web", wait: 5 * time.Second, errorHas: "rate limit"},
		{name: "404", repo: "acme/gone", fix: func(s *githubtest.Server) { s.AddRepo("acme/gone") }, errorHas: "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f *fixture) {
				ctx := t.Context()
				gh := githubtest.New(t)
				gh.AddRepo("acme/api")
				gh.AddRepo("acme/web")
				gh.AddToken("rotator", true)
				w := &waits{}
				writer, err := destination.NewGitHub(destination.GitHubConfig{
					Token: "rotator", APIURL: gh.URL(), HTTPClient: &http.Client{Transport: gh.Client().Transport},
					MaxAttempts: 3, RequestTimeout: 100 * time.Millisecond, Sleep: w.Sleep,
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.reg.CreateScope(ctx, "billing:read", ""); err != nil {
					t.Fatal(err)
				}
				var ds []store.Destination
				for _, repo := range []string{"acme/api", tc.repo} {
					d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: repo, Name: "DEPLOY_TOKEN"})
					if err != nil {
						t.Fatal(err)
					}
					ds = append(ds, d)
				}
				if tc.fix == nil {
					// Issue the first version everywhere before the fault.
					if _, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: "deploy", Scopes: []string{"billing:read"},
						Lifetime: store.Lifetime{TTL: 30 * day, RotateBefore: 7 * day, Overlap: day}, Destinations: ds}); err != nil {
						t.Fatal(err)
					}
					if _, err := rotation.New(f.reg, destination.NewRouter(writer)).Rotate(ctx, "deploy"); err != nil {
						t.Fatal(err)
					}
				} else {
					// The repository is gone from the start: the first issue fails.
					if _, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: "deploy", Scopes: []string{"billing:read"},
						Lifetime: store.Lifetime{TTL: 30 * day, RotateBefore: 7 * day, Overlap: day}, Destinations: ds}); err != nil {
						t.Fatal(err)
					}
				}
				old, _ := gh.RepoSecret("acme/api", "DEPLOY_TOKEN")
				f.clock.Advance(23 * day)
				if tc.fault != nil {
					gh.Fail(failing, *tc.fault)
				}
				eng := rotation.New(f.reg, destination.NewRouter(writer))
				rep, err := eng.Run(ctx, rotation.RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if tc.wait != 0 && !w.has(tc.wait) {
					t.Errorf("the writer did not wait %s: %v", tc.wait, w.d)
				}
				if tc.sameRun {
					if rep.Rotated() != 1 {
						t.Fatalf("run: %+v", rep.Results)
					}
				} else {
					failed := rep.Failed()
					if len(failed) != 1 || !strings.Contains(failed[0].Err.Error(), tc.errorHas) || !strings.Contains(failed[0].Err.Error(), tc.repo) {
						t.Fatalf("failed = %+v; want an error about %s naming %q", failed, tc.repo, tc.errorHas)
					}
					if old != "" {
						// The failing destination still holds the old value, which verifies.
						held, _ := gh.RepoSecret(tc.repo, "DEPLOY_TOKEN")
						if held != old || f.verify(t, held) != token.Valid {
							t.Fatal("the failing destination lost its valid value")
						}
					}
					if tc.fix != nil {
						tc.fix(gh)
					}
					rep, err = eng.Run(ctx, rotation.RunOptions{})
					if err != nil || rep.Rotated() != 1 || !rep.Results[0].Resumed {
						t.Fatalf("next run: %v %+v", err, rep.Results)
					}
				}
				a, _ := gh.RepoSecret("acme/api", "DEPLOY_TOKEN")
				b, _ := gh.RepoSecret(tc.repo, "DEPLOY_TOKEN")
				if a == "" || a != b || a == old || f.verify(t, a) != token.Valid {
					t.Fatal("the destinations do not hold the same new value")
				}
				if old != "" && f.verify(t, old) != token.Valid {
					t.Fatal("the old value stopped verifying inside the overlap")
				}
				storetest.AuditChain(t, f.st)
			})
		})
	}
}
