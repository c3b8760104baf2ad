package server

import (
	"net/http"
	"net/netip"
	"slices"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// streamCallerInfo is who holds a stream open, kept to verify again while
// it lasts. value is the caller's token as the request's Authorization
// header holds it for the request's life; it is never logged.
type streamCallerInfo struct {
	value   string
	tokenID string
	source  netip.Addr
}

// streamCaller authenticates the caller of a stream with the rules of
// reading the user's configuration: tokenward:config-read, or
// tokenward:config-read-self for the user equal to the token's owner; every
// user's stream needs tokenward:config-read. It answers the refusal itself.
func (s *Server) streamCaller(w http.ResponseWriter, r *http.Request, user string, all bool) (streamCallerInfo, bool) {
	value, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenward"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_request",
			Description: "send a token that grants " + registry.ScopeConfigRead + " as Authorization: Bearer <token>"})
		return streamCallerInfo{}, false
	}
	c := streamCallerInfo{value: value, source: s.clientAddr(r)}
	out := s.verifyOnce(value, nil, c.source, true)
	switch why, status := s.streamDenied(out, user, all); status {
	case 0:
		c.tokenID = out.entry.Token.ID
		return c, true
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenward", error="invalid_token"`)
		writeJSON(w, status, oauthError{Error: "invalid_token", Description: why})
	case http.StatusForbidden:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenward", error="insufficient_scope", scope="`+registry.ScopeConfigRead+`"`)
		writeJSON(w, status, oauthError{Error: "insufficient_scope", Description: why})
	default:
		if out.Code == RateLimited {
			w.Header().Set("Retry-After", retryAfter(out.retryAfter))
		}
		writeJSON(w, status, oauthError{Error: "temporarily_unavailable", Description: why})
	}
	return streamCallerInfo{}, false
}

// streamAllowed verifies the caller of an open stream again against the
// current snapshot: empty while it may go on, else why not.
func (s *Server) streamAllowed(c streamCallerInfo, user string, all bool) string {
	why, _ := s.streamDenied(s.verifyOnce(c.value, nil, c.source, false), user, all)
	return why
}

// streamDenied is why a verification does not grant the stream, with the
// status to answer; 0 when it does.
func (s *Server) streamDenied(out outcome, user string, all bool) (string, int) {
	switch {
	case out.Code == Unavailable:
		return "no current snapshot of the store: the caller cannot be authenticated", http.StatusServiceUnavailable
	case out.Code == RateLimited:
		return "the caller's token is used more often than its rate limit allows", http.StatusTooManyRequests
	case out.Code == IPDenied:
		return "the caller's token may not be used from this address", http.StatusUnauthorized
	case out.Code != token.Valid || out.entry == nil || out.entry.Token == nil:
		return "the caller's token is not valid (" + string(out.Code) + ")", http.StatusUnauthorized
	}
	scopes := out.entry.Scopes
	if slices.Contains(scopes, registry.ScopeConfigRead) {
		return "", 0
	}
	if !all && slices.Contains(scopes, registry.ScopeConfigReadSelf) && out.entry.Token.Owner == user {
		return "", 0
	}
	if all {
		return "every user's events need the scope " + registry.ScopeConfigRead, http.StatusForbidden
	}
	return "reading this user's configuration needs the scope " + registry.ScopeConfigRead +
		" (or " + registry.ScopeConfigReadSelf + " on a token its owner holds)", http.StatusForbidden
}
