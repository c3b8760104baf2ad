package githubtest

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestScanningKeysVerifyReports: the keys document is public, names each
// key by identifier, marks the current one, and a signed report verifies
// with the key it names; after a rotation both keys are served.
func TestScanningKeysVerifyReports(t *testing.T) {
	s, _ := setup(t)
	anon := client{t: t, s: s}
	body := []byte(`[{"token":"tw_x","type":"tokenward_token","url":"https://github.com/a/b","source":"content"}]`)
	id, sig := s.SignPartnerReport(body)
	newID := s.RotateScanningKey()
	st, _, raw := anon.raw("GET", "meta/public_keys/secret_scanning", "")
	if st != 200 {
		t.Fatalf("keys: %d %s", st, raw)
	}
	var doc struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.PublicKeys) != 2 {
		t.Fatalf("keys document %s: %v", raw, err)
	}
	if s.ScanningKeyFetches() != 1 {
		t.Errorf("fetches = %d, want 1", s.ScanningKeyFetches())
	}
	for _, k := range doc.PublicKeys {
		if k.IsCurrent != (k.KeyIdentifier == newID) {
			t.Errorf("key %s current = %v", k.KeyIdentifier, k.IsCurrent)
		}
		if k.KeyIdentifier != id {
			continue
		}
		b, _ := pem.Decode([]byte(k.Key))
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := base64.StdEncoding.DecodeString(sig)
		sum := sha256.Sum256(body)
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), sum[:], der) {
			t.Fatal("the report's signature does not verify with the key it names")
		}
		changed := sha256.Sum256(append(body, ' '))
		if ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), changed[:], der) {
			t.Fatal("the signature verifies a changed body")
		}
		return
	}
	t.Fatalf("key %s is not served", id)
}

// TestScanningAlerts: an alert is read with its secret, resolved only by a
// token that may, with a valid resolution, and announced by a signed
// webhook without its secret.
func TestScanningAlerts(t *testing.T) {
	s, c := setup(t)
	n := s.AddScanningAlert("acme/api", "tw_value")
	path := "repos/acme/api/secret-scanning/alerts/1"
	if st, a := c.do("GET", path, nil); st != 200 || a["secret"] != "tw_value" || a["state"] != "open" || a["url"] != s.URL()+path {
		t.Fatalf("GET: %d %v", st, a)
	}
	if st, _ := (client{t: t, s: s}).do("GET", path, nil); st != 401 {
		t.Fatalf("GET without a token: %d", st)
	}
	if st, _ := (client{t: t, s: s, tok: "reader"}).do("PATCH", path, map[string]any{"state": "resolved", "resolution": "revoked"}); st != 403 {
		t.Fatalf("PATCH by a read-only token: %d", st)
	}
	if st, _ := c.do("PATCH", path, map[string]any{"state": "resolved"}); st != 422 {
		t.Fatalf("PATCH without a resolution: %d", st)
	}
	if st, _ := c.do("GET", "repos/acme/api/secret-scanning/alerts/9", nil); st != 404 {
		t.Fatalf("GET an unknown alert: %d", st)
	}
	if st, a := c.do("PATCH", path, map[string]any{"state": "resolved", "resolution": "revoked", "resolution_comment": "done"}); st != 200 || a["resolution"] != "revoked" {
		t.Fatalf("PATCH: %d %v", st, a)
	}
	if a, ok := s.Alert("acme/api", n); !ok || a.State != "resolved" || a.ResolutionComment != "done" {
		t.Fatalf("alert %+v", a)
	}

	secret := []byte("hook")
	var got struct {
		event, sig string
		body       []byte
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.event, got.sig = r.Header.Get("X-GitHub-Event"), r.Header.Get("X-Hub-Signature-256")
		got.body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	resp, err := s.SendAlertWebhook(t.Context(), hook.Client(), hook.URL, secret, "acme/api", n, "created")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var payload struct {
		Action string         `json:"action"`
		Alert  map[string]any `json:"alert"`
	}
	if err := json.Unmarshal(got.body, &payload); err != nil {
		t.Fatal(err)
	}
	if got.event != "secret_scanning_alert" || got.sig != HubSignature(secret, got.body) || payload.Action != "created" ||
		payload.Alert["url"] != s.URL()+path || payload.Alert["secret"] != nil {
		t.Fatalf("webhook: event %q, signature ok %v, payload %+v", got.event, got.sig == HubSignature(secret, got.body), payload)
	}
}
