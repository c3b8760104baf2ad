package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// BenchmarkEndpoints measures one valid verification through each
// endpoint's handler, without the network: request parsing, caller
// authentication, verification and the answer.
func BenchmarkEndpoints(b *testing.B) {
	w := newWorld(b)
	// As tokenward serve runs: logging at info, so no line per request.
	h := server.New(w.src, server.WithServerClock(w.clock.Now)).Handler()
	introspect := url.Values{"token": {w.value("billing")}}.Encode()
	verify := `{"token":"` + w.value("billing") + `","scopes":["billing:read"]}`
	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"introspect", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", strings.NewReader(introspect))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth("caller", w.value("caller"))
			return r
		}},
		{"verify", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/v1/verify", bytes.NewReader([]byte(verify)))
			r.Header.Set("Authorization", "Bearer "+w.value("caller"))
			return r
		}},
		{"authz", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/v1/authz?scope=billing:read", nil)
			r.Header.Set("Authorization", "Bearer "+w.value("billing"))
			r.RemoteAddr = "127.0.0.1:40000"
			return r
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, tc.req())
				if rec.Code != http.StatusOK || rec.Header().Get(server.HeaderCode) == "rate_limited" {
					b.Fatalf("answered %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
