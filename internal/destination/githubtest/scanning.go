package githubtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Secret scanning: the partner program's signing keys
// (GET /meta/public_keys/secret_scanning, public), reports signed with
// them, and an organization's secret-scanning alerts (GET and PATCH
// /repos/{owner}/{repo}/secret-scanning/alerts/{number}) with the
// secret_scanning_alert webhook that announces them.

// scanning is the Server's secret-scanning state; the Server's mu guards it.
type scanning struct {
	keys    []*scanKey // in publication order; the last is current
	alerts  map[string]*ScanningAlert
	fetches int // GETs of the keys document
}

type scanKey struct {
	id   string
	priv *ecdsa.PrivateKey
}

// ScanningAlert is a secret-scanning alert as the fake keeps it.
type ScanningAlert struct {
	Repo              string // owner/name
	Number            int64
	Secret            string
	SecretType        string
	State             string // open or resolved
	Resolution        string
	ResolutionComment string
}

// scanningKey returns the current signing key, making the first one; the
// caller holds s.mu.
func (s *Server) scanningKey() *scanKey {
	if len(s.scan.keys) == 0 {
		s.addScanningKey()
	}
	return s.scan.keys[len(s.scan.keys)-1]
}

// addScanningKey publishes a new current signing key; the caller holds s.mu.
func (s *Server) addScanningKey() *scanKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatalf("githubtest: generate a signing key: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		s.t.Fatalf("githubtest: marshal a signing key: %v", err)
	}
	// GitHub names a key by the hex SHA-256 of its DER.
	sum := sha256.Sum256(der)
	k := &scanKey{id: hex.EncodeToString(sum[:]), priv: priv}
	s.scan.keys = append(s.scan.keys, k)
	return k
}

// RotateScanningKey publishes a new current signing key beside the old
// ones and returns its identifier; reports are signed with it from then on.
func (s *Server) RotateScanningKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scanningKey()
	return s.addScanningKey().id
}

// ScanningKeyFetches counts the GETs of the signing keys document.
func (s *Server) ScanningKeyFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scan.fetches
}

// SignPartnerReport signs body as GitHub signs a partner report, with the
// current key: it returns the Github-Public-Key-Identifier and
// Github-Public-Key-Signature (base64 DER ECDSA over SHA-256 of body).
func (s *Server) SignPartnerReport(body []byte) (keyID, signature string) {
	s.mu.Lock()
	k := s.scanningKey()
	s.mu.Unlock()
	sum := sha256.Sum256(body)
	der, err := ecdsa.SignASN1(rand.Reader, k.priv, sum[:])
	if err != nil {
		s.t.Fatalf("githubtest: sign a report: %v", err)
	}
	return k.id, base64.StdEncoding.EncodeToString(der)
}

// PartnerEntry is one entry of a partner report.
type PartnerEntry struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// SendPartnerReport POSTs entries to url as GitHub's partner program
// does, signed with the current key, and returns the response.
func (s *Server) SendPartnerReport(ctx context.Context, client *http.Client, url string, entries []PartnerEntry) (*http.Response, error) {
	body, err := json.Marshal(entries)
	if err != nil {
		return nil, err
	}
	id, sig := s.SignPartnerReport(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Github-Public-Key-Identifier", id)
	req.Header.Set("Github-Public-Key-Signature", sig)
	return client.Do(req)
}

func (s *Server) scanningKeys(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scan.fetches++
	cur := s.scanningKey()
	type key struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	}
	out := struct {
		PublicKeys []key `json:"public_keys"`
	}{}
	for _, k := range s.scan.keys {
		der, _ := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
		p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		out.PublicKeys = append(out.PublicKeys, key{KeyIdentifier: k.id, Key: string(p), IsCurrent: k == cur})
	}
	writeJSON(w, http.StatusOK, out)
}

func alertKey(fullName string, n int64) string {
	return strings.ToLower(fullName) + "#" + strconv.FormatInt(n, 10)
}

// AddScanningAlert opens a secret-scanning alert in a repository added
// before, for secret found by a custom pattern, and returns its number.
func (s *Server) AddScanningAlert(fullName, secret string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[strings.ToLower(fullName)] == nil {
		s.t.Fatalf("githubtest: AddScanningAlert: no repository %q", fullName)
	}
	if s.scan.alerts == nil {
		s.scan.alerts = map[string]*ScanningAlert{}
	}
	var n int64 = 1
	for _, a := range s.scan.alerts {
		if strings.EqualFold(a.Repo, fullName) && a.Number >= n {
			n = a.Number + 1
		}
	}
	s.scan.alerts[alertKey(fullName, n)] = &ScanningAlert{Repo: fullName, Number: n, Secret: secret,
		SecretType: "tokenward_token", State: "open"}
	return n
}

// Alert returns a copy of a secret-scanning alert.
func (s *Server) Alert(fullName string, n int64) (ScanningAlert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.scan.alerts[alertKey(fullName, n)]
	if !ok {
		return ScanningAlert{}, false
	}
	return *a, true
}

// alertURL is an alert's API URL.
func (s *Server) alertURL(fullName string, n int64) string {
	return fmt.Sprintf("%s/repos/%s/secret-scanning/alerts/%d", s.root(), fullName, n)
}

func (s *Server) alertJSON(a *ScanningAlert) map[string]any {
	out := map[string]any{
		"number": a.Number, "url": s.alertURL(a.Repo, a.Number),
		"html_url":    fmt.Sprintf("https://github.com/%s/security/secret-scanning/%d", a.Repo, a.Number),
		"state":       a.State,
		"secret_type": a.SecretType, "secret_type_display_name": "tokenward token",
		"secret": a.Secret, "created_at": "2026-01-01T00:00:00Z",
	}
	if a.State == "resolved" {
		out["resolution"], out["resolution_comment"] = a.Resolution, a.ResolutionComment
	}
	return out
}

// scanningAlert finds the alert a request names; the caller holds s.mu.
func (s *Server) scanningAlert(r *http.Request) *ScanningAlert {
	n, err := strconv.ParseInt(r.PathValue("number"), 10, 64)
	if err != nil {
		return nil
	}
	return s.scan.alerts[alertKey(r.PathValue("owner")+"/"+r.PathValue("repo"), n)]
}

func (s *Server) getScanningAlert(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.scanningAlert(r)
	if a == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.alertJSON(a))
}

func (s *Server) updateScanningAlert(w http.ResponseWriter, r *http.Request) {
	var body struct {
		State             string  `json:"state"`
		Resolution        *string `json:"resolution"`
		ResolutionComment string  `json:"resolution_comment"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.scanningAlert(r)
	if a == nil {
		notFound(w)
		return
	}
	tok, _ := bearer(r)
	if !s.tokens[tok].ResolveAlerts {
		writeJSON(w, http.StatusForbidden, message("Resource not accessible by integration"))
		return
	}
	valid := map[string]bool{"false_positive": true, "wont_fix": true, "revoked": true, "used_in_tests": true}
	switch {
	case body.State == "open":
		a.State, a.Resolution, a.ResolutionComment = "open", "", ""
	case body.State == "resolved" && body.Resolution != nil && valid[*body.Resolution]:
		a.State, a.Resolution, a.ResolutionComment = "resolved", *body.Resolution, body.ResolutionComment
	default:
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Message: "Validation Failed",
			Errors: []fieldError{{Resource: "SecretScanningAlert", Code: "invalid", Field: "resolution"}}})
		return
	}
	writeJSON(w, http.StatusOK, s.alertJSON(a))
}

// AlertWebhookBody is the secret_scanning_alert payload GitHub sends for an
// alert: the action, the alert (without its secret, as GitHub sends it)
// and the repository.
func (s *Server) AlertWebhookBody(fullName string, n int64, action string) []byte {
	s.mu.Lock()
	a, ok := s.scan.alerts[alertKey(fullName, n)]
	var alert map[string]any
	if ok {
		alert = s.alertJSON(a)
		delete(alert, "secret")
	}
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("githubtest: AlertWebhookBody: no alert %s#%d", fullName, n)
	}
	owner, name, _ := strings.Cut(fullName, "/")
	b, err := json.Marshal(map[string]any{
		"action": action, "alert": alert,
		"repository":   map[string]any{"full_name": fullName, "name": name, "owner": map[string]any{"login": owner}},
		"organization": map[string]any{"login": owner},
		"sender":       map[string]any{"login": "github"},
	})
	if err != nil {
		s.t.Fatalf("githubtest: AlertWebhookBody: %v", err)
	}
	return b
}

// HubSignature is the X-Hub-Signature-256 of body with a webhook's secret.
func HubSignature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SendWebhook POSTs body to url as GitHub delivers a webhook event,
// signed with secret (X-Hub-Signature-256), and returns the response.
func SendWebhook(ctx context.Context, client *http.Client, url, event string, secret, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/tokenward-test")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", strconv.FormatInt(time.Now().UnixNano(), 10))
	req.Header.Set("X-Hub-Signature-256", HubSignature(secret, body))
	return client.Do(req)
}

// SendAlertWebhook delivers the secret_scanning_alert event of an alert
// to url, signed with secret.
func (s *Server) SendAlertWebhook(ctx context.Context, client *http.Client, url string, secret []byte, fullName string, n int64, action string) (*http.Response, error) {
	return SendWebhook(ctx, client, url, "secret_scanning_alert", secret, s.AlertWebhookBody(fullName, n, action))
}
