package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// TestReadiness checks /readyz: 200 only with a current snapshot, with its
// seq, size and age either way; /healthz answers regardless.
func TestReadiness(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		setup     func(*world)
		want      int
		wantReady bool
		wantAge   float64
	}{
		{"fresh", func(w *world) { w.clock.Advance(2 * time.Second) }, 200, true, 2},
		{"stale", func(w *world) { w.clock.Advance(2 * time.Minute); w.src.fail(server.ErrStale) }, 503, false, 120},
		{"not loaded", func(w *world) {
			w.src = &fakeSource{}
			w.srv = server.New(w.src, server.WithServerClock(w.clock.Now))
		}, 503, false, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tc.setup(w)
			rec := w.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
			m := decode(t, rec)
			if rec.Code != tc.want || m["ready"] != tc.wantReady || m["age_seconds"] != tc.wantAge {
				t.Errorf("readyz answered %d %v, want %d ready %v age %v", rec.Code, m, tc.want, tc.wantReady, tc.wantAge)
			}
			if tc.wantReady && (m["seq"] != float64(7) || m["size"] != float64(len(worldVersions))) {
				t.Errorf("readyz reports seq %v size %v, want 7 and %d", m["seq"], m["size"], len(worldVersions))
			}
			if rec := w.do(httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Code != 200 {
				t.Errorf("healthz answered %d", rec.Code)
			}
		})
	}
}

// TestMetrics checks what /metrics reports after some requests, and that
// promtool accepts it.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	w := newWorld(t, server.WithRegistry(reg))
	for range 3 {
		w.ask(t, "verify", "billing", nil, "")
	}
	w.ask(t, "authz", "revoked", nil, "")
	w.ask(t, "introspect", "billing", nil, "")
	for range 3 {
		w.ask(t, "verify", "limited", nil, "")
	}
	w.clock.Advance(3 * time.Second)
	rec := w.do(localRequest(http.MethodGet, "/metrics"))
	if rec.Code != 200 {
		t.Fatalf("metrics answered %d", rec.Code)
	}
	text := rec.Body.String()
	for _, want := range []string{
		`tokenward_requests_total{code="valid",endpoint="verify"} 5`,
		`tokenward_requests_total{code="rate_limited",endpoint="verify"} 1`,
		`tokenward_requests_total{code="revoked",endpoint="authz"} 1`,
		`tokenward_requests_total{code="valid",endpoint="introspect"} 1`,
		`tokenward_verification_duration_seconds_count{endpoint="verify"} 6`,
		`tokenward_snapshot_age_seconds 3`,
		`tokenward_snapshot_versions 12`,
		`tokenward_snapshot_seq 7`,
		`tokenward_snapshot_loaded 1`,
		`tokenward_snapshot_stale 0`,
		`tokenward_snapshot_invalidations_total 1`,
		`tokenward_rate_limited_tokens 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want+"\n") && !strings.Contains(text, want+" ") {
			t.Errorf("the metrics lack %q", want)
		}
	}
	for label, v := range w.values {
		if strings.Contains(text, v[:len(v)-6]) {
			t.Errorf("the metrics hold the value of %s", label)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian's prometheus package): it must run under CI")
		}
		t.Skip("promtool is not installed (apt-get install prometheus); it runs under CI")
	}
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// localRequest is a request from this host, as a scraper of /metrics is by
// default.
func localRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

// TestMetricsOnlyFromMetricsNetworks: /metrics answers the networks of
// --metrics-from (this host by default) and no one else, whatever a
// forwarded header claims: its counters would tell a prober what its
// requests caused.
func TestMetricsOnlyFromMetricsNetworks(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.WithTrustedProxies([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}))
	for _, tc := range []struct {
		peer, forwarded string
		want            int
	}{{"127.0.0.1:40000", "", 200}, {"[::1]:40000", "", 200}, {"203.0.113.9:5555", "", 403}, {"203.0.113.9:5555", "127.0.0.1", 403}} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.RemoteAddr = tc.peer
		if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tc.forwarded)
		}
		if rec := w.do(r); rec.Code != tc.want {
			t.Errorf("/metrics from %s (forwarded %q) = %d, want %d", tc.peer, tc.forwarded, rec.Code, tc.want)
		}
	}
	scraper := newWorld(t, server.WithMetricsFrom([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}))
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.RemoteAddr = "10.1.2.3:5555"
	if rec := scraper.do(r); rec.Code != 200 {
		t.Errorf("/metrics from a --metrics-from network = %d", rec.Code)
	}
}
