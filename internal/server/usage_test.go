package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// captureSink keeps every usage event it is handed.
type captureSink struct {
	mu     sync.Mutex
	events []store.UsageEvent
}

func (c *captureSink) Record(ev store.UsageEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

// take returns the events recorded since the last take.
func (c *captureSink) take() []store.UsageEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	evs := c.events
	c.events = nil
	return evs
}

// TestUsageEvents checks the event of each kind of request through each
// endpoint: who, what, from where and the outcome, and never a value.
func TestUsageEvents(t *testing.T) {
	t.Parallel()
	sink := &captureSink{}
	w := newWorld(t, server.WithEventSinks(sink), server.WithInstance("i-1"))
	id := func(label string) string { p, _ := token.Parse(w.value(label)); return p.ID }
	forged := wrongSecret(t, w.value("billing"))
	base := func(ev store.UsageEvent) store.UsageEvent { ev.At, ev.Instance = w.clock.Now(), "i-1"; return ev }
	billing := func(ev store.UsageEvent) store.UsageEvent {
		ev.TokenID, ev.TokenName, ev.VersionID, ev.Fingerprint = "id-billing", "billing", id("billing"), token.Fingerprint(w.value("billing"))
		return base(ev)
	}
	cases := []struct {
		name string
		do   func() *httptest.ResponseRecorder
		want store.UsageEvent
	}{
		{"verify valid", func() *httptest.ResponseRecorder {
			return w.verify(server.VerifyRequest{Token: w.value("billing"), Scopes: []string{"billing:read"}, SourceIP: allowedIP},
				request{auth: w.bearer("caller"), headers: map[string]string{"User-Agent": "billing-api/1.2"}})
		}, billing(store.UsageEvent{Code: "valid", Endpoint: "verify", SourceIP: allowedIP, UserAgent: "billing-api/1.2",
			ScopesRequired: []string{"billing:read"}, Caller: "caller"})},
		{"introspect with a forged secret names the token the id belongs to", func() *httptest.ResponseRecorder {
			return w.introspect(url.Values{"token": {forged}}, request{auth: w.basic("caller", "caller")})
		}, base(store.UsageEvent{TokenID: "id-billing", TokenName: "billing", VersionID: id("billing"),
			Fingerprint: token.Fingerprint(forged), Code: "not_found", Endpoint: "introspect", Caller: "caller"})},
		{"authz insufficient scope keeps the gateway's request, its path without the query", func() *httptest.ResponseRecorder {
			return w.authz([]string{"admin:write"}, request{peer: allowedIP, auth: w.bearer("billing"),
				headers: map[string]string{"X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/api/x?key=" + w.value("netonly")}})
		}, billing(store.UsageEvent{Code: "insufficient_scope", Endpoint: "authz", SourceIP: allowedIP, Method: "DELETE",
			Path: "/api/x", ScopesRequired: []string{"admin:write"}})},
		{"authz malformed token: no version, no fingerprint", func() *httptest.ResponseRecorder {
			return w.authz(nil, request{peer: deniedIP, auth: w.bearer("tw_nope")})
		}, base(store.UsageEvent{Code: "malformed", Endpoint: "authz", SourceIP: deniedIP})},
		{"verify with a refused caller: no token, the sender's address", func() *httptest.ResponseRecorder {
			return w.verify(server.VerifyRequest{Token: w.value("billing")}, request{peer: untrusted, auth: w.bearer("caller-noscope")})
		}, base(store.UsageEvent{Code: "invalid_client", Endpoint: "verify", SourceIP: untrusted})},
		{"verify bad request from an accepted caller", func() *httptest.ResponseRecorder {
			return w.verify(`{"token":`, request{peer: untrusted, auth: w.bearer("caller")})
		}, base(store.UsageEvent{Code: "invalid_request", Endpoint: "verify", SourceIP: untrusted, Caller: "caller"})},
		{"introspect of an unknown version from a given source", func() *httptest.ResponseRecorder {
			return w.introspect(url.Values{"token": {wrongSecret(t, forgedID(t))}, "source_ip": {deniedIP}}, request{auth: w.basic("caller", "caller")})
		}, store.UsageEvent{}}, // checked below: no token named
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.do()
			evs := sink.take()
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(evs), evs)
			}
			got := evs[0]
			if c.want.Endpoint == "" {
				if got.TokenID != "" || got.TokenName != "" || got.VersionID == "" || got.Code != "not_found" || got.SourceIP != deniedIP {
					t.Errorf("an unknown version's event: %+v", got)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("event:\n got %+v\nwant %+v", got, c.want)
			}
			b, _ := json.Marshal(got)
			for label, v := range w.values {
				if strings.Contains(string(b), v[len(token.Prefix)+token.IDLength:len(v)-token.ChecksumLength]) {
					t.Errorf("the event holds the secret of %s: %s", label, b)
				}
			}
			if strings.Contains(string(b), forged[len(token.Prefix)+token.IDLength:]) {
				t.Errorf("the event holds the forged value: %s", b)
			}
		})
	}
}

// forgedID is a well-formed value of a version id no snapshot holds.
func forgedID(t *testing.T) string {
	body := token.Prefix + "ZZZZZZZZZZZZ" + strings.Repeat("a", token.SecretLength)
	return body + checksum(t, body)
}

// TestUsageEventUserAgent checks that a user agent is bounded, valid UTF-8
// (PostgreSQL refuses anything else) and redacted.
func TestUsageEventUserAgent(t *testing.T) {
	t.Parallel()
	sink := &captureSink{}
	w := newWorld(t, server.WithEventSinks(sink))
	cases := []struct{ name, ua string }{
		{"long", strings.Repeat("é", 300)},
		{"invalid UTF-8 and NUL", "agent\xff\x00/1"},
		{"a value in it", "curl " + w.value("billing")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.authz(nil, request{auth: w.bearer("billing"), headers: map[string]string{"User-Agent": c.ua}})
			evs := sink.take()
			if len(evs) != 1 {
				t.Fatalf("%d events", len(evs))
			}
			ua := evs[0].UserAgent
			if len(ua) > 256 || !utf8.ValidString(ua) || strings.ContainsRune(ua, 0) || strings.Contains(ua, w.value("billing")) {
				t.Errorf("user agent kept as %q (%d bytes)", ua, len(ua))
			}
			if ua == "" {
				t.Error("the user agent was lost")
			}
		})
	}
}

// TestReadyzUsageLog checks that /readyz says what the usage log does and
// stays 200 when it is off.
func TestReadyzUsageLog(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.WithUsageLogStatus(func() string { return "off (the store is read-only)" }))
	rec := w.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("readyz answered %d", rec.Code)
	}
	if m := decode(t, rec); m["usage_log"] != "off (the store is read-only)" {
		t.Errorf("readyz body: %s", rec.Body)
	}
}
