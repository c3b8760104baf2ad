package server

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// This file is who may call the configuration API (issue 15) and what they
// may do: the transport (TLS unless --insecure-config-api), the caller's
// token (Authorization: Bearer, verified from the snapshot like any other
// token, so a revoked, expired or narrowed caller is refused as soon as the
// snapshot sees it) and its built-in scopes. The events streams share it.

// configAct is what a request does with a user's configuration.
type configAct int

const (
	actRead  configAct = iota // read one user's configuration (or, with user "", every user's)
	actWrite                  // write one user's configuration
)

// configCaller is a verified caller of the configuration API and what its
// scopes let it do. It never holds the token's value.
type configCaller struct {
	Token          string     // the token's name, for the audit log
	Owner          string     // the token's owner: the user its -self scopes cover
	SourceIP       netip.Addr // where the request came from
	ReadSensitive  bool       // tokenward:config-read-sensitive
	WriteSensitive bool       // tokenward:config-write-sensitive
	scopes         []string
}

// has reports whether the caller's token grants scope.
func (c configCaller) has(scope string) bool { return slices.Contains(c.scopes, scope) }

// source is the caller's address as the audit log takes it; empty when
// unknown.
func (c configCaller) source() string {
	if !c.SourceIP.IsValid() {
		return ""
	}
	return c.SourceIP.String()
}

// may reports whether the caller may act on user's configuration ("" for
// every user's, which only the unrestricted scope covers), and otherwise
// the scope it lacks, as a sentence.
func (c configCaller) may(act configAct, user string) (ok bool, missing, why string) {
	any, self := registry.ScopeConfigRead, registry.ScopeConfigReadSelf
	verb := "read"
	if act == actWrite {
		any, self, verb = registry.ScopeConfigWrite, registry.ScopeConfigWriteSelf, "write"
	}
	if c.has(any) || (user != "" && user == c.Owner && c.has(self)) {
		return true, "", ""
	}
	switch {
	case user == "":
		return false, any, "the caller's token does not grant " + any + ", needed to " + verb + " every user's configuration"
	case user == c.Owner:
		return false, self, "the caller's token grants neither " + self + " nor " + any + ", needed to " + verb + " this user's configuration"
	}
	why = "the caller's token does not grant " + any + ", needed to " + verb + " another user's configuration"
	if c.has(self) {
		why += " (" + self + " covers only the token owner's own)"
	}
	return false, any, why
}

// configErrorBody is the body of every refusal of the configuration API:
// an RFC 6749-style error code and description, and what it is about. It
// never holds a value.
type configErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Key         string `json:"key,omitempty"`
	Rule        string `json:"rule,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Scope       string `json:"scope,omitempty"`    // the missing scope
	Revision    *int64 `json:"revision,omitempty"` // 412: the current revision
}

// writeConfigError answers a refusal of the configuration API.
func writeConfigError(w http.ResponseWriter, status int, body configErrorBody) {
	writeJSON(w, status, body)
}

// authorizeConfig checks that the request may act on user's configuration
// ("" for every user's): over TLS (unless the server allows plain HTTP), with
// a valid caller token that grants the scope act needs. When it may not,
// it answers the refusal itself and returns false: 403 without TLS, 401
// with WWW-Authenticate without a valid token, 403 naming the missing
// scope, 429 past the caller's rate limit, 503 without a current snapshot.
func (s *Server) authorizeConfig(w http.ResponseWriter, r *http.Request, user string, act configAct) (configCaller, bool) {
	c, ok := s.configCallerOf(w, r)
	if !ok {
		return c, false
	}
	if ok, missing, why := c.may(act, user); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenward", error="insufficient_scope", scope="`+missing+`"`)
		writeConfigError(w, http.StatusForbidden, configErrorBody{Error: "insufficient_scope", Description: why, Scope: missing})
		return c, false
	}
	return c, true
}

// configCallerOf checks the transport and the caller's token, and answers
// the refusal when either fails.
func (s *Server) configCallerOf(w http.ResponseWriter, r *http.Request) (configCaller, bool) {
	// --insecure-config-api is for loopback: even with it, plain HTTP is
	// answered only to a peer on this host, never across a network.
	if r.TLS == nil && (!s.configAPI().insecure || !peerAddr(r).IsLoopback()) {
		writeConfigError(w, http.StatusForbidden, configErrorBody{Error: "tls_required",
			Description: "the configuration API answers only over TLS: serve with --tls-cert and --tls-key (--insecure-config-api allows plain HTTP from loopback peers only)"})
		return configCaller{}, false
	}
	value, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenward"`)
		writeConfigError(w, http.StatusUnauthorized, configErrorBody{Error: "invalid_request",
			Description: "send a tokenward token that grants a tokenward:config-* scope as Authorization: Bearer <token>"})
		return configCaller{}, false
	}
	start, src := time.Now(), s.clientAddr(r)
	out := s.verifyOnce(value, nil, src, true)
	u := use{endpoint: endpointConfig, method: r.Method, uri: r.URL.Path}
	s.set(&u, out, value, nil, src)
	defer s.finish(r, &u, start)
	switch out.Code {
	case token.Valid:
	case Unavailable:
		writeConfigError(w, http.StatusServiceUnavailable, configErrorBody{Error: "temporarily_unavailable",
			Description: "no current snapshot of the store: the caller cannot be authenticated"})
		return configCaller{}, false
	case IPDenied:
		writeConfigError(w, http.StatusForbidden, configErrorBody{Error: "access_denied",
			Description: "the caller's token may not be used from this address"})
		return configCaller{}, false
	case RateLimited:
		w.Header().Set("Retry-After", retryAfter(out.retryAfter))
		writeConfigError(w, http.StatusTooManyRequests, configErrorBody{Error: "rate_limited",
			Description: "the caller's token is used more often than its rate limit allows"})
		return configCaller{}, false
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenward", error="invalid_token"`)
		writeConfigError(w, http.StatusUnauthorized, configErrorBody{Error: "invalid_token",
			Description: "the caller's token is not valid (" + string(out.Code) + ")"})
		return configCaller{}, false
	}
	c := configCaller{Token: out.TokenName, SourceIP: src, scopes: out.Scopes}
	if out.entry != nil && out.entry.Token != nil {
		c.Owner = out.entry.Token.Owner
	}
	c.ReadSensitive = c.has(registry.ScopeConfigReadSensitive)
	c.WriteSensitive = c.has(registry.ScopeConfigWriteSensitive)
	return c, true
}

// configUser is the {user} of the request's path, checked: a user id may
// hold any printable character, a "/" percent-encoded as %2F. It answers
// 400 and returns false for one that is not usable.
func configUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	user := r.PathValue("user")
	if err := registry.CheckUser(user); err != nil {
		writeConfigError(w, http.StatusBadRequest, configErrorBody{Error: "invalid_user",
			Description: strings.TrimPrefix(err.Error(), "invalid ") + " (percent-encode a / as %2F)"})
		return "", false
	}
	return user, true
}
