package detect

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// SignatureHeader carries the webhook's signature: "sha256=" and the hex
// HMAC-SHA256 of the body with the shared secret.
const SignatureHeader = "X-Tokenward-Signature"

// Alert is an alert as JSON carries it: /v1/alerts, the webhook and
// `tokenward alerts --format json`.
type Alert struct {
	ID       string            `json:"id"`
	Time     time.Time         `json:"time"`
	Detector string            `json:"detector"`
	Severity string            `json:"severity"`
	Token    string            `json:"token,omitempty"`
	SourceIP string            `json:"source_ip,omitempty"`
	Network  string            `json:"network,omitempty"`
	Detail   string            `json:"detail"`
	Evidence map[string]string `json:"evidence"`
	AckedBy  string            `json:"acked_by,omitempty"`
	AckedAt  *time.Time        `json:"acked_at,omitempty"`
}

// JSON returns the JSON form of a.
func JSON(a store.Alert) Alert {
	j := Alert{ID: a.ID, Time: a.At.UTC(), Detector: a.Detector, Severity: a.Severity, Token: a.TokenName,
		SourceIP: a.SourceIP, Network: a.Network, Detail: a.Detail, Evidence: a.Evidence, AckedBy: a.AckedBy}
	if j.Evidence == nil {
		j.Evidence = map[string]string{}
	}
	if !a.AckedAt.IsZero() {
		t := a.AckedAt.UTC()
		j.AckedAt = &t
	}
	return j
}

// Sign returns the signature header's value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook posts alerts to a URL from a bounded queue, one at a time, each
// retried with exponential backoff a bounded number of times. A full queue
// drops the alert and counts it; nothing waits on the receiver.
type Webhook struct {
	url      string
	secret   []byte
	client   *http.Client
	queue    chan store.Alert
	attempts int
	backoff  time.Duration
	log      *slog.Logger
	count    func(outcome string)
}

// WebhookOption configures a Webhook.
type WebhookOption func(*Webhook)

// WithBackoff sets the wait before the first retry (doubled each retry;
// default 1s) and the attempts in all (default 5).
func WithBackoff(first time.Duration, attempts int) WebhookOption {
	return func(w *Webhook) { w.backoff, w.attempts = first, attempts }
}

// WithHTTPClient sets the client the webhook posts with.
func WithHTTPClient(c *http.Client) WebhookOption { return func(w *Webhook) { w.client = c } }

// WithWebhookLogger sets where delivery failures are logged.
func WithWebhookLogger(l *slog.Logger) WebhookOption { return func(w *Webhook) { w.log = l } }

// NewWebhook returns a webhook posting to rawURL, signed with secret. The
// URL must be https, or http to a loopback address (a relay on the same
// host): an alert says where a token is used from, and must not travel in
// the clear.
func NewWebhook(rawURL string, secret []byte, opts ...WebhookOption) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("--alert-webhook must be an absolute URL such as https://alerts.example.com/tokenward")
	}
	if u.User != nil {
		return nil, errors.New("--alert-webhook must not carry credentials: the body is signed with --alert-webhook-secret-file")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return nil, fmt.Errorf("--alert-webhook must be https (http only to a loopback address), not http://%s", u.Host)
		}
	default:
		return nil, fmt.Errorf("--alert-webhook must be an https URL, not %s://", u.Scheme)
	}
	if len(secret) < 16 {
		return nil, errors.New("--alert-webhook-secret-file must hold a secret of at least 16 bytes")
	}
	w := &Webhook{url: u.String(), secret: secret, queue: make(chan store.Alert, 1024), attempts: 5,
		backoff: time.Second, log: slog.New(slog.DiscardHandler), count: func(string) {},
		client: &http.Client{Timeout: 10 * time.Second,
			// A redirect would resend the signed alert somewhere not configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	for _, o := range opts {
		o(w)
	}
	if w.attempts < 1 {
		w.attempts = 1
	}
	return w, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SetLogger sets where delivery failures are logged, for a webhook built
// before the logger.
func (w *Webhook) SetLogger(l *slog.Logger) { w.log = l }

// enqueue queues an alert; a full queue drops it.
func (w *Webhook) enqueue(a store.Alert) {
	select {
	case w.queue <- a:
	default:
		w.count("dropped")
		w.log.Warn("alert webhook queue full: alert not posted", "id", a.ID)
	}
}

// Run posts queued alerts until ctx ends.
func (w *Webhook) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-w.queue:
			w.deliver(ctx, a)
		}
	}
}

// deliver posts one alert, retrying network errors, 408, 429 and 5xx.
func (w *Webhook) deliver(ctx context.Context, a store.Alert) {
	body, err := json.Marshal(JSON(a))
	if err != nil {
		w.log.Error("alert webhook: encode", "id", a.ID, "err", err)
		return
	}
	sig := Sign(w.secret, body)
	wait := w.backoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, body, sig)
		if err == nil {
			w.count("delivered")
			return
		}
		if !retry || attempt >= w.attempts {
			w.count("failed")
			w.log.Error("alert webhook: giving up", "id", a.ID, "attempts", attempt, "err", err)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			w.count("failed")
			return
		case <-t.C:
		}
		wait *= 2
	}
}

// post sends the body once; retry says whether another attempt may help.
func (w *Webhook) post(ctx context.Context, body []byte, sig string) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tokenward-alerts")
	req.Header.Set(SignatureHeader, sig)
	resp, err := w.client.Do(req)
	if err != nil {
		// Not the URL: a webhook URL may carry a secret in its path (as
		// chat services' do), and this error is logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, fmt.Errorf("post alert: %w", err)
	}
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return false, nil
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return true, fmt.Errorf("post alert: receiver answered %d", s)
	default:
		return false, fmt.Errorf("post alert: receiver answered %d", s)
	}
}
