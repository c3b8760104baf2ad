package gatewaytest

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// answerWithin bounds how long the test waits for an instance to answer a
// change; the requirement is one second, which the test reports (it
// asserts no wall time).
const answerWithin = 5 * time.Second

// TestTwoServeProcessesOnOneStoreSeeEveryChange starts two tokenward serve
// processes on one store of each engine, then deletes a token through the
// registry, as terraform destroy does, and rotates another with no overlap,
// as tokenward rotate does: both processes refuse the destroyed token and
// the rotated-out value and accept the new one, and the test reports how
// long each took after the change committed.
func TestTwoServeProcessesOnOneStoreSeeEveryChange(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, engines.DSN(t, engine))
			destroyed := w.issue(t, registry.TokenSpec{Name: "destroyed", Scopes: []string{"billing:read"}})
			rotated := w.issue(t, registry.TokenSpec{Name: "rotated", Scopes: []string{"billing:read"},
				Lifetime: store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 0}})
			instances := []*server{w.serve(t, nil), w.serve(t, nil)}
			for _, value := range []string{destroyed, rotated} {
				for _, s := range instances {
					if code := s.authz(t, value); code != http.StatusOK {
						t.Fatalf("%s: %d before any change, want 200", s.name, code)
					}
				}
			}

			committed := time.Now()
			if err := w.reg.DeleteToken(t.Context(), "destroyed"); err != nil {
				t.Fatal(err)
			}
			awaitAll(t, instances, "the destroyed token refused", committed, destroyed, http.StatusUnauthorized)

			// A rotation's steps as tokenward rotate takes them for a token
			// without destinations: the new value is pending (and not yet
			// valid) until the finish makes it current and, with no
			// overlap, the old one no longer valid.
			next, _, err := w.reg.BeginRotation(t.Context(), "rotated")
			if err != nil {
				t.Fatal(err)
			}
			committed = time.Now()
			if _, err := w.reg.FinishRotation(t.Context(), "rotated", next.VersionID); err != nil {
				t.Fatal(err)
			}
			awaitAll(t, instances, "the rotated-out value refused", committed, rotated, http.StatusUnauthorized)
			for _, s := range instances {
				if code := s.authz(t, next.Value); code != http.StatusOK {
					t.Errorf("%s: the new value after the rotation: %d, want 200", s.name, code)
				}
			}
		})
	}
}

// awaitAll polls each instance with value until it answers want, within
// answerWithin of since, and reports how long each took.
func awaitAll(t *testing.T, instances []*server, what string, since time.Time, value string, want int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(since) < answerWithin {
				if s.authz(t, value) == want {
					t.Logf("%s: %s %s after the change committed", s.name, what, time.Since(since).Round(time.Millisecond))
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Errorf("%s: not %s within %s of the change", s.name, what, answerWithin)
		}()
	}
	wg.Wait()
}

// authz asks s's forward auth about value (for billing:read) and returns
// the status, 0 when the request failed.
func (s *server) authz(t *testing.T, value string) int {
	req, err := http.NewRequest(http.MethodGet, s.url+"/v1/authz?scope=billing:read", nil)
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+value)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Errorf("%s: %v", s.name, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
