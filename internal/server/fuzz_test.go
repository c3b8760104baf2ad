package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// serveFuzz sends one request and checks what every answer must be: no
// 5xx, JSON, and for introspection's 200 either active or exactly
// {"active":false}.
func serveFuzz(t *testing.T, w *world, path, ctype, body string, auth func(*http.Request)) {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", ctype)
	r.RemoteAddr = "127.0.0.1:40000"
	auth(r)
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, r)
	switch rec.Code {
	case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
	default:
		t.Fatalf("%s answered %d to %q: %s", path, rec.Code, body, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s answered %d with no JSON object to %q: %q", path, rec.Code, body, rec.Body)
	}
	if path == "/oauth2/introspect" && rec.Code == http.StatusOK && m["active"] != true && rec.Body.String() != "{\"active\":false}\n" {
		t.Fatalf("an inactive answer with more than active: %q", rec.Body)
	}
	if path == "/v1/verify" && rec.Code == http.StatusOK && m["code"] == "" {
		t.Fatalf("a verify answer without a code: %q", rec.Body)
	}
}

func FuzzIntrospectForm(f *testing.F) {
	w := newWorld(f)
	for _, seed := range []string{
		url.Values{"token": {w.value("billing")}}.Encode(),
		url.Values{"token": {w.value("billing")}, "source_ip": {allowedIP}, "token_type_hint": {"access_token"}}.Encode(),
		url.Values{"token": {w.value("netonly")}, "source_ip": {"2001:db8::1%eth0"}}.Encode(),
		url.Values{"token": {w.value("caller")}, "client_id": {"caller"}, "client_secret": {w.value("caller")}}.Encode(),
		"token=tw_%00%ff&token=x",
		"token=" + strings.Repeat("%41", 70000),
		"=&&==;%",
		"",
	} {
		f.Add(seed)
	}
	basic := w.basic("caller", "caller")
	f.Fuzz(func(t *testing.T, body string) {
		serveFuzz(t, w, "/oauth2/introspect", "application/x-www-form-urlencoded", body, basic)
		// Without a Basic header, the body's client_id and client_secret
		// are the caller's authentication.
		serveFuzz(t, w, "/oauth2/introspect", "application/x-www-form-urlencoded", body, func(*http.Request) {})
	})
}

func FuzzVerifyJSON(f *testing.F) {
	w := newWorld(f)
	for _, seed := range []string{
		`{"token":"` + w.value("billing") + `","scopes":["billing:read"],"source_ip":"203.0.113.7"}`,
		`{"token":"` + w.value("limited") + `"}`,
		`{"token":"` + w.value("netonly") + `","source_ip":"::ffff:203.0.113.7"}`,
		`{"token":"tw_\u0000","scopes":[null,""]}`,
		`{"token":1e999}`,
		`{"token":"a","token":"b"}`,
		`[{"token":"a"}]`,
		`{"token":"` + strings.Repeat("x", 70000) + `"}`,
		`null`,
		``,
	} {
		f.Add(seed)
	}
	bearer := w.bearer("caller")
	f.Fuzz(func(t *testing.T, body string) {
		serveFuzz(t, w, "/v1/verify", "application/json", body, bearer)
	})
}
