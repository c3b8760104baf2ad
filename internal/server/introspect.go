package server

import (
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// introspection is an RFC 7662 answer for an active token.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Sub       string `json:"sub,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Iss       string `json:"iss,omitempty"`
}

// inactive is the whole answer for a token that is not active, whatever the
// reason (RFC 7662 section 2.2): it says nothing more.
var inactive = introspection{}

// singleFields are the form fields RFC 6749 section 3.2 allows once only.
var singleFields = []string{"token", "token_type_hint", "client_id", "client_secret", "source_ip"}

// introspect answers POST /oauth2/introspect (RFC 7662): the form field
// token, token_type_hint (ignored: there is one kind of token) and
// source_ip, the address the token was presented from.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	u := use{endpoint: endpointIntrospect}
	defer func() { s.finish(r, &u, start) }()
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		u.code = codeBadRequest
		badRequest(w, "send the request as a form: Content-Type: application/x-www-form-urlencoded")
		return
	}
	body, ok := readBody(w, r, &u.code)
	if !ok {
		return
	}
	// The body only, never the query: a token in a URL ends up in logs.
	form, err := url.ParseQuery(string(body))
	if err != nil {
		u.code = codeBadRequest
		badRequest(w, "the body is not a valid form (application/x-www-form-urlencoded)")
		return
	}
	for _, f := range singleFields {
		if len(form[f]) > 1 {
			u.code = codeBadRequest
			badRequest(w, "the form field "+f+" is given more than once")
			return
		}
	}
	value := form.Get("token")
	if value == "" {
		u.code = codeBadRequest
		badRequest(w, "the form field token is required: the token to introspect")
		return
	}
	src, ok := sourceIP(form.Get("source_ip"))
	if !ok {
		u.code = codeBadRequest
		badRequest(w, "the form field source_ip is not an IP address, such as 203.0.113.7 or 2001:db8::7")
		return
	}
	if e := s.authenticate(r, form, &u); e != nil {
		if e.status == http.StatusServiceUnavailable {
			u.code = Unavailable
			writeJSON(w, http.StatusOK, inactive) // fail closed
			return
		}
		u.code = e.code()
		e.write(w)
		return
	}
	out := s.verifyOnce(value, nil, src, true)
	s.set(&u, out, value, nil, src)
	if out.Code != token.Valid {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	e := out.entry
	answer := introspection{
		Active:    true,
		Scope:     strings.Join(e.Scopes, " "),
		ClientID:  e.TokenName,
		TokenType: "Bearer",
		Exp:       e.ExpiresAt.Unix(),
		Jti:       e.VersionID,
		Iss:       s.issuer,
	}
	if e.Token != nil {
		answer.Sub = e.Token.Owner
	}
	if !e.IssuedAt.IsZero() {
		answer.Iat = e.IssuedAt.Unix()
	}
	writeJSON(w, http.StatusOK, answer)
}

// sourceIP parses the source_ip a caller sent: ok with an invalid address
// when it sent none, which a token with allowed networks refuses.
func sourceIP(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, true
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
