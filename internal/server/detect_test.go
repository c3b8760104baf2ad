package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/detect"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// clientFrom is an HTTP client whose connections come from ip, an address
// of the loopback range (127.0.0.0/8 is all loopback on Linux).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// hookReceiver is the alert webhook's receiver: it checks each signature.
type hookReceiver struct {
	secret []byte
	mu     sync.Mutex
	alerts []detect.Alert
	bodies []string
	bad    int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bodies = append(h.bodies, string(body))
	if !hmac.Equal([]byte(r.Header.Get(detect.SignatureHeader)), []byte(detect.Sign(h.secret, body))) {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var a detect.Alert
	if err := json.Unmarshal(body, &a); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.alerts = append(h.alerts, a)
}

func (h *hookReceiver) got() (alerts []detect.Alert, bodies []string, bad int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]detect.Alert(nil), h.alerts...), append([]string(nil), h.bodies...), h.bad
}

// TestDetectorsOverHTTP runs the detectors behind the real server on a
// real store, with clients bound to several loopback addresses: a token
// used from a second /24 raises new_network (and its first /24 stays
// quiet), 20 failures from one /24 raise one failure_burst (19 from
// another raise none). The alerts are stored and read back from
// /v1/alerts, audited when high, and posted to a webhook whose receiver
// checks the signature; no token value or the webhook's secret reaches the
// log, the alerts or the webhook.
func TestDetectorsOverHTTP(t *testing.T) {
	t.Parallel()
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		clock := clocktest.New()
		clock.Set(time.Now().UTC().Truncate(time.Second))
		adm := admin(t, dsn, clock)
		if _, err := adm.CreateScope(ctx, "billing:read", ""); err != nil {
			t.Fatal(err)
		}
		values := map[string]string{}
		for name, scope := range map[string]string{"api": "billing:read", "reader": registry.ScopeAlertsRead} {
			if _, err := adm.CreateToken(ctx, registry.TokenSpec{Name: name, Scopes: []string{scope}, Lifetime: lifetime}); err != nil {
				t.Fatal(err)
			}
			issued, err := adm.IssueFirst(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			values[name] = issued.Value
		}
		if _, err := adm.CreateToken(ctx, registry.TokenSpec{Name: "decoy", Scopes: []string{"billing:read"}, Lifetime: lifetime, Honeytoken: true}); err != nil {
			t.Fatal(err)
		}
		decoy, err := adm.IssueFirst(ctx, "decoy")
		if err != nil {
			t.Fatal(err)
		}
		values["decoy"] = decoy.Value
		unknown, err := token.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		values["unknown"] = unknown.Value

		secret := []byte("webhook-secret-for-the-test-0123")
		hook := &hookReceiver{secret: secret}
		hs := httptest.NewServer(hook)
		defer hs.Close()
		wh, err := detect.NewWebhook(hs.URL, secret, detect.WithBackoff(time.Millisecond, 3))
		if err != nil {
			t.Fatal(err)
		}
		al, err := adm.AlertLog()
		if err != nil {
			t.Fatal(err)
		}
		logs := &lockedBuffer{}
		log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg := detect.Defaults()
		cfg.LearningPeriod = 0 // the first use alone is the baseline
		preg := prometheus.NewRegistry()
		eng, err := detect.New(cfg, detect.WithAlertLog(al, ""), detect.WithAuditor(adm), detect.WithWebhook(wh),
			detect.WithClock(clock.Now), detect.WithLogger(log), detect.WithMetrics(preg))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- eng.Run(runCtx) }()
		defer func() { stop(); <-done }()

		src := instance(t, dsn)
		srv := server.New(src, server.WithEventSinks(eng), server.WithAlerts(eng), server.WithServerClock(clock.Now),
			server.WithServerLogger(log), server.WithRegistry(preg),
			server.WithRegistryAccess(adm, registry.ServeAccess{Writable: true, Keys: true}))
		api := httptest.NewServer(srv.Handler())
		defer api.Close()

		sent := 0
		use := func(from, label string, want int) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, api.URL+"/v1/authz?scope=billing:read", nil)
			req.Header.Set("Authorization", "Bearer "+values[label])
			req.Header.Set("User-Agent", "detect-test")
			resp, err := clientFrom(from).Do(req)
			if err != nil {
				t.Fatalf("from %s: %v", from, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("%s from %s answered %d, want %d", label, from, resp.StatusCode, want)
			}
			sent++
		}
		use("127.0.0.2", "api", http.StatusOK) // the baseline
		use("127.0.0.3", "api", http.StatusOK) // the same /24
		clock.Advance(time.Hour)
		use("127.0.1.5", "api", http.StatusOK) // a new /24
		use("127.0.1.6", "api", http.StatusOK) // the same new /24: deduplicated
		for i := range 20 {
			from := "127.0.2.9"
			if i%2 == 1 {
				from = "127.0.2.10"
			}
			use(from, "unknown", http.StatusUnauthorized)
		}
		for range 19 {
			use("127.0.3.1", "unknown", http.StatusUnauthorized)
		}
		use("127.0.4.4", "decoy", http.StatusUnauthorized) // answered as unknown, raised as critical
		deadline := time.Now().Add(10 * time.Second)
		for eng.Processed() < int64(sent) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if eng.Processed() != int64(sent) {
			t.Fatalf("the detectors saw %d of %d requests", eng.Processed(), sent)
		}

		// The stored alerts, as /v1/alerts answers them to a reader
		// (whose own requests are no usage of the detected tokens).
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/v1/alerts?since=1d", nil)
		req.Header.Set("Authorization", "Bearer "+values["reader"])
		resp, err := clientFrom("127.0.0.1").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/v1/alerts answered %d: %s", resp.StatusCode, body)
		}
		var stored []detect.Alert
		if err := json.Unmarshal(body, &stored); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, a := range stored {
			got[a.Detector+" "+a.Token] = a.Network
		}
		want := map[string]string{"new_network api": "127.0.1.0/24", "failure_burst ": "127.0.2.0/24", "honeytoken_used decoy": "127.0.4.0/24"}
		if len(got) != len(want) || len(stored) != len(want) {
			t.Fatalf("stored alerts %s, want %v", body, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("alert %q has network %q, want %q (all: %s)", k, got[k], v, body)
			}
		}

		// The webhook: every alert, correctly signed.
		var hooked []detect.Alert
		var bodies []string
		var bad int
		for time.Now().Before(deadline) {
			if hooked, bodies, bad = hook.got(); len(hooked) == len(want) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if len(hooked) != len(want) || bad != 0 {
			t.Errorf("the webhook received %d alerts (%d badly signed), want %d", len(hooked), bad, len(want))
		}

		// The audit chain: the high failure_burst, not the warn new_network.
		var raised []string
		for _, e := range storetest.AuditChain(t, st) {
			if e.Action == "alert.raise" {
				raised = append(raised, e.Details["detector"]+"/"+e.Details["severity"])
			}
		}
		if strings.Join(raised, ",") != "failure_burst/high,honeytoken_used/critical" {
			t.Errorf("audited alerts %v, want failure_burst/high and honeytoken_used/critical only", raised)
		}
		for _, a := range stored {
			if a.Detector == detect.HoneytokenUsed && (a.Severity != "critical" || a.Evidence["source_ip"] != "127.0.4.4" || a.Evidence["user_agent"] != "detect-test") {
				t.Errorf("honeytoken alert %+v", a)
			}
		}

		// The counters, by detector and severity only, as promtool reads them.
		metrics := get(t, api.URL+"/metrics")
		for _, line := range []string{`tokenward_alerts_total{detector="failure_burst",severity="high"} 1`,
			`tokenward_alerts_total{detector="new_network",severity="warn"} 1`,
			`tokenward_alerts_total{detector="honeytoken_used",severity="critical"} 1`,
			`tokenward_alert_webhook_total{outcome="delivered"}`} {
			if !strings.Contains(metrics, line) {
				t.Errorf("/metrics lacks %s:\n%s", line, grepLines(metrics, "tokenward_alert"))
			}
		}
		checkPromtool(t, metrics)

		// No value and no secret anywhere an alert goes.
		everything := logs.String() + metrics + string(body) + strings.Join(bodies, "\n") + strings.Join(raised, "\n")
		for label, v := range values {
			if strings.Contains(everything, v) {
				t.Errorf("the value of %s reached a log, an alert or the webhook", label)
			}
		}
		if bytes.Contains([]byte(everything), secret) {
			t.Error("the webhook's secret reached a log, an alert or the webhook")
		}
	})
}
