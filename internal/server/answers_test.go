package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestIntrospectionAnswer checks every field of an active answer (RFC 7662
// section 2.2) and that iss is left out without an issuer.
func TestIntrospectionAnswer(t *testing.T) {
	t.Parallel()
	for _, issuer := range []string{"https://tokenward.example", ""} {
		t.Run("issuer "+issuer, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, server.WithIssuer(issuer))
			p, _ := token.Parse(w.value("billing-prev"))
			rec := w.introspect(url.Values{"token": {w.value("billing-prev")}}, request{auth: w.basic("caller", "caller")})
			got := decode(t, rec)
			want := map[string]any{
				"active": true, "scope": "billing:read billing:write", "client_id": "billing", "sub": "team-billing",
				"token_type": "Bearer", "exp": float64(clocktest.Start.Add(time.Hour).Unix()),
				"iat": float64(clocktest.Start.Add(-time.Hour).Unix()), "jti": p.ID,
			}
			if issuer != "" {
				want["iss"] = issuer
			}
			if len(got) != len(want) {
				t.Errorf("answer %v, want the fields %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s is %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// TestVerifyAnswer checks the fields of /v1/verify's answer.
func TestVerifyAnswer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cases := []struct {
		label string
		want  map[string]any
	}{
		{"billing-prev", map[string]any{"valid": true, "code": "valid", "token": "billing", "owner": "team-billing", "state": "previous",
			"expires_at": "2026-11-27T10:00:00Z", "overlap_ends_at": "2026-11-27T10:00:00Z"}},
		{"billing-pending", map[string]any{"valid": true, "code": "valid", "token": "billing", "state": "pending", "expires_at": "2026-11-29T09:00:00Z"}},
		{"revoked", map[string]any{"valid": false, "code": "revoked", "token": "revoked", "state": "revoked"}},
		{"tw_short", map[string]any{"valid": false, "code": "malformed"}},
	}
	for _, tc := range cases {
		got := decode(t, w.verify(server.VerifyRequest{Token: w.value(tc.label)}, request{auth: w.bearer("caller")}))
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s is %v, want %v (%v)", tc.label, k, got[k], v, got)
			}
		}
		if _, ok := got["scopes"].([]any); !ok {
			t.Errorf("%s: scopes is %v, want a list", tc.label, got["scopes"])
		}
		if tc.want["code"] == "malformed" && (got["token"] != nil || got["version"] != nil) {
			t.Errorf("%s: a malformed value names a token: %v", tc.label, got)
		}
	}
	// A rate-limited use says when to come back.
	for range 2 {
		w.verify(server.VerifyRequest{Token: w.value("limited")}, request{auth: w.bearer("caller")})
	}
	got := decode(t, w.verify(server.VerifyRequest{Token: w.value("limited")}, request{auth: w.bearer("caller")}))
	if got["code"] != "rate_limited" || got["retry_after"] != float64(30) {
		t.Errorf("the third use of 2 a minute answered %v, want rate_limited with retry_after 30", got)
	}
}

// TestAuthzAnswer checks forward auth's headers and its callers.
func TestAuthzAnswer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rec := w.authz([]string{"billing:read"}, request{auth: w.bearer("billing"),
		headers: map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/invoices?access_token=" + w.value("billing")}})
	h := rec.Header()
	if rec.Code != 200 || h.Get(server.HeaderToken) != "billing" || h.Get(server.HeaderOwner) != "team-billing" ||
		h.Get(server.HeaderScopes) != "billing:read billing:write" || h.Get(server.HeaderCode) != "valid" {
		t.Errorf("allowed: %d %v", rec.Code, h)
	}
	rec = w.authz([]string{"billing:admin", "billing:read"}, request{auth: w.bearer("billing")})
	if c := rec.Header().Get("WWW-Authenticate"); rec.Code != 403 || c != `Bearer realm="tokenward", error="insufficient_scope", scope="billing:admin billing:read"` {
		t.Errorf("wrong scope: %d %q", rec.Code, c)
	}
	for _, q := range []request{{}, {headers: map[string]string{"Authorization": "Basic Zm9vOmJhcg=="}}, {headers: map[string]string{"Authorization": "Bearer "}}} {
		rec = w.authz(nil, q)
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="tokenward"` || rec.Header().Get(server.HeaderCode) != "missing_token" {
			t.Errorf("no token (%v): %d %v", q.headers, rec.Code, rec.Header())
		}
	}
	// A rate limit says when to come back.
	for range 2 {
		w.authz(nil, request{auth: w.bearer("limited")})
	}
	rec = w.authz(nil, request{auth: w.bearer("limited")})
	if rec.Code != 403 || rec.Header().Get("Retry-After") != "30" || rec.Header().Get(server.HeaderCode) != "rate_limited" {
		t.Errorf("rate limited: %d %v, want 403 with Retry-After 30", rec.Code, rec.Header())
	}
	// Scopes may come space separated in one parameter too.
	if rec = w.authz([]string{"billing:read billing:write"}, request{auth: w.bearer("billing")}); rec.Code != 200 {
		t.Errorf("two scopes in one parameter: %d", rec.Code)
	}
	// A stale snapshot fails closed with 503.
	w.src.fail(server.ErrStale)
	if rec = w.authz(nil, request{auth: w.bearer("billing")}); rec.Code != 503 || rec.Header().Get(server.HeaderCode) != "unavailable" {
		t.Errorf("stale: %d %v", rec.Code, rec.Header())
	}
}

// TestAuthzFrom checks that only the networks of --authz-from may call
// /v1/authz, loopback by default.
func TestAuthzFrom(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		from []netip.Prefix // nil: the default
		peer string
		want int
	}{
		{"loopback by default", nil, "127.0.0.1", 200},
		{"IPv6 loopback by default", nil, "::1", 200},
		{"elsewhere refused by default", nil, allowedIP, 403},
		{"a trusted proxy is not a caller by default", nil, trustedProxy, 403},
		{"a configured network", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "10.1.2.3", 200},
		{"loopback refused when not configured", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "127.0.0.1", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			opts := []server.Option{server.WithServerClock(w.clock.Now)}
			if tc.from != nil {
				opts = append(opts, server.WithAuthzFrom(tc.from))
			}
			srv := server.New(w.src, opts...)
			r := httptest.NewRequest(http.MethodGet, "/v1/authz", nil)
			request{peer: tc.peer, auth: w.bearer("billing")}.apply(r)
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, r)
			if rec.Code != tc.want {
				t.Errorf("answered %d, want %d", rec.Code, tc.want)
			}
			if rec.Code == 403 && rec.Header().Get(server.HeaderCode) != "caller_denied" {
				t.Errorf("refused caller has code %q", rec.Header().Get(server.HeaderCode))
			}
		})
	}
}

// TestBadRequests checks that malformed requests are 400 (or 413 for a big
// body), never 500, and say what to fix.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("a", server.MaxBodyBytes+1)
	cases := []struct {
		name       string
		endpoint   string
		body       string
		ctype      string
		wantStatus int
		wantText   string
	}{
		{"introspect, not a form", "introspect", `{"token":"x"}`, "application/json", 400, "application/x-www-form-urlencoded"},
		{"introspect, no token", "introspect", "token_type_hint=access_token", "", 400, "token is required"},
		{"introspect, token twice", "introspect", "token=a&token=b", "", 400, "token is given more than once"},
		{"introspect, bad source_ip", "introspect", "token=a&source_ip=nope", "", 400, "source_ip is not an IP address"},
		{"introspect, bad form encoding", "introspect", "token=%zz", "", 400, "not a valid form"},
		{"introspect, big body", "introspect", "token=" + big, "", 413, "64 KiB"},
		{"introspect, a body of exactly 64 KiB", "introspect", "token=" + big[:server.MaxBodyBytes-len("token=")], "", 200, ""},
		{"verify, malformed JSON", "verify", `{"token":`, "", 400, "JSON object"},
		{"verify, not JSON", "verify", `token=abc`, "", 400, "not valid JSON"},
		{"verify, unknown field", "verify", `{"token":"a","scope":["billing:read"]}`, "", 400, `unknown field "scope"`},
		{"verify, trailing data", "verify", `{"token":"a"} {}`, "", 400, "nothing after it"},
		{"verify, no token", "verify", `{"scopes":[]}`, "", 400, `"token" is required`},
		{"verify, token not a string", "verify", `{"token":5}`, "", 400, `"token" must be a string`},
		{"verify, scopes not a list", "verify", `{"token":"a","scopes":"billing:read"}`, "", 400, `"scopes" must be a list of strings`},
		{"verify, an array", "verify", `[]`, "", 400, "must be a JSON object"},
		{"verify, bad source_ip", "verify", `{"token":"a","source_ip":"1.2.3"}`, "", 400, "source_ip is not an IP address"},
		// encoding/json keeps the last of duplicated keys and matches names
		// in any case: a reader of the first key would see other scopes.
		{"verify, scopes twice", "verify", `{"token":"a","scopes":["billing:write"],"scopes":[]}`, "", 400, `"scopes" is given more than once`},
		{"verify, token twice", "verify", `{"token":"a","token":"b"}`, "", 400, `"token" is given more than once`},
		{"verify, a field in another case", "verify", `{"token":"a","Scopes":[]}`, "", 400, `write "scopes"`},
		{"verify, a field twice, once escaped", "verify", `{"token":"a","scopes":["billing:write"],"\u0073copes":[]}`, "", 400, `"scopes" is given more than once`},
		{"verify, a field with a long s", "verify", `{"token":"a","ſcopes":[]}`, "", 400, `write "scopes"`},
		{"verify, big body", "verify", `{"token":"` + big + `"}`, "", 413, "64 KiB"},
		{"verify, big body without a length", "verify", "chunked:" + `{"token":"` + big + `"}`, "", 413, "64 KiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			path, ctype := "/v1/verify", "application/json"
			if tc.endpoint == "introspect" {
				path, ctype = "/oauth2/introspect", "application/x-www-form-urlencoded"
			}
			if tc.ctype != "" {
				ctype = tc.ctype
			}
			body, chunked := strings.CutPrefix(tc.body, "chunked:")
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			if chunked {
				r.ContentLength = -1 // the limit must hold while reading, too
			}
			r.Header.Set("Content-Type", ctype)
			request{auth: w.bearer("caller")}.apply(r)
			rec := w.do(r)
			m := decode(t, rec)
			desc, _ := m["error_description"].(string)
			if tc.wantStatus == 200 && m["active"] != false {
				t.Errorf("a body at the limit answered %v, want inactive", m)
			}
			if rec.Code != tc.wantStatus || !strings.Contains(desc, tc.wantText) {
				t.Errorf("answered %d %s, want %d with %q", rec.Code, rec.Body, tc.wantStatus, tc.wantText)
			}
		})
	}
}

// TestRoutes checks methods and paths outside the API.
func TestRoutes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cases := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/oauth2/introspect", 405},
		{http.MethodGet, "/v1/verify", 405},
		{http.MethodPost, "/v1/authz", 401}, // nginx's subrequest keeps the client's method
		{http.MethodDelete, "/v1/authz", 401},
		{http.MethodGet, "/nope", 404},
		{http.MethodGet, "/healthz", 200},
	}
	for _, tc := range cases {
		rec := w.do(httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("%s %s answered %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}
}

// TestLoggedURIHasNoToken: the original URI a gateway forwards is logged
// with anything shaped like a token replaced by its fingerprint, in the
// forms a client may write it in a URL (the world's log check fails the
// test on any value or secret left).
func TestLoggedURIHasNoToken(t *testing.T) {
	t.Parallel()
	cases := map[string]func(string) string{
		"as it is":                           func(v string) string { return v },
		"with _ percent-encoded":             func(v string) string { return strings.Replace(v, "_", "%5F", 1) },
		"with _ percent-encoded, lower case": func(v string) string { return strings.Replace(v, "_", "%5f", 1) },
	}
	for name, written := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			uri := "/api/invoices?access_token=" + written(w.value("billing"))
			rec := w.authz(nil, request{auth: w.bearer("caller"), headers: map[string]string{"X-Original-Method": "GET", "X-Original-URI": uri}})
			if rec.Code != 200 {
				t.Fatalf("authz answered %d", rec.Code)
			}
			if fp := token.Fingerprint(w.value("billing")); !strings.Contains(w.logs.String(), fp) {
				t.Errorf("the log lacks the URI's token as its fingerprint %s:\n%s", fp, w.logs)
			}
		})
	}
}

// TestAuthzBadQueryFailsClosed: the required scopes come from the gateway's
// auth URI; one that does not parse must not mean that no scope is
// required (url.Values drops a pair it cannot decode).
func TestAuthzBadQueryFailsClosed(t *testing.T) {
	t.Parallel()
	for _, query := range []string{"scope=billing:admin%zz", "scope=billing:read&scope=billing:admin%", "scope=billing:admin;x=1"} {
		t.Run(query, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			r := httptest.NewRequest(http.MethodGet, "/v1/authz?"+query, nil)
			request{auth: w.bearer("billing")}.apply(r)
			rec := w.do(r)
			if rec.Code == http.StatusOK {
				t.Fatalf("authz with the query %q allowed the request: %v", query, rec.Header())
			}
			if rec.Code != http.StatusBadRequest || rec.Header().Get(server.HeaderCode) != "invalid_request" {
				t.Errorf("answered %d %q, want 400 invalid_request", rec.Code, rec.Header().Get(server.HeaderCode))
			}
		})
	}
}
