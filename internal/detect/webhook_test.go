package detect

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

var webhookSecret = []byte("s3cr3t-webhook-key-0123456789")

// receiver is a webhook endpoint that checks each request's signature and
// answers the statuses it is given, then 200.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	attempts int
	bad      int // requests whose signature did not match
	alerts   []Alert
	bodies   []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	rc.bodies = append(rc.bodies, string(body))
	if !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(Sign(webhookSecret, body))) ||
		r.Header.Get("Content-Type") != "application/json" {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if len(rc.statuses) > 0 {
		s := rc.statuses[0]
		rc.statuses = rc.statuses[1:]
		w.WriteHeader(s)
		return
	}
	var a Alert
	if err := json.Unmarshal(body, &a); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.alerts = append(rc.alerts, a)
}

func (rc *receiver) snapshot() (attempts, bad int, alerts []Alert) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts, rc.bad, append([]Alert(nil), rc.alerts...)
}

// TestWebhook posts alerts to a receiver that checks their signature, and
// retries the failures worth retrying a bounded number of times.
func TestWebhook(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		statuses     []int
		secret       []byte
		wantAttempts int
		wantOutcome  string
		wantAlerts   int
	}{
		{"delivered", nil, webhookSecret, 1, "delivered", 1},
		{"retried after 503 and 429", []int{503, 429}, webhookSecret, 3, "delivered", 1},
		{"gives up after 4 attempts", []int{500, 500, 500, 500, 500}, webhookSecret, 4, "failed", 0},
		{"a 400 is not retried", []int{400}, webhookSecret, 1, "failed", 0},
		{"the receiver refuses a wrong signature", nil, []byte("another-secret-of-the-same-size"), 1, "failed", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := &receiver{statuses: tc.statuses}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			w, err := NewWebhook(srv.URL+"/hook", tc.secret, WithBackoff(time.Millisecond, 4))
			if err != nil {
				t.Fatal(err)
			}
			e, _, buf := engine(t, Defaults(), WithWebhook(w))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { w.Run(ctx); close(done) }()
			e.observe(context.Background(), ev(0, "api", "198.51.100.9", "ip_denied"))
			outcome := e.metrics.webhook.WithLabelValues(tc.wantOutcome)
			deadline := time.Now().Add(5 * time.Second)
			for testutil.ToFloat64(outcome) == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			cancel()
			<-done
			attempts, bad, alerts := rc.snapshot()
			if testutil.ToFloat64(outcome) != 1 || attempts != tc.wantAttempts || len(alerts) != tc.wantAlerts {
				t.Fatalf("outcome %s counted %v, %d attempts, %d alerts; want 1, %d, %d", tc.wantOutcome,
					testutil.ToFloat64(outcome), attempts, len(alerts), tc.wantAttempts, tc.wantAlerts)
			}
			if tc.wantAlerts == 1 {
				if bad != 0 {
					t.Errorf("%d requests with a wrong signature", bad)
				}
				a := alerts[0]
				if a.ID == "" || a.Detector != IPDenied || a.Severity != store.SeverityHigh || a.Token != "api" || a.SourceIP != "198.51.100.9" {
					t.Errorf("posted alert %+v", a)
				}
			}
			for _, s := range append(rc.bodies, buf.String()) {
				if strings.Contains(s, string(webhookSecret)) {
					t.Errorf("the secret is in a body or the log: %s", s)
				}
			}
		})
	}
}

// TestWebhookQueueFull checks that a full queue drops, never blocks.
func TestWebhookQueueFull(t *testing.T) {
	t.Parallel()
	w, err := NewWebhook("https://alerts.example/hook", webhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	w.count = func(o string) {
		if o == "dropped" {
			dropped++
		}
	}
	for i := range cap(w.queue) + 10 {
		w.enqueue(store.Alert{ID: string(rune('a' + i%26))})
	}
	if dropped != 10 {
		t.Errorf("dropped %d, want 10", dropped)
	}
}

// TestWebhookURL checks which URLs and secrets the webhook refuses.
func TestWebhookURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url    string
		secret []byte
		want   string // empty: accepted
	}{
		{"https://alerts.example.com/tokenward", webhookSecret, ""},
		{"http://127.0.0.1:9000/hook", webhookSecret, ""},
		{"http://[::1]:9000/hook", webhookSecret, ""},
		{"http://localhost:9000/hook", webhookSecret, ""},
		{"http://alerts.example.com/hook", webhookSecret, "must be https"},
		{"http://10.0.0.1/hook", webhookSecret, "must be https"},
		{"ftp://alerts.example.com/hook", webhookSecret, "must be an https URL"},
		{"https://user:pw@alerts.example.com/hook", webhookSecret, "must not carry credentials"},
		{"/relative", webhookSecret, "absolute URL"},
		{"https://alerts.example.com/hook", []byte("short"), "at least 16 bytes"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			_, err := NewWebhook(tc.url, tc.secret)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), string(tc.secret)):
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

// TestWebhookLogsNoURL: a delivery failure is logged without the URL,
// whose path may be a secret (chat services put one there).
func TestWebhookLogsNoURL(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hooks/T0SECRETPATH"
	srv.Close() // nothing listens there any more: the post fails to connect
	w, err := NewWebhook(url, webhookSecret, WithBackoff(time.Millisecond, 2), WithWebhookLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	w.deliver(context.Background(), store.Alert{ID: "A1", Detector: IPDenied})
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "giving up") || strings.Contains(buf.String(), "T0SECRETPATH") {
		t.Errorf("log %q: want the failure, without the URL's path", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
