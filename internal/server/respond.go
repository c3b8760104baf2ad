package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// oauthError is an RFC 6749 section 5.2 error body, which every refusal of
// the server uses.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeJSON answers v as JSON with status. Answers about tokens are never
// cached (RFC 7662 section 4, RFC 6749 section 5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the peer is gone; nothing to tell it
}

func badRequest(w http.ResponseWriter, desc string) {
	writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: desc})
}

// retrySeconds is a wait as Retry-After's whole seconds, rounded up so a
// client that waits that long is allowed.
func retrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

func retryAfter(d time.Duration) string { return strconv.Itoa(retrySeconds(d)) }

// tokenLike matches what could be a token value (the format secret scanners
// match, and a bit more), so a URI logged for the usage log never carries
// one: a client may put a token in a query string, its "_" percent-encoded
// as a URL encoder writes it.
var tokenLike = regexp.MustCompile(strings.TrimSuffix(token.Prefix, "_") + `(?:_|%5[Ff])[0-9A-Za-z]+`)

// redact replaces anything that looks like a token value in s by its
// fingerprint.
func redact(s string) string {
	if len(s) > 2048 {
		s = s[:2048] + "…"
	}
	return tokenLike.ReplaceAllStringFunc(s, func(v string) string {
		return token.Fingerprint(strings.NewReplacer("%5F", "_", "%5f", "_").Replace(v))
	})
}
