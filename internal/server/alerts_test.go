package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// alertStore is a store with an in-memory alert log; the rest of the
// store is never reached by /v1/alerts.
type alertStore struct {
	store.Store
	mu     sync.Mutex
	alerts []store.Alert // oldest first
}

func (s *alertStore) AppendAlert(_ context.Context, a store.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts = append(s.alerts, a)
	return nil
}

func (s *alertStore) Alerts(_ context.Context, q store.AlertQuery) ([]store.Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Alert
	for i := len(s.alerts) - 1; i >= 0 && (q.Limit == 0 || len(out) < q.Limit); i-- {
		if !s.alerts[i].At.Before(q.Since) {
			out = append(out, s.alerts[i])
		}
	}
	return out, nil
}

func (s *alertStore) AckAlert(context.Context, string, string, time.Time) error { return nil }

// alertsWorld is a server with tokens that may or may not read alerts.
type alertsWorld struct {
	srv    *server.Server
	values map[string]string
}

func newAlertsWorld(t *testing.T, st store.Store) *alertsWorld {
	t.Helper()
	clock := clocktest.New()
	now := clock.Now()
	w := &alertsWorld{values: map[string]string{}}
	var entries []*server.Entry
	for _, v := range []struct {
		label  string
		state  token.State
		scopes []string
		nets   []netip.Prefix
	}{
		{"reader", token.StateCurrent, []string{registry.ScopeAlertsRead}, nil},
		{"introspector", token.StateCurrent, []string{registry.ScopeIntrospect}, nil},
		{"revoked-reader", token.StateRevoked, []string{registry.ScopeAlertsRead}, nil},
		{"far-reader", token.StateCurrent, []string{registry.ScopeAlertsRead}, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
	} {
		m, err := token.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w.values[v.label] = m.Value
		entries = append(entries, &server.Entry{
			Record: token.Record{VersionID: m.ID, TokenName: v.label, Hash: m.Hash, State: v.state,
				ExpiresAt: now.Add(time.Hour), Scopes: v.scopes},
			Token: &server.TokenInfo{ID: "id-" + v.label, Name: v.label, AllowedCIDRs: v.nets},
		})
	}
	src := &fakeSource{}
	src.set(server.NewSnapshot(1, now, entries))
	opts := []server.Option{server.WithServerClock(clock.Now)}
	if st != nil {
		opts = append(opts, server.WithRegistryAccess(registry.New(st, nil), registry.ServeAccess{Writable: true}))
	}
	w.srv = server.New(src, opts...)
	return w
}

func (w *alertsWorld) get(target, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, r)
	return rec
}

// TestAlertsAccess checks who may read /v1/alerts and what the others get.
func TestAlertsAccess(t *testing.T) {
	t.Parallel()
	st := &alertStore{}
	w := newAlertsWorld(t, st)
	bearer := func(label string) string { return "Bearer " + w.values[label] }
	cases := []struct {
		name      string
		auth      string
		status    int
		challenge string // in WWW-Authenticate
	}{
		{"no token", "", http.StatusUnauthorized, `Bearer realm="tokenward"`},
		{"basic", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, `error="invalid_token"`},
		{"unknown token", "Bearer tw_notatoken", http.StatusUnauthorized, `error="invalid_token"`},
		{"revoked token", bearer("revoked-reader"), http.StatusUnauthorized, `error="invalid_token"`},
		{"from outside its networks", bearer("far-reader"), http.StatusUnauthorized, `error="invalid_token"`},
		{"without the scope", bearer("introspector"), http.StatusForbidden, `error="insufficient_scope", scope="tokenward:alerts-read"`},
		{"reader", bearer("reader"), http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := w.get("/v1/alerts", tc.auth)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if h := rec.Header().Get("WWW-Authenticate"); !strings.Contains(h, tc.challenge) || (tc.challenge == "") != (h == "") {
				t.Errorf("WWW-Authenticate %q, want %q", h, tc.challenge)
			}
			for _, v := range w.values {
				if strings.Contains(rec.Body.String(), v) {
					t.Errorf("the answer quotes a token value: %s", rec.Body)
				}
			}
		})
	}
}

// TestAlertsList checks ?since and ?limit and the JSON of each alert.
func TestAlertsList(t *testing.T) {
	t.Parallel()
	now := clocktest.Start
	st := &alertStore{}
	for i, at := range []time.Time{now.Add(-48 * time.Hour), now.Add(-2 * time.Hour), now.Add(-time.Minute)} {
		st.alerts = append(st.alerts, store.Alert{ID: "A" + string(rune('0'+i)), At: at, Detector: "new_network", Severity: "warn",
			TokenName: "api", SourceIP: "10.0.1.5", Network: "10.0.1.0/24", Detail: "token api was used from 10.0.1.0/24",
			Evidence: map[string]string{"network": "10.0.1.0/24"}, AckedBy: "alice", AckedAt: now})
	}
	w := newAlertsWorld(t, st)
	auth := "Bearer " + w.values["reader"]
	cases := []struct {
		query  string
		status int
		ids    []string
	}{
		{"", http.StatusOK, []string{"A2", "A1"}},
		{"?since=1h", http.StatusOK, []string{"A2"}},
		{"?since=3d", http.StatusOK, []string{"A2", "A1", "A0"}},
		{"?since=3d&limit=1", http.StatusOK, []string{"A2"}},
		{"?since=soon", http.StatusBadRequest, nil},
		{"?since=-1h", http.StatusBadRequest, nil},
		{"?limit=0", http.StatusBadRequest, nil},
		{"?limit=5000", http.StatusBadRequest, nil},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			rec := w.get("/v1/alerts"+tc.query, auth)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != http.StatusOK {
				return
			}
			var got []map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range got {
				ids = append(ids, a["id"].(string))
				for _, k := range []string{"id", "time", "detector", "severity", "token", "source_ip", "detail", "evidence", "acked_by", "acked_at"} {
					if _, ok := a[k]; !ok {
						t.Errorf("alert lacks %q: %v", k, a)
					}
				}
			}
			if strings.Join(ids, ",") != strings.Join(tc.ids, ",") {
				t.Errorf("ids %v, want %v", ids, tc.ids)
			}
		})
	}
}

// TestAlertsUnavailable checks the 503 of a server without an alert log.
func TestAlertsUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		st   store.Store
	}{
		{"no registry", nil},
		{"a store without an alert log", struct{ store.Store }{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newAlertsWorld(t, tc.st)
			if rec := w.get("/v1/alerts", "Bearer "+w.values["reader"]); rec.Code != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503: %s", rec.Code, rec.Body)
			}
		})
	}
}
