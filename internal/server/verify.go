package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// VerifyRequest is the body of POST /v1/verify. Fields it does not know are
// refused, so a misspelt "scope" cannot verify a token without its scopes.
type VerifyRequest struct {
	Token string `json:"token"`
	// Scopes must all be granted: at most registry.MaxRequiredScopes, each
	// a valid scope name, or the request is refused with 400.
	Scopes   []string `json:"scopes,omitempty"`
	SourceIP string   `json:"source_ip,omitempty"` // where the token was presented from
}

// VerifyResponse is the answer of POST /v1/verify, always with status 200
// once the caller is authenticated and the request is well formed.
type VerifyResponse struct {
	Valid   bool        `json:"valid"`
	Code    token.Code  `json:"code"`
	Token   string      `json:"token,omitempty"`   // the token's name, once the secret matched
	Owner   string      `json:"owner,omitempty"`   // the token's owner, once the secret matched
	Version string      `json:"version,omitempty"` // the presented version id
	State   token.State `json:"state,omitempty"`   // current, previous, pending (or revoked)
	Scopes  []string    `json:"scopes"`            // the token's effective scopes
	// ExpiresAt is when the version stops verifying (RFC 3339); for a
	// previous version that is when its overlap ends, also given as
	// OverlapEndsAt.
	ExpiresAt     string `json:"expires_at,omitempty"`
	OverlapEndsAt string `json:"overlap_ends_at,omitempty"`
	// RetryAfter is, for rate_limited, the whole seconds until the token may
	// be used again.
	RetryAfter int `json:"retry_after,omitempty"`
}

// verify answers POST /v1/verify.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	u := use{endpoint: endpointVerify}
	defer func() { s.finish(r, &u, start) }()
	if e := s.authenticate(r, nil, &u); e != nil {
		if e.status == http.StatusServiceUnavailable {
			u.code = Unavailable
			writeJSON(w, http.StatusOK, VerifyResponse{Code: Unavailable, Scopes: []string{}})
			return
		}
		u.code = e.code()
		e.write(w)
		return
	}
	body, ok := readBody(w, r, &u.code)
	if !ok {
		return
	}
	req, err := decodeVerify(body)
	if err != nil {
		u.code = codeBadRequest
		badRequest(w, err.Error())
		return
	}
	src, ok := sourceIP(req.SourceIP)
	if !ok {
		u.code = codeBadRequest
		badRequest(w, "source_ip is not an IP address, such as 203.0.113.7 or 2001:db8::7")
		return
	}
	out := s.verifyOnce(req.Token, req.Scopes, src, true)
	s.set(&u, out, req.Token, req.Scopes, src)
	writeJSON(w, http.StatusOK, verifyResponse(out))
}

// decodeVerify reads one VerifyRequest object and nothing after it. Its
// errors say what to fix and never quote the body.
func decodeVerify(body []byte) (VerifyRequest, error) {
	var req VerifyRequest
	if err := checkFieldNames(body); err != nil {
		return req, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return req, errors.New("the body must be one JSON object, with nothing after it")
	}
	if req.Token == "" {
		return req, errors.New(`the field "token" is required: the token to verify`)
	}
	// Refused before verification, so a made-up scope that a wildcard
	// grants never reaches the usage log and its rollup.
	if err := registry.CheckRequiredScopes(req.Scopes); err != nil {
		return req, err
	}
	return req, nil
}

// verifyFields are VerifyRequest's JSON names.
var verifyFields = []string{"token", "scopes", "source_ip"}

// checkFieldNames refuses a body whose object names one of verifyFields
// twice, or in another case. encoding/json would keep the last of the
// duplicates and match names in any case, so {"scopes": ["billing:write"],
// "scopes": []} would verify without the scope that a reader of the first
// key (a log, a proxy, a caller's own check) sees. Anything else is left to
// the decoder, which says what is wrong.
func checkFieldNames(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := t.(string)
		for _, f := range verifyFields {
			switch {
			case name == f && seen[f]:
				return errors.New(`the field "` + f + `" is given more than once`)
			case name == f:
				seen[f] = true
			case strings.EqualFold(name, f):
				return errors.New(`the field names are lower case: write "` + f + `"`)
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// jsonError says what is wrong with a body that did not decode.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New(`the body must be a JSON object such as {"token": "...", "scopes": ["billing:read"], "source_ip": "203.0.113.7"}`)
	case errors.As(err, &syn):
		return errors.New("the body is not valid JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errors.New("the body must be a JSON object")
		}
		return errors.New(`the field "` + typ.Field + `" must be a ` + typeName(typ.Field))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json names the field, and names are not secrets.
		return errors.New("the body has an " + strings.TrimPrefix(err.Error(), "json: ") + `: the fields are "token", "scopes" and "source_ip"`)
	}
	return errors.New("the body is not a verify request: " + `{"token": "...", "scopes": [...], "source_ip": "..."}`)
}

// typeName is what a field of VerifyRequest holds.
func typeName(field string) string {
	if strings.HasPrefix(field, "scopes") {
		return "list of strings"
	}
	return "string"
}

// verifyResponse renders an outcome.
func verifyResponse(out outcome) VerifyResponse {
	resp := VerifyResponse{Valid: out.Code == token.Valid, Code: out.Code, Token: out.TokenName,
		Version: out.VersionID, Scopes: out.Scopes}
	if resp.Scopes == nil {
		resp.Scopes = []string{}
	}
	if e := out.entry; e != nil {
		resp.State = e.State
		if e.Token != nil {
			resp.Owner = e.Token.Owner
		}
		if !e.ExpiresAt.IsZero() {
			resp.ExpiresAt = e.ExpiresAt.UTC().Format(time.RFC3339)
			if e.State == token.StatePrevious {
				resp.OverlapEndsAt = resp.ExpiresAt
			}
		}
	}
	if out.Code == RateLimited {
		resp.RetryAfter = retrySeconds(out.retryAfter)
	}
	return resp
}
