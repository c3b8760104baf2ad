package server_test

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// TestCallerAuthentication checks who may introspect and verify: a token
// that grants tokenward:introspect, presented one of the three ways, from
// an address its own allowed networks admit.
func TestCallerAuthentication(t *testing.T) {
	t.Parallel()
	basicChallenge := `Basic realm="tokenward", charset="UTF-8"`
	cases := []struct {
		name       string
		q          func(w *world) request
		form       url.Values // client_secret_post fields (introspection only)
		onlyFor    string     // "introspect" when the case is about the form
		wantStatus int
		challenges []string // WWW-Authenticate values, in order
	}{
		{name: "basic", q: func(w *world) request { return request{auth: w.basic("caller", "caller")} }, wantStatus: 200},
		{name: "bearer", q: func(w *world) request { return request{auth: w.bearer("caller")} }, wantStatus: 200},
		{name: "client_secret_post", q: func(w *world) request { return request{} }, onlyFor: "introspect",
			form: url.Values{"client_id": {"caller"}, "client_secret": {"caller"}}, wantStatus: 200},
		{name: "no authentication", q: func(w *world) request { return request{} }, wantStatus: 401,
			challenges: []string{basicChallenge, `Bearer realm="tokenward"`}},
		{name: "basic with another token's name", q: func(w *world) request { return request{auth: w.basic("billing", "caller")} },
			wantStatus: 401, challenges: []string{basicChallenge}},
		{name: "basic with a wrong value", q: func(w *world) request { return request{auth: w.basic("caller", "billing")} },
			wantStatus: 401, challenges: []string{basicChallenge}},
		{name: "basic without tokenward:introspect", q: func(w *world) request { return request{auth: w.basic("caller-noscope", "caller-noscope")} },
			wantStatus: 401, challenges: []string{basicChallenge}},
		{name: "client_secret_post with another token's name", q: func(w *world) request { return request{} }, onlyFor: "introspect",
			form: url.Values{"client_id": {"billing"}, "client_secret": {"caller"}}, wantStatus: 401, challenges: []string{basicChallenge}},
		{name: "bearer without tokenward:introspect", q: func(w *world) request { return request{auth: w.bearer("caller-noscope")} }, wantStatus: 401,
			challenges: []string{`Bearer realm="tokenward", error="insufficient_scope", scope="tokenward:introspect"`}},
		{name: "bearer revoked", q: func(w *world) request { return request{auth: w.bearer("caller-revoked")} }, wantStatus: 401,
			challenges: []string{`Bearer realm="tokenward", error="invalid_token"`}},
		{name: "bearer malformed", q: func(w *world) request { return request{auth: w.bearer("tw_garbage")} }, wantStatus: 401,
			challenges: []string{`Bearer realm="tokenward", error="invalid_token"`}},
		{name: "unknown scheme", q: func(w *world) request {
			return request{headers: map[string]string{"Authorization": "Digest abc"}}
		}, wantStatus: 401, challenges: []string{basicChallenge, `Bearer realm="tokenward"`}},
		{name: "basic with an empty client_id", q: func(w *world) request { return request{auth: w.basic("", "caller")} },
			wantStatus: 401, challenges: []string{basicChallenge}},
		{name: "basic and bearer at once", q: func(w *world) request {
			return request{auth: func(r *http.Request) {
				r.SetBasicAuth("caller", w.value("caller"))
				r.Header.Add("Authorization", "Bearer "+w.value("caller"))
			}}
		}, wantStatus: 400},
		{name: "basic and client_secret_post at once", q: func(w *world) request { return request{auth: w.basic("caller", "caller")} }, onlyFor: "introspect",
			form: url.Values{"client_id": {"caller"}, "client_secret": {"caller"}}, wantStatus: 400},
		{name: "caller from its allowed network", q: func(w *world) request {
			return request{peer: allowedIP, auth: w.bearer("callernet")}
		}, wantStatus: 200},
		{name: "caller from outside its allowed networks", q: func(w *world) request {
			return request{peer: deniedIP, auth: w.bearer("callernet")}
		}, wantStatus: 401, challenges: []string{`Bearer realm="tokenward", error="invalid_token"`}},
		{name: "caller through a trusted proxy from its allowed network", q: func(w *world) request {
			return request{peer: trustedProxy, headers: map[string]string{"X-Forwarded-For": allowedIP}, auth: w.bearer("callernet")}
		}, wantStatus: 200},
		{name: "caller behind an untrusted forwarder", q: func(w *world) request {
			return request{peer: untrusted, headers: map[string]string{"X-Forwarded-For": allowedIP}, auth: w.bearer("callernet")}
		}, wantStatus: 401, challenges: []string{`Bearer realm="tokenward", error="invalid_token"`}},
	}
	for _, tc := range cases {
		for _, ep := range []string{"introspect", "verify"} {
			if tc.onlyFor != "" && tc.onlyFor != ep {
				continue
			}
			t.Run(tc.name+"/"+ep, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t)
				q := tc.q(w)
				var rec interface {
					Result() *http.Response
				}
				switch ep {
				case "introspect":
					form := url.Values{"token": {w.value("billing")}}
					for k, v := range tc.form {
						for _, x := range v {
							form.Add(k, w.value(x))
						}
					}
					// client_id is a name, not a label's value.
					if id, ok := tc.form["client_id"]; ok {
						form["client_id"] = id
					}
					rec = w.introspect(form, q)
				default:
					rec = w.verify(server.VerifyRequest{Token: w.value("billing")}, q)
				}
				resp := rec.Result()
				if resp.StatusCode != tc.wantStatus {
					t.Fatalf("answered %d, want %d", resp.StatusCode, tc.wantStatus)
				}
				if got := resp.Header.Values("WWW-Authenticate"); !slices.Equal(got, tc.challenges) {
					t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenges)
				}
				if tc.wantStatus != 200 {
					body, _ := io.ReadAll(resp.Body)
					want := `"error":"invalid_client"`
					if tc.wantStatus == 400 {
						want = `"error":"invalid_request"`
					}
					if !strings.Contains(string(body), want) {
						t.Errorf("the body %s lacks %s", body, want)
					}
				}
			})
		}
	}
}
