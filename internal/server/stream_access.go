package server

import (
	"net/http"
	"net/netip"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// streamCallerInfo is who holds a stream open, kept to verify again while
// it lasts. value is the caller's token as the request's Authorization
// header holds it for the request's life; it is never logged.
type streamCallerInfo struct {
	value  string
	token  string // the token's name: the streams per token are counted by it
	source netip.Addr
}

// streamCaller authenticates the caller of a stream with the rules of
// reading the configuration (authorizeConfig): tokenward:config-read, or
// tokenward:config-read-self for the user equal to the token's owner;
// every user's stream needs tokenward:config-read. It answers the refusal
// itself.
func (s *Server) streamCaller(w http.ResponseWriter, r *http.Request, user string) (streamCallerInfo, bool) {
	c, ok := s.authorizeConfig(w, r, user, actRead)
	if !ok {
		return streamCallerInfo{}, false
	}
	value, _ := bearer(r) // authorizeConfig verified it
	return streamCallerInfo{value: value, token: c.Token, source: c.SourceIP}, true
}

// streamAllowed verifies the caller of an open stream again against the
// current snapshot, as authorizeConfig would (without counting the use
// against its rate limit): empty while it may go on, else why not.
func (s *Server) streamAllowed(c streamCallerInfo, user string) string {
	out := s.verifyOnce(c.value, nil, c.source, false)
	switch out.Code {
	case token.Valid:
	case IPDenied:
		return "the caller's token may no longer be used from this address"
	case Unavailable:
		return "no current snapshot of the store: the caller cannot be authenticated"
	default:
		return "the caller's token is no longer valid (" + string(out.Code) + ")"
	}
	cc := configCaller{Token: out.TokenName, scopes: out.Scopes}
	if out.entry != nil && out.entry.Token != nil {
		cc.Owner = out.entry.Token.Owner
	}
	if ok, _, why := cc.may(actRead, user); !ok {
		return why
	}
	return ""
}
