package server

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Endpoints, as the metrics and the log name them.
const (
	endpointIntrospect = "introspect"
	endpointVerify     = "verify"
	endpointAuthz      = "authz"
)

// Codes of requests that were refused before any verification, beside the
// verification codes, for the metrics and the log.
const (
	codeBadRequest    token.Code = "invalid_request"
	codeTooLarge      token.Code = "too_large"
	codeInvalidClient token.Code = "invalid_client"
	codeCallerDenied  token.Code = "caller_denied"
	codeMissingToken  token.Code = "missing_token"
)

// use is one request to a verification endpoint, as it is counted and
// logged: what was asked, by whom and the outcome. It never holds a token
// value or the Authorization header.
type use struct {
	endpoint string
	code     token.Code
	token    string     // the token's name, once its secret matched
	version  string     // the presented version id
	owner    string     // the token's owner, once its secret matched
	source   netip.Addr // the address the token was used from; invalid when unknown
	method   string     // authz: the original request's method, from the gateway
	uri      string     // authz: the original request's URI, redacted
}

// set records a verification's outcome.
func (u *use) set(out outcome, src netip.Addr) {
	u.code, u.version, u.token, u.source = out.Code, out.VersionID, out.TokenName, src
	if out.entry != nil && out.entry.Token != nil {
		u.owner = out.entry.Token.Owner
	}
}

// code is the refusal's code for the metrics and the log.
func (e *callerError) code() token.Code {
	switch e.status {
	case http.StatusBadRequest:
		return codeBadRequest
	case http.StatusServiceUnavailable:
		return Unavailable
	}
	return codeInvalidClient
}

// finish counts a request and logs it at debug level: the usage log of a
// later issue starts from this record.
func (s *Server) finish(r *http.Request, u *use, start time.Time) {
	s.metrics.observe(u.endpoint, u.code, time.Since(start))
	if !s.log.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("endpoint", u.endpoint), slog.String("code", string(u.code))}
	if u.token != "" {
		attrs = append(attrs, slog.String("token", u.token), slog.String("owner", u.owner))
	}
	if u.version != "" {
		attrs = append(attrs, slog.String("version", u.version))
	}
	if u.source.IsValid() {
		attrs = append(attrs, slog.String("source", u.source.String()))
	}
	attrs = append(attrs, slog.String("peer", peerAddr(r).String()))
	if u.method != "" || u.uri != "" {
		attrs = append(attrs, slog.String("method", redact(u.method)), slog.String("uri", redact(u.uri)))
	}
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "verification", attrs...)
}
