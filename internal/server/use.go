package server

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Endpoints, as the metrics and the log name them.
const (
	endpointIntrospect = "introspect"
	endpointVerify     = "verify"
	endpointAuthz      = "authz"
	// The endpoints whose caller is a tokenward token: its every use is an
	// event too, so a honeytoken or a scan there alerts as anywhere.
	endpointAlerts = "alerts"
	endpointConfig = "config"
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

// maxUserAgent bounds the user agent a usage event keeps.
const maxUserAgent = 256

// use is one request to a verification endpoint, as it is counted, logged
// and handed to the event sinks: what was asked, by whom and the outcome.
// It never holds a token value or the Authorization header.
type use struct {
	endpoint    string
	code        token.Code
	token       string     // the token's name, once its secret matched
	version     string     // the presented version id
	owner       string     // the token's owner, once its secret matched
	source      netip.Addr // the address the token was used from; invalid when unknown
	method      string     // authz: the original request's method, from the gateway
	uri         string     // authz: the original request's URI, redacted
	fingerprint string     // of the presented value, when it parsed
	named       *TokenInfo // the token the presented version id names, whether or not the secret matched
	required    []string   // the scopes the verification asked for
	caller      string     // introspect and verify: the calling token's name, once it was accepted
	honeytoken  bool       // the presented version belongs to a honeytoken
	verified    bool       // the request got as far as a verification
}

// set records a verification of value for the required scopes, used from
// src, and its outcome.
//
// A version id that exists but whose secret did not match is evidence (a
// value forged or guessed from a known id): the event keeps the id and the
// token it names, with the code that says the secret did not match
// (not_found). So the name in an event is the token the presented id
// belongs to, never a claim that the token was used; the code says whether
// it was. An id alone cannot name a token the snapshot does not hold.
func (s *Server) set(u *use, out outcome, value string, required []string, src netip.Addr) {
	u.code, u.version, u.token, u.source, u.required = out.Code, out.VersionID, out.TokenName, src, required
	u.honeytoken, u.verified = out.honeytoken, true
	if out.VersionID == "" {
		return // malformed: nothing parsed, nothing to fingerprint
	}
	u.fingerprint = token.Fingerprint(value)
	e := out.entry
	if e == nil {
		// The secret did not match: the id may still name a version.
		if snap, err := s.src.Current(); err == nil && snap != nil {
			e = snap.Lookup(out.VersionID)
		}
	}
	if e != nil && e.Token != nil {
		u.named = e.Token
		if out.entry != nil {
			u.owner = e.Token.Owner
		}
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

// WithInstance names the server instance in every usage event; the default
// is none (tokenward serve gives the host name).
func WithInstance(name string) Option { return func(s *Server) { s.instance = name } }

// finish counts a request, hands its usage event to every sink and logs it
// at debug level.
func (s *Server) finish(r *http.Request, u *use, start time.Time) {
	s.metrics.observe(u.endpoint, u.code, time.Since(start))
	if len(s.sinks) > 0 {
		ev := s.event(r, u)
		for _, sink := range s.sinks {
			sink.Record(ev)
		}
	}
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

// event is the usage event of a finished request. A request refused before
// any verification (a bad request, a caller refused) has no token; its
// source is the address it came from, as the forward-auth endpoint's always
// is, so a scan of the endpoints shows in the log like a scan of tokens.
func (s *Server) event(r *http.Request, u *use) store.UsageEvent {
	ev := store.UsageEvent{
		At:          s.now(),
		VersionID:   u.version,
		Fingerprint: u.fingerprint,
		Code:        string(u.code),
		Endpoint:    u.endpoint,
		UserAgent:   clean(redactCheap(r.UserAgent()), maxUserAgent),
		Caller:      u.caller,
		Instance:    s.instance,
		Honeytoken:  u.honeytoken,
	}
	if len(u.required) > 0 {
		ev.ScopesRequired = append([]string(nil), u.required...)
	}
	if u.named != nil {
		ev.TokenID, ev.TokenName = u.named.ID, u.named.Name
	}
	src := u.source
	if !u.verified {
		src = s.clientAddr(r) // refused before verification: who sent it
	}
	if src.IsValid() {
		ev.SourceIP = src.String()
	}
	if u.method != "" || u.uri != "" {
		ev.Method = clean(u.method, 16)
		// The path without its query: a query may carry another system's
		// secret, and the log, alerts and audit chain keep what they get.
		path, _, _ := strings.Cut(u.uri, "?")
		ev.Path = clean(redactCheap(path), 2048)
	}
	return ev
}

// redactCheap is redact, skipping its regular expression for the many
// strings (user agents, paths) that hold no "tw" at all.
func redactCheap(s string) string {
	if !strings.Contains(s, strings.TrimSuffix(token.Prefix, "_")) {
		return s
	}
	return redact(s)
}

// clean makes s fit a text column: valid UTF-8 without NUL (PostgreSQL
// refuses both), at most n bytes, cut on a character boundary.
func clean(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// watchSinks registers the metrics of the sinks that have some (the usage
// log's recorder) on the server's registry.
func (s *Server) watchSinks() {
	for _, sink := range s.sinks {
		if c, ok := sink.(prometheus.Collector); ok {
			s.metrics.reg.MustRegister(c)
		}
	}
}

// WithUsageLogStatus sets what /readyz says of the usage log: "on", or "off
// (why)" for a server that cannot write it. It is informative: the server
// stays ready either way.
func WithUsageLogStatus(f func() string) Option { return func(s *Server) { s.usageStatus = f } }
