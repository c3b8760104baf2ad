package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// IntrospectScope is the built-in scope a caller's token must grant to
// introspect or verify other tokens.
const IntrospectScope = "tokenward:introspect"

// authMethod is how a caller of introspection or verify authenticated.
type authMethod int

const (
	authNone   authMethod = iota
	authBasic             // client_secret_basic: HTTP Basic, client_id = a token's name, client_secret = its value
	authPost              // client_secret_post: client_id and client_secret form fields
	authBearer            // Authorization: Bearer <value>
)

// callerError is why a caller was refused; it is answered as an RFC 6749
// error, 401 with WWW-Authenticate unless status says otherwise.
type callerError struct {
	status      int
	method      authMethod
	bearerError string // the RFC 6750 error for a Bearer challenge, if any
	description string
}

// authenticate checks the caller of introspection or verify: its token,
// from one of the three ways (form holds the form fields; nil for a JSON
// body), must be valid, be used from an address its allowed networks admit
// (the peer's, or the one a trusted proxy forwarded; never a source_ip the
// caller sends) and grant IntrospectScope. For Basic and the form fields the
// value must belong to the token named client_id. The caller's use is not
// counted against its rate limit: that limits the tokens being verified.
// An accepted caller's token name goes into u, for the usage event.
func (s *Server) authenticate(r *http.Request, form url.Values, u *use) *callerError {
	method, id, value, err := credentials(r, form)
	if err != nil {
		return err
	}
	out := s.verifyOnce(value, []string{IntrospectScope}, s.clientAddr(r), false)
	refuse := func(bearerError, desc string) *callerError {
		return &callerError{status: http.StatusUnauthorized, method: method, bearerError: bearerError, description: desc}
	}
	switch {
	case out.Code == Unavailable:
		return &callerError{status: http.StatusServiceUnavailable, method: method,
			description: "no current snapshot of the store: the caller cannot be authenticated"}
	case method != authBearer && out.TokenName != id:
		// A value of another token, or none: the same answer, so that a
		// wrong name reveals nothing about the value.
		return refuse("", "client_secret is not a valid value of the token client_id names")
	case out.Code == token.InsufficientScope:
		return refuse("insufficient_scope", "the caller's token does not grant "+IntrospectScope)
	case out.Code == IPDenied:
		return refuse("invalid_token", "the caller's token may not be used from this address")
	case out.Code != token.Valid:
		return refuse("invalid_token", "the caller's token is not valid ("+string(out.Code)+")")
	}
	u.caller = out.TokenName
	return nil
}

// credentials reads the caller's credentials. More than one way at once is
// a bad request (RFC 6749 section 2.3).
func credentials(r *http.Request, form url.Values) (method authMethod, id, value string, err *callerError) {
	bad := func(desc string) *callerError {
		return &callerError{status: http.StatusBadRequest, description: desc}
	}
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		return authNone, "", "", bad("more than one Authorization header")
	}
	_, inForm := form["client_secret"]
	if len(auth) == 1 {
		if inForm {
			return authNone, "", "", bad("authenticate one way: HTTP Basic or Bearer, or client_id and client_secret fields, not both")
		}
		scheme, rest, _ := strings.Cut(auth[0], " ")
		switch {
		case strings.EqualFold(scheme, "Basic"):
			user, pass, ok := r.BasicAuth()
			if !ok {
				return authBasic, "", "", &callerError{status: http.StatusUnauthorized, method: authBasic,
					description: "the Basic credentials are not base64 of client_id:client_secret"}
			}
			// RFC 6749 section 2.3.1: both are form-encoded before Basic.
			return authBasic, formDecoded(user), formDecoded(pass), nil
		case strings.EqualFold(scheme, "Bearer"):
			return authBearer, "", strings.TrimSpace(rest), nil
		}
		return authNone, "", "", &callerError{status: http.StatusUnauthorized,
			description: "the Authorization scheme must be Basic or Bearer"}
	}
	if inForm {
		if len(form["client_secret"]) != 1 || len(form["client_id"]) != 1 {
			return authPost, "", "", bad("give client_id and client_secret once each")
		}
		return authPost, form.Get("client_id"), form.Get("client_secret"), nil
	}
	return authNone, "", "", &callerError{status: http.StatusUnauthorized,
		description: "authenticate with a token that grants " + IntrospectScope + ": HTTP Basic (client_id = its name, client_secret = its value), " +
			"client_id and client_secret form fields, or Authorization: Bearer"}
}

// formDecoded undoes application/x-www-form-urlencoded, keeping s as it is
// when it is not such an encoding.
func formDecoded(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// write answers the refusal as RFC 6749 section 5.2 and RFC 6750 say.
func (e *callerError) write(w http.ResponseWriter) {
	code := "invalid_client"
	switch e.status {
	case http.StatusBadRequest:
		code = "invalid_request"
	case http.StatusServiceUnavailable:
		code = "temporarily_unavailable"
	case http.StatusUnauthorized:
		for _, c := range e.challenges() {
			w.Header().Add("WWW-Authenticate", c)
		}
	}
	writeJSON(w, e.status, oauthError{Error: code, Description: e.description})
}

// challenges are the WWW-Authenticate values for the way the caller tried,
// or for both ways when it tried none.
func (e *callerError) challenges() []string {
	basic := `Basic realm="tokenward", charset="UTF-8"`
	bearer := `Bearer realm="tokenward"`
	if e.bearerError != "" {
		bearer += `, error="` + e.bearerError + `"`
		if e.bearerError == "insufficient_scope" {
			bearer += `, scope="` + IntrospectScope + `"`
		}
	}
	switch e.method {
	case authBasic, authPost:
		return []string{basic}
	case authBearer:
		return []string{bearer}
	}
	return []string{basic, bearer}
}
