package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// madeUp is n distinct scope names no token of the world grants.
func madeUp(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("billing:x%d", i)
	}
	return out
}

// TestRequiredScopesRefused: /v1/verify and /v1/authz refuse, with 400
// invalid_request, a list of required scopes longer than
// registry.MaxRequiredScopes or holding a string that is not a scope name.
// The refusal is recorded like any bad request: code invalid_request, no
// token and no required scopes, so made-up scopes never reach the usage
// log nor its daily rollup.
func TestRequiredScopesRefused(t *testing.T) {
	t.Parallel()
	sink := &captureSink{}
	w := newWorld(t, server.WithEventSinks(sink))
	tooMany := fmt.Sprintf("%d scopes are required; a verification requires at most %d", registry.MaxRequiredScopes+1, registry.MaxRequiredScopes)
	cases := []struct {
		name     string
		scopes   []string
		wantText string
	}{
		{"too many", madeUp(registry.MaxRequiredScopes + 1), tooMany},
		{"upper case", []string{"billing:read", "Billing:Read"}, `scope 2, "Billing:Read", is not a scope name`},
		{"no action", []string{"billing"}, `scope 1, "billing", is not a scope name`},
		{"a control character", []string{"billing:read\x01"}, "is not a scope name"},
		{"too long", []string{"billing:" + strings.Repeat("a", registry.MaxNameLength)}, "is not a scope name"},
		{"a token value", []string{w.value("netonly")}, "it looks like a token value"},
	}
	for _, tc := range cases {
		t.Run("verify, "+tc.name, func(t *testing.T) {
			rec := w.verify(server.VerifyRequest{Token: w.value("billing"), Scopes: tc.scopes}, request{auth: w.bearer("caller")})
			checkScopesRefused(t, w, sink, rec, "verify", tc.wantText)
		})
		t.Run("authz, "+tc.name, func(t *testing.T) {
			rec := w.authz(tc.scopes, request{peer: allowedIP, auth: w.bearer("billing")})
			checkScopesRefused(t, w, sink, rec, "authz", tc.wantText)
			if got := rec.Header().Get(server.HeaderCode); got != "invalid_request" {
				t.Errorf("%s is %q, want invalid_request", server.HeaderCode, got)
			}
		})
	}
	// One scope parameter holds a space-separated list: the cap counts
	// the scopes, not the parameters.
	t.Run("authz, too many in one parameter", func(t *testing.T) {
		rec := w.authz([]string{strings.Join(madeUp(registry.MaxRequiredScopes+1), " ")}, request{peer: allowedIP, auth: w.bearer("billing")})
		checkScopesRefused(t, w, sink, rec, "authz", tooMany)
	})
	// At the cap, the request is verified as before.
	t.Run("at the cap", func(t *testing.T) {
		atCap := append(madeUp(registry.MaxRequiredScopes-1), "billing:read")
		if rec := w.verify(server.VerifyRequest{Token: w.value("billing"), Scopes: atCap}, request{auth: w.bearer("caller")}); rec.Code != http.StatusOK || decode(t, rec)["code"] != "insufficient_scope" {
			t.Errorf("verify at the cap answered %d %s, want 200 insufficient_scope", rec.Code, rec.Body)
		}
		if rec := w.authz(atCap, request{peer: allowedIP, auth: w.bearer("billing")}); rec.Code != http.StatusForbidden {
			t.Errorf("authz at the cap answered %d %s, want 403", rec.Code, rec.Body)
		}
		for _, ev := range sink.take() {
			if len(ev.ScopesRequired) != registry.MaxRequiredScopes || ev.TokenName != "billing" {
				t.Errorf("event at the cap: %+v", ev)
			}
		}
	})
}

// checkScopesRefused checks a refused list of required scopes: 400
// invalid_request saying what is wrong, never quoting a token value, and
// one event without token or scopes.
func checkScopesRefused(t *testing.T, w *world, sink *captureSink, rec *httptest.ResponseRecorder, endpoint, wantText string) {
	t.Helper()
	m := decode(t, rec)
	desc, _ := m["error_description"].(string)
	if rec.Code != http.StatusBadRequest || m["error"] != "invalid_request" || !strings.Contains(desc, wantText) {
		t.Errorf("answered %d %v, want 400 invalid_request with %q", rec.Code, m, wantText)
	}
	for label, v := range w.values {
		if strings.Contains(desc, v) {
			t.Errorf("the answer quotes the value of %s: %s", label, desc)
		}
	}
	evs := sink.take()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(evs), evs)
	}
	if ev := evs[0]; ev.Code != "invalid_request" || ev.Endpoint != endpoint || ev.TokenID != "" || ev.TokenName != "" || ev.VersionID != "" || len(ev.ScopesRequired) != 0 {
		t.Errorf("event of the refusal: %+v", ev)
	}
}
