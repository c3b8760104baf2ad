package server_test

import (
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

var endpoints = []string{"introspect", "verify", "authz"}

// ask verifies the token of label through one endpoint, with the required
// scopes (introspection requires none: it reports them) and from src, and
// checks the answer's shape for that endpoint. It returns the verification
// code the answer carries; introspection's is valid or "inactive".
func (w *world) ask(t *testing.T, endpoint, label string, scopes []string, src string) token.Code {
	t.Helper()
	switch endpoint {
	case "introspect":
		form := url.Values{"token": {w.value(label)}, "token_type_hint": {"access_token"}}
		if src != "" {
			form.Set("source_ip", src)
		}
		rec := w.introspect(form, request{auth: w.basic("caller", "caller")})
		if rec.Code != http.StatusOK {
			t.Fatalf("introspect answered %d: %s", rec.Code, rec.Body)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("introspect answered Cache-Control %q, want no-store", cc)
		}
		m := decode(t, rec)
		if m["active"] != true {
			if got := rec.Body.String(); got != "{\"active\":false}\n" {
				t.Errorf("an inactive answer is exactly {\"active\":false}, got %q", got)
			}
			return "inactive"
		}
		return token.Valid
	case "verify":
		rec := w.verify(server.VerifyRequest{Token: w.value(label), Scopes: scopes, SourceIP: src}, request{auth: w.bearer("caller")})
		if rec.Code != http.StatusOK {
			t.Fatalf("verify answered %d: %s", rec.Code, rec.Body)
		}
		m := decode(t, rec)
		code, _ := m["code"].(string)
		if valid := m["valid"] == true; valid != (code == string(token.Valid)) {
			t.Errorf("verify answered valid %v with code %q", valid, code)
		}
		return token.Code(code)
	}
	peer := src
	if peer == "" {
		peer = "127.0.0.1"
	}
	rec := w.authz(scopes, request{peer: peer, auth: w.bearer(label)})
	code := token.Code(rec.Header().Get(server.HeaderCode))
	wantStatus := map[token.Code]int{
		token.Valid: http.StatusOK, server.Unavailable: http.StatusServiceUnavailable,
		token.InsufficientScope: http.StatusForbidden, server.IPDenied: http.StatusForbidden, server.RateLimited: http.StatusForbidden,
	}[code]
	if wantStatus == 0 {
		wantStatus = http.StatusUnauthorized
	}
	if rec.Code != wantStatus {
		t.Errorf("authz answered %d with code %q, want %d", rec.Code, code, wantStatus)
	}
	challenge := rec.Header().Get("WWW-Authenticate")
	switch wantStatus {
	case http.StatusUnauthorized:
		if challenge != `Bearer realm="tokenward", error="invalid_token"` {
			t.Errorf("authz 401 for %q challenges %q", code, challenge)
		}
	case http.StatusForbidden:
		if !strings.HasPrefix(challenge, `Bearer realm="tokenward", error="insufficient_scope"`) {
			t.Errorf("authz 403 for %q challenges %q", code, challenge)
		}
		if ra := rec.Header().Get("Retry-After"); (code == server.RateLimited) != (ra != "") {
			t.Errorf("authz 403 for %q has Retry-After %q", code, ra)
		}
	}
	return code
}

// TestEndpointsAgree checks every endpoint against the same tokens: they
// share one verification, so each answers the same outcome in its own form.
func TestEndpointsAgree(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		label  string
		scopes []string
		src    string
		setup  func(*world)
		before int // uses of the token before the one checked
		want   token.Code
	}{
		{name: "valid", label: "billing", scopes: []string{"billing:read"}, want: token.Valid},
		{name: "valid with a wildcard-free scope list", label: "billing", scopes: []string{"billing:read", "billing:write"}, want: token.Valid},
		{name: "wrong scope", label: "billing", scopes: []string{"billing:admin"}, want: token.InsufficientScope},
		{name: "malformed", label: "tw_nope", want: token.Malformed},
		{name: "malformed checksum", label: "tw_000000000000000000000000000000000000000000000000", want: token.Malformed},
		{name: "unknown", label: mustGenerate(t), want: token.NotFound},
		{name: "wrong secret of a known id", label: "wrong-secret", want: token.NotFound},
		{name: "revoked", label: "revoked", want: token.Revoked},
		{name: "expired", label: "expired", want: token.Expired},
		{name: "destroyed token", label: "retired", want: token.Revoked},
		{name: "previous inside the overlap", label: "billing-prev", scopes: []string{"billing:read"}, want: token.Valid},
		{name: "previous after the overlap", label: "billing-prev", setup: func(w *world) { w.clock.Advance(time.Hour) }, want: token.Expired},
		{name: "pending", label: "billing-pending", want: token.Valid},
		{name: "allowed network", label: "netonly", src: allowedIP, want: token.Valid},
		{name: "allowed IPv6 network", label: "netonly", src: "2001:db8::5", want: token.Valid},
		{name: "denied network", label: "netonly", src: deniedIP, want: server.IPDenied},
		{name: "rate limit not reached", label: "limited", before: 1, want: token.Valid},
		{name: "rate limited", label: "limited", before: 2, want: server.RateLimited},
		{name: "rate limit refilled", label: "limited", before: 2, setup: func(w *world) { w.clock.Advance(30 * time.Second) }, want: token.Valid},
		{name: "stale snapshot", label: "billing", setup: func(w *world) { w.src.fail(server.ErrStale) }, want: server.Unavailable},
		{name: "no snapshot yet", label: "billing", setup: func(w *world) { w.src.fail(server.ErrNotLoaded) }, want: server.Unavailable},
	}
	for _, tc := range cases {
		for _, ep := range endpoints {
			t.Run(tc.name+"/"+ep, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t)
				w.values["wrong-secret"] = wrongSecret(t, w.values["billing"])
				if ep == "authz" && tc.label == "netonly" && tc.src == "" {
					t.Skip("authz always has a peer address")
				}
				for range tc.before {
					w.ask(t, ep, tc.label, tc.scopes, tc.src)
				}
				if tc.setup != nil {
					tc.setup(w)
				}
				want := tc.want
				if ep == "introspect" {
					// Introspection requires no scope: it reports them.
					if want == token.InsufficientScope {
						want = token.Valid
					}
					if want != token.Valid {
						want = "inactive"
					}
				}
				scopes := tc.scopes
				if ep == "introspect" {
					scopes = nil
				}
				if got := w.ask(t, ep, tc.label, scopes, tc.src); got != want {
					t.Errorf("%s answered %q, want %q", ep, got, want)
				}
			})
		}
	}
}

// TestUnknownSourceFailsClosed checks that a token with allowed networks is
// refused when the address it was presented from is not known: introspection
// and verify without source_ip (the caller's own address is not the
// presenter's), a trusted proxy that forwards garbage.
func TestUnknownSourceFailsClosed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, ep := range []string{"introspect", "verify"} {
		if got := w.ask(t, ep, "netonly", nil, ""); got != server.IPDenied && got != "inactive" {
			t.Errorf("%s without source_ip answered %q for a token with allowed networks", ep, got)
		}
		if got := w.ask(t, ep, "billing", nil, ""); got != token.Valid {
			t.Errorf("%s without source_ip answered %q for a token without allowed networks", ep, got)
		}
	}
	rec := w.authz(nil, request{peer: trustedProxy, headers: map[string]string{"X-Forwarded-For": "not-an-address"}, auth: w.bearer("netonly")})
	if got := rec.Header().Get(server.HeaderCode); got != string(server.IPDenied) {
		t.Errorf("authz through a trusted proxy forwarding garbage answered %q", got)
	}
}

// TestForwardedAddresses checks whose address authz checks a token's
// allowed networks against.
func TestForwardedAddresses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		peer    string
		headers map[string]string
		want    token.Code
	}{
		{"direct, allowed", allowedIP, nil, token.Valid},
		{"direct, denied", deniedIP, nil, server.IPDenied},
		{"trusted proxy forwards an allowed X-Forwarded-For", trustedProxy, map[string]string{"X-Forwarded-For": allowedIP}, token.Valid},
		{"trusted proxy forwards a denied X-Forwarded-For", trustedProxy, map[string]string{"X-Forwarded-For": deniedIP}, server.IPDenied},
		{"trusted proxies are skipped from the right", trustedProxy, map[string]string{"X-Forwarded-For": allowedIP + ", 192.0.2.11"}, token.Valid},
		{"a client-written hop left of the first untrusted one is ignored", trustedProxy, map[string]string{"X-Forwarded-For": allowedIP + ", " + deniedIP}, server.IPDenied},
		{"trusted proxy forwards X-Real-IP", trustedProxy, map[string]string{"X-Real-IP": allowedIP}, token.Valid},
		{"trusted proxy forwards a denied X-Real-IP", trustedProxy, map[string]string{"X-Real-IP": deniedIP}, server.IPDenied},
		{"X-Forwarded-For with a port", trustedProxy, map[string]string{"X-Forwarded-For": allowedIP + ":5555"}, token.Valid},
		{"X-Forwarded-For, bracketed IPv6", trustedProxy, map[string]string{"X-Forwarded-For": "[2001:db8::7]"}, token.Valid},
		{"X-Forwarded-For, IPv6 with a port", trustedProxy, map[string]string{"X-Forwarded-For": "[2001:db8::7]:443"}, token.Valid},
		// The order the README tells gateways to rely on: a gateway must
		// replace X-Forwarded-For, not only set X-Real-IP.
		{"X-Forwarded-For is read before X-Real-IP", trustedProxy, map[string]string{"X-Forwarded-For": allowedIP, "X-Real-IP": deniedIP}, token.Valid},
		{"an untrusted forwarder's X-Forwarded-For is ignored", untrusted, map[string]string{"X-Forwarded-For": allowedIP}, server.IPDenied},
		{"an untrusted forwarder's X-Real-IP is ignored", untrusted, map[string]string{"X-Real-IP": allowedIP}, server.IPDenied},
		{"an allowed peer's forged X-Forwarded-For is ignored", allowedIP, map[string]string{"X-Forwarded-For": deniedIP}, token.Valid},
		{"a trusted proxy forwarding nothing is the client", trustedProxy, nil, server.IPDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			rec := w.authz(nil, request{peer: tc.peer, headers: tc.headers, auth: w.bearer("netonly")})
			if got := token.Code(rec.Header().Get(server.HeaderCode)); got != tc.want {
				t.Errorf("authz answered %d %q, want %q", rec.Code, got, tc.want)
			}
		})
	}
}

func mustGenerate(t *testing.T) string {
	t.Helper()
	m, err := token.Generate(strings.NewReader(strings.Repeat("unknown token bytes, read as randomness ", 20)))
	if err != nil {
		t.Fatal(err)
	}
	return m.Value
}

// wrongSecret is value with another secret (and a valid checksum): the id
// of a known version with a secret that is not its own.
func wrongSecret(t *testing.T, value string) string {
	t.Helper()
	m, err := token.Generate(strings.NewReader(strings.Repeat("another secret ", 40)))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := token.Parse(value)
	forged := token.Prefix + p.ID + m.Value[len(token.Prefix)+token.IDLength:len(m.Value)-token.ChecksumLength]
	return forged + checksum(t, forged)
}

// checksum is the checksum part of a token whose other parts are body, as
// token.Generate computes it.
func checksum(t *testing.T, body string) string {
	t.Helper()
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	crc := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, token.ChecksumLength)
	for i := token.ChecksumLength - 1; i >= 0; i-- {
		out[i] = alphabet[crc%62]
		crc /= 62
	}
	if _, err := token.Parse(body + string(out)); err != nil {
		t.Fatalf("the forged token does not parse: %v", err)
	}
	return string(out)
}

// TestRateLimitSurvivesReload checks that a new snapshot of the same
// tokens does not reset their counts.
func TestRateLimitSurvivesReload(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for range 2 {
		if got := w.ask(t, "verify", "limited", nil, ""); got != token.Valid {
			t.Fatalf("a use within the limit answered %q", got)
		}
	}
	w.src.set(server.NewSnapshot(8, w.clock.Now(), w.entries))
	if got := w.ask(t, "authz", "limited", nil, ""); got != server.RateLimited {
		t.Errorf("after a reload the third use answered %q, want rate_limited", got)
	}
}

// TestRepeatedXRealIPFailsClosed: X-Real-IP names one address; a request
// with several carries one a client wrote, which a gateway added to rather
// than replaced, so the address is unknown and a restricted token refused.
func TestRepeatedXRealIPFailsClosed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := httptest.NewRequest(http.MethodGet, "/v1/authz", nil)
	request{peer: trustedProxy, auth: w.bearer("netonly")}.apply(r)
	r.Header.Add("X-Real-IP", allowedIP) // the client's own
	r.Header.Add("X-Real-IP", deniedIP)  // the gateway's
	rec := w.do(r)
	if got := token.Code(rec.Header().Get(server.HeaderCode)); got != server.IPDenied {
		t.Errorf("two X-Real-IP headers answered %d %q, want ip_denied", rec.Code, got)
	}
}

// TestCallerIsNotRateLimited: a caller's authentication is not a use of its
// token; only the tokens being verified count against their rate limits,
// so a gateway's own token cannot starve every check it makes.
func TestCallerIsNotRateLimited(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, e := range w.entries {
		if e.TokenName == "caller" {
			e.Token.RateLimit = store.RateLimit{Requests: 1, Per: time.Hour}
		}
	}
	w.src.set(server.NewSnapshot(8, w.clock.Now(), w.entries))
	for i := range 3 {
		if got := w.ask(t, "verify", "billing", nil, ""); got != token.Valid {
			t.Fatalf("check %d by a caller whose token allows 1 use an hour answered %q, want valid", i+1, got)
		}
	}
	if got := w.ask(t, "verify", "caller", nil, ""); got != token.Valid {
		t.Errorf("the caller's own token, verified once, answered %q", got)
	}
	if got := w.ask(t, "verify", "caller", nil, ""); got != server.RateLimited {
		t.Errorf("the caller's own token, verified twice, answered %q, want rate_limited", got)
	}
}
