package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// The partner protocol: GitHub POSTs a JSON array of {token, type, url,
// source}, signed with ECDSA P-256 over SHA-256 of the raw body (base64 DER
// in Github-Public-Key-Signature), with the key named by
// Github-Public-Key-Identifier among those GitHub publishes at
// meta/public_keys/secret_scanning. The answer labels each token by the
// SHA-256 of its value.

// Bounds of a partner report.
const (
	// maxPartnerReports bounds the entries of one report; the body's 64 KiB
	// bounds it too.
	maxPartnerReports = 256
	// maxKeyIDLength bounds the key identifier header (GitHub's are 64 hex
	// characters).
	maxKeyIDLength = 128
	// keyRefetchEvery is the least time between two fetches of GitHub's
	// keys for an unknown key identifier: a flood of unknown identifiers
	// costs GitHub one request a minute.
	keyRefetchEvery = time.Minute
	// keysMaxAge is how long fetched keys are trusted before they are read
	// again, so a key GitHub withdrew stops verifying.
	keysMaxAge = 24 * time.Hour
	// maxKeysBody bounds GitHub's keys document.
	maxKeysBody = 64 << 10
)

// partnerEntry is one entry of a partner report.
type partnerEntry struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// leakPartner answers POST /v1/leaks/github.
func (s *Server) leakPartner(w http.ResponseWriter, r *http.Request) {
	if why := s.leakUnavailable(); why != "" {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: why})
		return
	}
	var code token.Code
	body, ok := readBody(w, r, &code)
	if !ok {
		return
	}
	// The bytes as received are what GitHub signed: nothing is parsed
	// before the signature is checked.
	if why, err := s.leaks.keys.verify(r.Context(), r.Header.Get("Github-Public-Key-Identifier"), r.Header.Get("Github-Public-Key-Signature"), body); err != nil {
		// GitHub's keys could not be read: not the report's fault, and
		// GitHub sends a report again after a 5xx.
		s.log.Warn("leak report: GitHub's signing keys could not be read", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: err.Error()})
		return
	} else if why != "" {
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_signature", Description: why})
		return
	}
	var entries []partnerEntry
	if err := json.Unmarshal(body, &entries); err != nil {
		badRequest(w, "the body must be a JSON array of {token, type, url, source}")
		return
	}
	if len(entries) > maxPartnerReports {
		badRequest(w, fmt.Sprintf("a report holds at most %d tokens; this one holds %d", maxPartnerReports, len(entries)))
		return
	}
	ctx := context.WithoutCancel(r.Context()) // a response once begun is not cut by GitHub hanging up
	answers := make([]leakAnswer, len(entries))
	var done []<-chan struct{}
	for i, e := range entries {
		sum := sha256.Sum256([]byte(e.Token))
		answers[i] = leakAnswer{TokenHash: hex.EncodeToString(sum[:]), TokenType: leakTokenType, Label: labelFalsePositive}
		matched, d, err := s.respond(ctx, leakReport{value: e.Token, url: e.URL, source: e.Source, via: "github secret scanning partner report"})
		if err != nil {
			s.log.Error("leak report: the store failed", "err", redact(err.Error()))
			writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: "the store could not be read or written; send the report again"})
			return
		}
		if matched {
			answers[i].Label = labelTruePositive
			done = append(done, d)
		}
	}
	waitAll(done, s.leaks.opts.Wait)
	writeJSON(w, http.StatusOK, answers)
}

// keyCache holds GitHub's secret-scanning signing keys by identifier.
type keyCache struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]*ecdsa.PublicKey
	fetchedAt time.Time // of keys
	triedAt   time.Time // the last fetch, successful or not
	lastErr   error     // of the last fetch
}

// newKeyCache reads keys from the GitHub API at api (the default API when
// empty), with or without its trailing slash.
func newKeyCache(api string, client *http.Client) *keyCache {
	if api == "" {
		api = destination.DefaultGitHubAPIURL
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &keyCache{url: strings.TrimRight(api, "/") + "/meta/public_keys/secret_scanning", client: client, now: time.Now}
}

// verify checks a partner report's signature; it returns why it is refused,
// "" when it verifies, and an error when GitHub's keys could not be read
// to tell.
func (c *keyCache) verify(ctx context.Context, keyID, sig string, body []byte) (string, error) {
	if keyID == "" || sig == "" {
		return "the report is not signed: Github-Public-Key-Identifier and Github-Public-Key-Signature are required", nil
	}
	if len(keyID) > maxKeyIDLength {
		return "Github-Public-Key-Identifier is too long", nil
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "Github-Public-Key-Signature is not base64", nil
	}
	pub, err := c.key(ctx, keyID)
	if errors.Is(err, errUnknownKey) {
		return err.Error(), nil
	}
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, sum[:], der) {
		return "the signature does not verify with GitHub's key " + keyID, nil
	}
	return "", nil
}

// errUnknownKey is returned for a key identifier GitHub does not publish.
var errUnknownKey = errors.New("the key named by Github-Public-Key-Identifier is not one of GitHub's secret-scanning keys")

// key returns the key named id: from the cache, or fetched again when the
// id is unknown (or the keys old) and the last fetch is at least
// keyRefetchEvery ago. Fetches are one at a time.
func (c *keyCache) key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	k, known := c.keys[id]
	fresh := now.Sub(c.fetchedAt) < keysMaxAge
	if known && fresh {
		return k, nil
	}
	if c.triedAt.IsZero() || now.Sub(c.triedAt) >= keyRefetchEvery {
		c.triedAt = now
		keys, err := c.fetch(ctx)
		c.lastErr = err
		if err == nil {
			c.keys, c.fetchedAt = keys, now
			k, known = keys[id]
			fresh = true
		}
	}
	switch {
	case known && fresh:
		return k, nil
	case c.lastErr != nil:
		// Until the next fetch may be tried, the keys are as unknown as
		// the last fetch left them: say so rather than blame the report.
		return nil, fmt.Errorf("GitHub's secret-scanning keys could not be read: %w", c.lastErr)
	}
	return nil, errUnknownKey
}

// fetch reads GitHub's keys document: {"public_keys": [{"key_identifier",
// "key" (PEM), "is_current"}]}. A key that is not ECDSA P-256 is left out.
func (c *keyCache) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", c.url, resp.Status)
	}
	var doc struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
		} `json:"public_keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeysBody)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.url, err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, k := range doc.PublicKeys {
		if pub := parseP256(k.Key); pub != nil && k.KeyIdentifier != "" {
			keys[k.KeyIdentifier] = pub
		}
	}
	return keys, nil
}

// parseP256 parses a PEM public key; nil unless it is ECDSA P-256.
func parseP256(s string) *ecdsa.PublicKey {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil
	}
	return pub
}
