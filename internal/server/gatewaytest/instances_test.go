package gatewaytest

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// refuseWithin bounds how long the test waits for an instance to refuse a
// destroyed token; the requirement is one second, which the test reports
// (it asserts no wall time).
const refuseWithin = 5 * time.Second

// TestTwoServeProcessesOnOneSQLiteStoreRefuseADestroyedToken starts two
// tokenward serve processes on one SQLite file and deletes a token through
// the registry, as terraform destroy does: both refuse it, and the test
// reports how long each took.
func TestTwoServeProcessesOnOneSQLiteStoreRefuseADestroyedToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t, dir)
	value := w.issue(t, registry.TokenSpec{Name: "billing-client", Scopes: []string{"billing:read"}})
	instances := []*server{w.serve(t, nil), w.serve(t, nil)}
	authz := func(s *server) int {
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
	for _, s := range instances {
		if code := authz(s); code != http.StatusOK {
			t.Fatalf("%s: %d before the destroy, want 200", s.name, code)
		}
	}

	deleted := time.Now()
	if err := w.reg.DeleteToken(t.Context(), "billing-client"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(deleted) < refuseWithin {
				if code := authz(s); code == http.StatusUnauthorized {
					t.Logf("%s refused the destroyed token %s after the delete committed", s.name, time.Since(deleted).Round(time.Millisecond))
					return
				} else if code != http.StatusOK {
					t.Errorf("%s: %d, want 200 until it refuses with 401", s.name, code)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Errorf("%s still accepted the destroyed token %s after the delete", s.name, refuseWithin)
		}()
	}
	wg.Wait()
}
