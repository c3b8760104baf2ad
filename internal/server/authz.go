package server

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Headers of the forward-auth answer.
const (
	HeaderCode   = "X-Tokenward-Code"   // the verification code, on every answer
	HeaderToken  = "X-Tokenward-Token"  // the token's name, when allowed
	HeaderOwner  = "X-Tokenward-Owner"  // the token's owner, when allowed
	HeaderScopes = "X-Tokenward-Scopes" // the token's effective scopes, space separated, when allowed
)

// authz answers /v1/authz?scope=S&scope=S2 (GET, or the client's method
// that nginx's subrequest keeps), forward auth for nginx
// auth_request, Caddy forward_auth and Traefik ForwardAuth: the token is the
// forwarded request's Authorization: Bearer, the scopes it must grant are
// the query's. Statuses follow RFC 6750 and what nginx passes on (2xx, 401
// and 403; any other status becomes a 500 there): 200 allowed, 401 for no
// token or a bad one, 403 for a missing scope, a denied network or a rate
// limit, 503 when verification fails closed.
func (s *Server) authz(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	u := use{endpoint: endpointAuthz}
	defer func() { s.finish(r, &u, start) }()
	u.method = firstHeader(r, "X-Original-Method", "X-Forwarded-Method")
	u.uri = firstHeader(r, "X-Original-URI", "X-Forwarded-Uri")
	h := w.Header()
	if !inNets(s.authzFrom, peerAddr(r)) {
		u.code = codeCallerDenied
		h.Set(HeaderCode, string(u.code))
		writeJSON(w, http.StatusForbidden, oauthError{Error: "access_denied",
			Description: "this address may not call /v1/authz: add its network to --authz-from"})
		return
	}
	value, ok := bearer(r)
	if !ok {
		u.code = codeMissingToken
		h.Set(HeaderCode, string(u.code))
		h.Set("WWW-Authenticate", `Bearer realm="tokenward"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_request",
			Description: "send the token as Authorization: Bearer <token>"})
		return
	}
	// The scopes are the gateway's configuration: a query that does not
	// parse is refused, where r.URL.Query would drop the pair it cannot
	// decode and so require fewer scopes.
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		u.code = codeBadRequest
		h.Set(HeaderCode, string(u.code))
		badRequest(w, "the query is not a valid scope=S&scope=S2 list: fix the auth URI in the gateway's configuration")
		return
	}
	var required []string
	for _, v := range query["scope"] {
		required = append(required, strings.Fields(v)...)
	}
	// Refused before verification, so a made-up scope that a wildcard
	// grants never reaches the usage log and its rollup.
	if err := registry.CheckRequiredScopes(required); err != nil {
		u.code = codeBadRequest
		h.Set(HeaderCode, string(u.code))
		badRequest(w, err.Error()+": fix the auth URI in the gateway's configuration")
		return
	}
	src := s.clientAddr(r)
	out := s.verifyOnce(value, required, src, true)
	s.set(&u, out, value, required, src)
	h.Set(HeaderCode, string(out.Code))
	switch out.Code {
	case token.Valid:
		h.Set(HeaderToken, out.TokenName)
		h.Set(HeaderScopes, strings.Join(out.Scopes, " "))
		if e := out.entry; e != nil && e.Token != nil {
			h.Set(HeaderOwner, e.Token.Owner)
		}
		h.Set("Cache-Control", "no-store") // the answer is about one token, at one time
		w.WriteHeader(http.StatusOK)
	case Unavailable:
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: "no current snapshot of the store: verification fails closed"})
	case token.InsufficientScope, IPDenied, RateLimited:
		challenge := `Bearer realm="tokenward", error="insufficient_scope"`
		desc := "the token does not grant every scope required: " + strings.Join(required, " ")
		switch out.Code {
		case token.InsufficientScope:
			if scope := strings.Join(required, " "); quotable(scope) {
				challenge += `, scope="` + scope + `"`
			}
		case IPDenied:
			desc = "the token may not be used from this address"
		case RateLimited:
			desc = "the token is used more often than its rate limit allows"
			h.Set("Retry-After", retryAfter(out.retryAfter))
		}
		h.Set("WWW-Authenticate", challenge)
		writeJSON(w, http.StatusForbidden, oauthError{Error: "insufficient_scope", Description: desc})
	default:
		h.Set("WWW-Authenticate", `Bearer realm="tokenward", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_token",
			Description: "the token is not valid (" + string(out.Code) + ")"})
	}
}

// bearer is the value of the request's Authorization: Bearer, if it has
// one.
func bearer(r *http.Request) (string, bool) {
	auth := r.Header.Values("Authorization")
	if len(auth) != 1 {
		return "", false
	}
	scheme, value, _ := strings.Cut(auth[0], " ")
	value = strings.TrimSpace(value)
	if !strings.EqualFold(scheme, "Bearer") || value == "" {
		return "", false
	}
	return value, true
}

// firstHeader is the first of the named headers the request has.
func firstHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := r.Header.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// quotable reports whether s may go into a challenge's scope="..." as it
// is: scope-tokens and spaces only (RFC 6750 section 3).
func quotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
