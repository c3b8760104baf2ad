package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// An organization's secret_scanning_alert webhook, for a custom pattern
// matching tokenward tokens: the payload names the alert; the value is
// read from the API (GET the alert, its secret field) with the configured
// credentials, and the alert resolved as revoked once the version is.

// alertActions are the secret_scanning_alert actions answered; the others
// (resolved, which resolving an alert sends, validated, assigned, ...) are
// acknowledged and ignored.
var alertActions = map[string]bool{"created": true, "reopened": true, "publicly_leaked": true}

// fetchAlertTimeout bounds reading the alert from GitHub, so the answer
// still leaves within GitHub's 10 seconds.
const fetchAlertTimeout = 4 * time.Second

// alertEvent is what the webhook reads of a secret_scanning_alert payload.
type alertEvent struct {
	Action string `json:"action"`
	Alert  struct {
		Number int64  `json:"number"`
		URL    string `json:"url"`
	} `json:"alert"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// webhookAnswer is the webhook's answer body.
type webhookAnswer struct {
	Result string `json:"result"`            // true_positive, false_positive or ignored
	Done   bool   `json:"done"`              // the response finished before the answer
	Alert  string `json:"alert,omitempty"`   // owner/repo#number
	Detail string `json:"message,omitempty"` // ping's zen, or what was ignored
}

// leakWebhook answers POST /v1/leaks/github-webhook.
func (s *Server) leakWebhook(w http.ResponseWriter, r *http.Request) {
	if why := s.leakUnavailable(); why != "" {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: why})
		return
	}
	if len(s.leaks.opts.WebhookSecret) == 0 {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: "the GitHub webhook is off: start serve with --github-webhook-secret-file"})
		return
	}
	start := time.Now() // the wall clock: GitHub's 10 seconds are real ones
	var code token.Code
	body, ok := readBody(w, r, &code)
	if !ok {
		return
	}
	if !validHubSignature(s.leaks.opts.WebhookSecret, r.Header.Get("X-Hub-Signature-256"), body) {
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_signature",
			Description: "X-Hub-Signature-256 is missing or is not the sha256= HMAC of the body with the webhook's secret"})
		return
	}
	switch ev := r.Header.Get("X-GitHub-Event"); ev {
	case "ping":
		writeJSON(w, http.StatusOK, webhookAnswer{Result: "ignored", Done: true, Detail: "pong"})
		return
	case "secret_scanning_alert":
	default:
		w.WriteHeader(http.StatusNoContent) // delivered, and nothing to do
		return
	}
	var e alertEvent
	if err := json.Unmarshal(body, &e); err != nil {
		badRequest(w, "the body is not a secret_scanning_alert payload (JSON; set the webhook's content type to application/json)")
		return
	}
	if !alertActions[e.Action] {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	gh := s.leaks.opts.GitHub
	if gh == nil {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: "this server has no GitHub credentials to read the alert with: " + s.leaks.opts.GitHubOff})
		return
	}
	a, err := alertFromURL(gh.BaseURL, e.Alert.URL)
	if err == nil && e.Alert.Number != 0 && e.Alert.Number != a.number {
		err = fmt.Errorf("the alert's url names alert %d, its number is %d", a.number, e.Alert.Number)
	}
	if err == nil && e.Repository.FullName != "" && !strings.EqualFold(e.Repository.FullName, a.owner+"/"+a.repo) {
		err = fmt.Errorf("the alert's url is in %s/%s, the payload's repository is %s", a.owner, a.repo, e.Repository.FullName)
	}
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	name := fmt.Sprintf("%s/%s#%d", a.owner, a.repo, a.number)
	ctx := context.WithoutCancel(r.Context())
	fctx, cancel := context.WithTimeout(ctx, fetchAlertTimeout)
	alert, _, err := gh.SecretScanning.GetAlert(fctx, a.owner, a.repo, a.number)
	cancel()
	if err != nil || alert.GetSecret() == "" {
		why := "it holds no secret (the credentials may lack the secret_scanning_alerts read permission)"
		if err != nil {
			why = redact(err.Error())
		}
		s.log.Warn("could not read a GitHub secret-scanning alert", "alert", name, "err", why)
		writeJSON(w, http.StatusBadGateway, oauthError{Error: "temporarily_unavailable", Description: "the alert " + name + " could not be read from GitHub: " + why})
		return
	}
	rep := leakReport{value: alert.GetSecret(), url: alert.GetHTMLURL(), source: "github secret scanning alert",
		via: "github secret scanning alert " + name, alert: &a}
	matched, done, err := s.respond(ctx, rep)
	if err != nil {
		s.log.Error("leak report: the store failed", "err", redact(err.Error()))
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: "the store could not be read or written; redeliver the webhook"})
		return
	}
	if !matched {
		// Not a tokenward token, or not one of this store's: the alert is
		// someone else's to close.
		writeJSON(w, http.StatusOK, webhookAnswer{Result: labelFalsePositive, Done: true, Alert: name})
		return
	}
	// Reading the alert took part of GitHub's 10 seconds: wait only for
	// what is left of the budget.
	fin := waitAll([]<-chan struct{}{done}, max(0, s.leaks.opts.Wait-time.Since(start)))
	status := http.StatusOK
	if !fin {
		status = http.StatusAccepted
	}
	writeJSON(w, status, webhookAnswer{Result: labelTruePositive, Done: fin, Alert: name})
}

// validHubSignature checks X-Hub-Signature-256: "sha256=" and the hex
// HMAC-SHA256 of body with secret, compared in constant time.
func validHubSignature(secret []byte, header string, body []byte) bool {
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// alertFromURL reads owner, repository and number from an alert's API URL,
// which must lie under the configured API base: the credentials are sent
// only there, whatever host a payload names.
func alertFromURL(base *url.URL, raw string) (ghAlert, error) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return ghAlert{}, errors.New("the payload's alert.url is missing or not a URL")
	}
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return ghAlert{}, fmt.Errorf("the alert's url is not under the configured GitHub API %s (set GITHUB_API_URL to the GitHub that sends this webhook)", base.Redacted())
	}
	rest, ok := strings.CutPrefix(u.EscapedPath(), strings.TrimSuffix(base.EscapedPath(), "/")+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 6 || parts[0] != "repos" || parts[3] != "secret-scanning" || parts[4] != "alerts" {
		return ghAlert{}, fmt.Errorf("the alert's url is not %srepos/OWNER/REPO/secret-scanning/alerts/NUMBER", base.Redacted())
	}
	n, err := strconv.ParseInt(parts[5], 10, 64)
	if err != nil || n <= 0 || !ghName(parts[1]) || !ghName(parts[2]) {
		return ghAlert{}, fmt.Errorf("the alert's url is not %srepos/OWNER/REPO/secret-scanning/alerts/NUMBER", base.Redacted())
	}
	return ghAlert{owner: parts[1], repo: parts[2], number: n}, nil
}

// ghName reports whether s can be a GitHub owner or repository name as a
// path segment: letters, digits, '-', '_' and '.', not "." or "..".
func ghName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// resolveAlert closes the GitHub alert as revoked, saying what tokenward did.
func (s *Server) resolveAlert(ctx context.Context, a ghAlert, al store.Alert) error {
	gh := s.leaks.opts.GitHub
	body := map[string]string{"state": "resolved", "resolution": "revoked",
		"resolution_comment": "tokenward revoked version " + al.Evidence["fingerprint"] + " of token " + al.TokenName}
	if to := al.Evidence["new_fingerprint"]; to != "" {
		body["resolution_comment"] += " and rotated it to " + to
	}
	req, err := gh.NewRequest(http.MethodPatch, fmt.Sprintf("repos/%s/%s/secret-scanning/alerts/%d", a.owner, a.repo, a.number), body)
	if err != nil {
		return fmt.Errorf("resolve alert: %w", err)
	}
	var out github.SecretScanningAlert
	if _, err := gh.Do(ctx, req, &out); err != nil {
		return fmt.Errorf("resolve alert %s/%s#%d: %w", a.owner, a.repo, a.number, err)
	}
	return nil
}
