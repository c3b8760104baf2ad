package server_test

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Values no answer, log, metric or audit record may hold unless a caller
// with tokenward:config-read-sensitive asked for it.
const (
	secretDefault = "DEFAULT-secret-4f1e"
	secretAlice   = "ALICE-secret-9c2d"
)

const (
	alice = "alice@example.com"
	ops   = "team/ops" // a user id with a "/": %2F in the path
)

func configSettings() []registry.SettingSpec {
	lo, hi := 5.0, 120.0
	return []registry.SettingSpec{
		{Key: "ui.theme", Type: registry.TypeString, Default: json.RawMessage(`"light"`), UserEditable: true,
			Constraints: store.Constraints{AllowedValues: []json.RawMessage{json.RawMessage(`"light"`), json.RawMessage(`"dark"`)}}},
		{Key: "session.timeout_minutes", Type: registry.TypeNumber, Default: json.RawMessage(`30`), UserEditable: true,
			Constraints: store.Constraints{Min: &lo, Max: &hi}},
		{Key: "data.region", Type: registry.TypeString, Default: json.RawMessage(`"eu"`)},
		{Key: "api.secret", Type: registry.TypeString, Default: json.RawMessage(`"` + secretDefault + `"`), Sensitive: true, UserEditable: true},
		{Key: "notify.email", Type: registry.TypeString, Default: json.RawMessage(`"none"`), UserEditable: true},
	}
}

// configCallers are the tokens of the configuration tests.
var configCallers = []struct {
	label, owner string
	state        token.State
	expiresIn    time.Duration
	scopes       []string
}{
	{"reader", "svc", token.StateCurrent, time.Hour, []string{registry.ScopeConfigRead}},
	{"writer", "svc", token.StateCurrent, time.Hour, []string{registry.ScopeConfigWrite}},
	{"readwrite", "svc", token.StateCurrent, time.Hour, []string{registry.ScopeConfigRead, registry.ScopeConfigWrite}},
	{"sensitive-reader", "svc", token.StateCurrent, time.Hour, []string{registry.ScopeConfigRead, registry.ScopeConfigReadSensitive}},
	{"sensitive-writer", "svc", token.StateCurrent, time.Hour, []string{registry.ScopeConfigWrite, registry.ScopeConfigWriteSensitive}},
	{"alice-self", alice, token.StateCurrent, time.Hour, []string{registry.ScopeConfigReadSelf, registry.ScopeConfigWriteSelf}},
	{"ops-self", ops, token.StateCurrent, time.Hour, []string{registry.ScopeConfigReadSelf}},
	{"bob-self", "bob", token.StateCurrent, time.Hour, []string{registry.ScopeConfigReadSelf, registry.ScopeConfigWriteSelf}},
	{"other", "svc", token.StateCurrent, time.Hour, []string{"billing:read"}},
	{"revoked", "svc", token.StateRevoked, time.Hour, []string{registry.ScopeConfigRead}},
	{"expired", "svc", token.StateCurrent, -time.Minute, []string{registry.ScopeConfigRead}},
}

// configWorld is a server whose configuration API reads a fakeConfig, over a
// snapshot of configCallers.
type configWorld struct {
	t      *testing.T
	cfg    *fakeConfig
	src    *fakeSource
	clock  *clocktest.Clock
	srv    *server.Server
	values map[string]string
	infos  map[string]*server.TokenInfo
	byName map[string]*server.Entry
	logs   *lockedBuffer
	prom   *prometheus.Registry
}

func newConfigWorld(t *testing.T, opts ...server.Option) *configWorld {
	t.Helper()
	w := &configWorld{t: t, cfg: newFakeConfig(configSettings()...), src: &fakeSource{}, clock: clocktest.New(),
		values: map[string]string{}, infos: map[string]*server.TokenInfo{}, byName: map[string]*server.Entry{},
		logs: &lockedBuffer{}, prom: prometheus.NewRegistry()}
	w.cfg.managed[alice] = map[string]string{"notify.email": `tokenward_user_config.alice`}
	w.cfg.values[alice] = map[string]json.RawMessage{"api.secret": json.RawMessage(`"` + secretAlice + `"`), "ui.theme": json.RawMessage(`"dark"`)}
	w.cfg.seq, w.cfg.userRev[alice] = 3, 3
	var entries []*server.Entry
	for _, c := range configCallers {
		m, err := token.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w.values[c.label] = m.Value
		info := &server.TokenInfo{ID: "id-" + c.label, Name: c.label, Owner: c.owner}
		w.infos[c.label] = info
		e := &server.Entry{Record: token.Record{VersionID: m.ID, TokenName: c.label, Hash: m.Hash, State: c.state,
			ExpiresAt: w.clock.Now().Add(c.expiresIn), Scopes: c.scopes}, IssuedAt: w.clock.Now(), Token: info}
		w.byName[c.label] = e
		entries = append(entries, e)
	}
	w.src.set(server.NewSnapshot(1, w.clock.Now(), entries))
	logger := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := []server.Option{server.WithServerClock(w.clock.Now), server.WithServerLogger(logger),
		server.WithRegistry(w.prom), server.WithConfigStore(w.cfg), server.WithInsecureConfigAPI(true),
		server.WithRegistryAccess(nil, registry.ServeAccess{Writable: true, Keys: true})}
	w.srv = server.New(w.src, append(all, opts...)...)
	t.Cleanup(w.checkSecrets)
	return w
}

// rescope gives a caller other scopes in a new snapshot, as a Terraform
// apply that changes its role does.
func (w *configWorld) rescope(label string, scopes []string) {
	var entries []*server.Entry
	for name, e := range w.byName {
		if name == label {
			cp := *e
			cp.Scopes = scopes
			w.byName[name] = &cp
			e = &cp
		}
		entries = append(entries, e)
	}
	snap, _ := w.src.Current()
	w.src.set(server.NewSnapshot(snap.Seq()+1, w.clock.Now(), entries))
}

// checkSecrets fails the test if a sensitive value reached the log, the
// metrics or an audit record.
func (w *configWorld) checkSecrets() {
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, localRequest(http.MethodGet, "/metrics"))
	audits, _ := json.Marshal(w.cfg.auditLog())
	for where, text := range map[string]string{"log": w.logs.String(), "metrics": rec.Body.String(), "audit": string(audits)} {
		for _, secret := range []string{secretDefault, secretAlice, "NEW-secret"} {
			if strings.Contains(text, secret) {
				w.t.Errorf("the %s holds a sensitive value:\n%s", where, text)
			}
		}
		for label, v := range w.values {
			if strings.Contains(text, v) {
				w.t.Errorf("the %s holds the token value of %s", where, label)
			}
		}
	}
}

// call sends one request as the caller of label ("" for none).
func (w *configWorld) call(method, path, label, body string, headers ...string) *httptest.ResponseRecorder {
	w.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	r.RemoteAddr = "127.0.0.1:40000"
	if label != "" {
		r.Header.Set("Authorization", "Bearer "+w.values[label])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, r)
	return rec
}

func jsonOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %q", rec.Code, err, rec.Body)
	}
	return m
}

// valueOf is one key of a GET config answer.
func valueOf(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	vals, _ := m["values"].(map[string]any)
	v, _ := vals[key].(map[string]any)
	if v == nil {
		t.Fatalf("the answer has no key %s: %v", key, m)
	}
	return v
}

// TestConfigAccess is every access rule of the configuration API.
func TestConfigAccess(t *testing.T) {
	const aliceCfg = "/v1/users/alice@example.com/config"
	cases := []struct {
		name, method, path, caller, body string
		headers                          []string
		status                           int
		check                            func(t *testing.T, rec *httptest.ResponseRecorder, body map[string]any)
	}{
		{name: "no token", method: "GET", path: aliceCfg, status: 401, check: func(t *testing.T, rec *httptest.ResponseRecorder, _ map[string]any) {
			if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="tokenward"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		}},
		{name: "malformed token", method: "GET", path: aliceCfg, caller: "", headers: []string{"Authorization", "Bearer nope"}, status: 401},
		{name: "revoked caller", method: "GET", path: aliceCfg, caller: "revoked", status: 401, check: wantError("invalid_token", "revoked")},
		{name: "expired caller", method: "GET", path: aliceCfg, caller: "expired", status: 401, check: wantError("invalid_token", "expired")},
		{name: "no config scope", method: "GET", path: aliceCfg, caller: "other", status: 403, check: wantScope(registry.ScopeConfigRead)},
		{name: "reader reads any user", method: "GET", path: aliceCfg, caller: "reader", status: 200, check: func(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any) {
			h := rec.Header()
			if h.Get("ETag") != `"3"` || h.Get("Vary") != "Authorization" || h.Get("Cache-Control") != "private" {
				t.Errorf("headers = %v", h)
			}
			if m["user"] != alice || m["revision"] != 3.0 {
				t.Errorf("user, revision = %v, %v", m["user"], m["revision"])
			}
			theme := valueOf(t, m, "ui.theme")
			if theme["value"] != "dark" || theme["source"] != "user" || theme["sensitive"] != false || theme["managed_by"] != nil {
				t.Errorf("ui.theme = %v", theme)
			}
			if r := valueOf(t, m, "data.region"); r["value"] != "eu" || r["source"] != "enforced" {
				t.Errorf("data.region = %v", r)
			}
			if s := valueOf(t, m, "api.secret"); s["value"] != nil || s["sensitive"] != true {
				t.Errorf("api.secret = %v, want null and sensitive", s)
			}
			if e := valueOf(t, m, "notify.email"); e["managed_by"] != "terraform" {
				t.Errorf("notify.email = %v, want managed_by terraform", e)
			}
		}},
		{name: "a user with no values gets the defaults", method: "GET", path: "/v1/users/carol/config", caller: "reader", status: 200, check: func(t *testing.T, _ *httptest.ResponseRecorder, m map[string]any) {
			if v := valueOf(t, m, "ui.theme"); v["value"] != "light" || v["source"] != "default" {
				t.Errorf("ui.theme = %v", v)
			}
		}},
		{name: "sensitive shown with read-sensitive", method: "GET", path: aliceCfg, caller: "sensitive-reader", status: 200, check: func(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any) {
			if s := valueOf(t, m, "api.secret"); s["value"] != secretAlice {
				t.Errorf("api.secret = %v", s)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "private, no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
		}},
		{name: "self reads own", method: "GET", path: aliceCfg, caller: "alice-self", status: 200},
		{name: "self reads own, escaped", method: "GET", path: "/v1/users/alice%40example.com/config", caller: "alice-self", status: 200},
		{name: "self reads other", method: "GET", path: "/v1/users/bob2/config", caller: "alice-self", status: 403, check: wantScope(registry.ScopeConfigRead)},
		{name: "a user id with a slash", method: "GET", path: "/v1/users/team%2Fops/config", caller: "ops-self", status: 200, check: func(t *testing.T, _ *httptest.ResponseRecorder, m map[string]any) {
			if m["user"] != ops {
				t.Errorf("user = %v, want %s", m["user"], ops)
			}
		}},
		{name: "writer may not read", method: "GET", path: aliceCfg, caller: "writer", status: 403, check: wantScope(registry.ScopeConfigRead)},
		{name: "one key", method: "GET", path: aliceCfg + "/ui.theme", caller: "reader", status: 200, check: func(t *testing.T, _ *httptest.ResponseRecorder, m map[string]any) {
			if m["key"] != "ui.theme" || m["value"] != "dark" || m["revision"] != 3.0 || m["source"] != "user" {
				t.Errorf("answer = %v", m)
			}
		}},
		{name: "one unknown key", method: "GET", path: aliceCfg + "/no.such", caller: "reader", status: 404, check: wantError("unknown_key", "no.such")},
		{name: "one sensitive key hidden", method: "GET", path: aliceCfg + "/api.secret", caller: "reader", status: 200, check: func(t *testing.T, _ *httptest.ResponseRecorder, m map[string]any) {
			if m["value"] != nil || m["sensitive"] != true {
				t.Errorf("answer = %v", m)
			}
		}},
		{name: "one sensitive key shown", method: "GET", path: aliceCfg + "/api.secret", caller: "sensitive-reader", status: 200, check: func(t *testing.T, _ *httptest.ResponseRecorder, m map[string]any) {
			if m["value"] != secretAlice {
				t.Errorf("answer = %v", m)
			}
		}},
		{name: "settings", method: "GET", path: "/v1/settings", caller: "alice-self", status: 200, check: func(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any) {
			list, _ := m["settings"].([]any)
			if len(list) != 5 {
				t.Fatalf("settings = %v", m)
			}
			for _, it := range list {
				s := it.(map[string]any)
				if s["key"] == "api.secret" && s["default"] != nil {
					t.Errorf("a sensitive default is listed: %v", s)
				}
				if s["key"] == "session.timeout_minutes" && (s["default"] != 30.0 || s["user_editable"] != true || s["type"] != "number") {
					t.Errorf("session.timeout_minutes = %v", s)
				}
			}
		}},
		{name: "settings without a read scope", method: "GET", path: "/v1/settings", caller: "writer", status: 403},
		{name: "write any user", method: "PUT", path: "/v1/users/carol/config/ui.theme", caller: "writer", body: `"dark"`, status: 200, check: func(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any) {
			if m["revision"] != 4.0 || rec.Header().Get("ETag") != `"4"` {
				t.Errorf("answer = %v, ETag %q", m, rec.Header().Get("ETag"))
			}
		}},
		{name: "reader may not write", method: "PUT", path: "/v1/users/carol/config/ui.theme", caller: "reader", body: `"dark"`, status: 403, check: wantScope(registry.ScopeConfigWrite)},
		{name: "self writes own", method: "PUT", path: aliceCfg + "/ui.theme", caller: "alice-self", body: `"light"`, status: 200},
		{name: "self writes other", method: "PUT", path: "/v1/users/carol/config/ui.theme", caller: "alice-self", body: `"light"`, status: 403, check: wantScope(registry.ScopeConfigWrite)},
		{name: "not editable", method: "PUT", path: "/v1/users/carol/config/data.region", caller: "writer", body: `"us"`, status: 403, check: wantError("not_editable", "data.region")},
		{name: "unknown key", method: "PUT", path: "/v1/users/carol/config/no.such", caller: "writer", body: `1`, status: 404, check: wantError("unknown_key", "no.such")},
		{name: "wrong type", method: "PUT", path: "/v1/users/carol/config/session.timeout_minutes", caller: "writer", body: `"ten"`, status: 422, check: wantError("invalid_value", "must be a number")},
		{name: "breaks a constraint", method: "PUT", path: "/v1/users/carol/config/session.timeout_minutes", caller: "writer", body: `500`, status: 422, check: wantError("invalid_value", "at most 120")},
		{name: "not an allowed value", method: "PUT", path: "/v1/users/carol/config/ui.theme", caller: "writer", body: `"pink"`, status: 422, check: wantError("invalid_value", "must be one of")},
		{name: "managed by terraform", method: "PUT", path: aliceCfg + "/notify.email", caller: "writer", body: `"a@b"`, status: 409, check: wantError("managed_by_terraform", "tokenward_user_config.alice")},
		{name: "sensitive without write-sensitive", method: "PUT", path: "/v1/users/carol/config/api.secret", caller: "writer", body: `"NEW-secret"`, status: 403, check: wantScope(registry.ScopeConfigWriteSensitive)},
		{name: "sensitive with write-sensitive", method: "PUT", path: "/v1/users/carol/config/api.secret", caller: "sensitive-writer", body: `"NEW-secret"`, status: 200},
		{name: "not JSON", method: "PUT", path: "/v1/users/carol/config/ui.theme", caller: "writer", body: `dark`, status: 400},
		{name: "two values", method: "PUT", path: "/v1/users/carol/config/ui.theme", caller: "writer", body: `"dark" "light"`, status: 400},
		{name: "delete", method: "DELETE", path: aliceCfg + "/ui.theme", caller: "writer", status: 200},
		{name: "patch", method: "PATCH", path: "/v1/users/carol/config", caller: "writer", body: `{"ui.theme": "dark", "session.timeout_minutes": null}`, status: 200, check: func(t *testing.T, _ *httptest.ResponseRecorder, m map[string]any) {
			if s, _ := json.Marshal([]any{m["set"], m["unset"]}); string(s) != `[["ui.theme"],["session.timeout_minutes"]]` {
				t.Errorf("set, unset = %s", s)
			}
		}},
		{name: "patch is all or nothing", method: "PATCH", path: "/v1/users/carol/config", caller: "writer", body: `{"ui.theme": "dark", "data.region": "us"}`, status: 403, check: wantError("not_editable", "data.region")},
		{name: "patch with a key twice", method: "PATCH", path: "/v1/users/carol/config", caller: "writer", body: `{"ui.theme": "dark", "ui.theme": "light"}`, status: 400},
		{name: "patch not an object", method: "PATCH", path: "/v1/users/carol/config", caller: "writer", body: `["ui.theme"]`, status: 400},
		{name: "if-match moved", method: "PUT", path: aliceCfg + "/ui.theme", caller: "writer", body: `"dark"`, headers: []string{"If-Match", `"2"`}, status: 412, check: func(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any) {
			if m["error"] != "revision_moved" || m["revision"] != 3.0 || rec.Header().Get("ETag") != `"3"` {
				t.Errorf("answer = %v", m)
			}
		}},
		{name: "if-match current", method: "PUT", path: aliceCfg + "/ui.theme", caller: "writer", body: `"dark"`, headers: []string{"If-Match", `"3"`}, status: 200},
		{name: "if-match malformed", method: "PUT", path: aliceCfg + "/ui.theme", caller: "writer", body: `"dark"`, headers: []string{"If-Match", `3`}, status: 400},
		// A weak tag never matches If-Match (RFC 9110): the precondition
		// fails, even for the current revision.
		{name: "if-match weak", method: "PUT", path: aliceCfg + "/ui.theme", caller: "writer", body: `"dark"`, headers: []string{"If-Match", `W/"3"`}, status: 412},
		{name: "if-none-match", method: "GET", path: aliceCfg, caller: "reader", headers: []string{"If-None-Match", `"3"`}, status: 304},
		{name: "a user id too long", method: "GET", path: "/v1/users/" + strings.Repeat("u", 300) + "/config", caller: "reader", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newConfigWorld(t)
			rec := w.call(tc.method, tc.path, tc.caller, tc.body, tc.headers...)
			if rec.Code != tc.status {
				t.Fatalf("%s %s as %s = %d, want %d: %s", tc.method, tc.path, tc.caller, rec.Code, tc.status, rec.Body)
			}
			if tc.check != nil {
				var m map[string]any
				if rec.Code != 304 {
					m = jsonOf(t, rec)
				}
				tc.check(t, rec, m)
			}
			for _, secret := range []string{secretDefault, secretAlice} {
				if tc.caller != "sensitive-reader" && strings.Contains(rec.Body.String(), secret) {
					t.Errorf("the answer holds a sensitive value: %s", rec.Body)
				}
			}
		})
	}
}

func wantError(code, mentions string) func(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any) {
	return func(t *testing.T, _ *httptest.ResponseRecorder, m map[string]any) {
		t.Helper()
		desc, _ := m["error_description"].(string)
		all, _ := json.Marshal(m)
		if m["error"] != code || !strings.Contains(string(all), mentions) {
			t.Errorf("answer = %s, want error %s mentioning %q (%s)", all, code, mentions, desc)
		}
	}
}

func wantScope(scope string) func(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any) {
	return func(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any) {
		t.Helper()
		if m["error"] != "insufficient_scope" || m["scope"] != scope {
			t.Errorf("answer = %v, want insufficient_scope naming %s", m, scope)
		}
		if h := rec.Header().Get("WWW-Authenticate"); !strings.Contains(h, `scope="`+scope+`"`) {
			t.Errorf("WWW-Authenticate = %q", h)
		}
	}
}

// TestConfigAudits: a read of a sensitive value and every write are audited
// with the caller, the user, the keys and the source address; a read
// without sensitive values is not.
func TestConfigAudits(t *testing.T) {
	w := newConfigWorld(t)
	steps := []struct {
		method, path, caller, body string
		want                       *registry.ConfigAccess
	}{
		{"GET", "/v1/users/alice@example.com/config", "reader", "", nil},
		{"GET", "/v1/users/alice@example.com/config", "sensitive-reader", "", &registry.ConfigAccess{Caller: "sensitive-reader", User: alice, Keys: []string{"api.secret"}, SourceIP: "127.0.0.1"}},
		{"GET", "/v1/users/alice@example.com/config/ui.theme", "sensitive-reader", "", nil},
		{"GET", "/v1/users/alice@example.com/config/api.secret", "sensitive-reader", "", &registry.ConfigAccess{Caller: "sensitive-reader", User: alice, Keys: []string{"api.secret"}, SourceIP: "127.0.0.1"}},
		{"PATCH", "/v1/users/carol/config", "sensitive-writer", `{"api.secret": "NEW-secret", "ui.theme": "dark"}`, &registry.ConfigAccess{Caller: "sensitive-writer", User: "carol", Keys: []string{"api.secret", "ui.theme"}, SourceIP: "127.0.0.1"}},
	}
	for i, st := range steps {
		before := len(w.cfg.auditLog())
		if rec := w.call(st.method, st.path, st.caller, st.body); rec.Code != 200 {
			t.Fatalf("step %d: %d %s", i+1, rec.Code, rec.Body)
		}
		log := w.cfg.auditLog()[before:]
		switch {
		case st.want == nil && len(log) != 0:
			t.Errorf("step %d audited %v, want nothing", i+1, log)
		case st.want != nil && (len(log) != 1 || !equalAccess(log[0], *st.want)):
			t.Errorf("step %d audited %v, want %v", i+1, log, *st.want)
		}
	}
}

func equalAccess(a, b registry.ConfigAccess) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestConfigTLSOnly: without --insecure-config-api, a request over plain
// HTTP is refused, saying why; one over TLS is answered.
func TestConfigTLSOnly(t *testing.T) {
	w := newConfigWorld(t, server.WithInsecureConfigAPI(false))
	rec := w.call("GET", "/v1/users/carol/config", "reader", "")
	if m := jsonOf(t, rec); rec.Code != 403 || m["error"] != "tls_required" || !strings.Contains(m["error_description"].(string), "--insecure-config-api") {
		t.Errorf("plain HTTP = %d %v", rec.Code, m)
	}
	r := httptest.NewRequest("GET", "/v1/users/carol/config", nil)
	r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	r.Header.Set("Authorization", "Bearer "+w.values["reader"])
	rec = httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Errorf("over TLS = %d %s", rec.Code, rec.Body)
	}
	// The same over real connections, a user id with an escaped "/".
	for _, tc := range []struct {
		ts   *httptest.Server
		want int
	}{{httptest.NewTLSServer(w.srv.Handler()), 200}, {httptest.NewServer(w.srv.Handler()), 403}} {
		defer tc.ts.Close()
		req, _ := http.NewRequest("GET", tc.ts.URL+"/v1/users/team%2Fops/config", nil)
		req.Header.Set("Authorization", "Bearer "+w.values["ops-self"])
		resp, err := tc.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == 200 && m["user"] != ops) {
			t.Errorf("%s: %d %v, want %d", tc.ts.URL, resp.StatusCode, m, tc.want)
		}
	}
}

// TestConfigInsecureOnlyFromLoopback: --insecure-config-api answers plain
// HTTP to a loopback peer and to no one else (the outside review read
// alice's secret from 203.0.113.9 with it).
func TestConfigInsecureOnlyFromLoopback(t *testing.T) {
	w := newConfigWorld(t, server.WithInsecureConfigAPI(true))
	for _, tc := range []struct {
		peer string
		want int
	}{{"127.0.0.1:40000", 200}, {"[::1]:40000", 200}, {"203.0.113.9:5555", 403}, {"10.0.0.7:5555", 403}} {
		r := httptest.NewRequest("GET", "/v1/users/carol/config", nil)
		r.RemoteAddr = tc.peer
		r.Header.Set("Authorization", "Bearer "+w.values["reader"])
		rec := httptest.NewRecorder()
		w.srv.Handler().ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("plain HTTP from %s = %d %s, want %d", tc.peer, rec.Code, rec.Body, tc.want)
		}
	}
}

// TestConfigScopeRemoved: a caller whose scope is taken away is refused by
// the next request after the snapshot changes.
func TestConfigScopeRemoved(t *testing.T) {
	w := newConfigWorld(t)
	if rec := w.call("GET", "/v1/users/carol/config", "reader", ""); rec.Code != 200 {
		t.Fatalf("before: %d", rec.Code)
	}
	w.rescope("reader", []string{"billing:read"})
	if rec := w.call("GET", "/v1/users/carol/config", "reader", ""); rec.Code != 403 {
		t.Errorf("after the scope was removed: %d %s", rec.Code, rec.Body)
	}
}

// TestConfigNoMasterKey: without a master key a caller that may see
// sensitive values gets them sealed (null, "sealed": true), a read of one
// such key is 503 naming the missing key, and /readyz says so and stays 200.
func TestConfigNoMasterKey(t *testing.T) {
	w := newConfigWorld(t, server.WithRegistryAccess(nil, registry.ServeAccess{Writable: true, NoKeyWhy: "no master key is configured"}))
	w.cfg.noKey = true
	rec := w.call("GET", "/v1/users/alice@example.com/config", "sensitive-reader", "")
	if rec.Code != 200 {
		t.Fatalf("config = %d %s", rec.Code, rec.Body)
	}
	if s := valueOf(t, jsonOf(t, rec), "api.secret"); s["value"] != nil || s["sealed"] != true {
		t.Errorf("api.secret = %v, want null and sealed", s)
	}
	rec = w.call("GET", "/v1/users/alice@example.com/config/api.secret", "sensitive-reader", "")
	if m := jsonOf(t, rec); rec.Code != 503 || m["error"] != "no_master_key" || !strings.Contains(m["error_description"].(string), "TOKENWARD_MASTER_KEY") {
		t.Errorf("one sensitive key = %d %v", rec.Code, m)
	}
	if rec := w.call("GET", "/v1/users/alice@example.com/config/api.secret", "reader", ""); rec.Code != 200 {
		t.Errorf("one sensitive key, hidden = %d %s", rec.Code, rec.Body)
	}
	rec = w.call("GET", "/readyz", "", "")
	if m := jsonOf(t, rec); rec.Code != 200 || m["config_api"] != "no master key" {
		t.Errorf("/readyz = %d %v", rec.Code, m)
	}
}

// TestConfigReadOnly: a server on a read-only store refuses writes with
// 503 saying why.
func TestConfigReadOnly(t *testing.T) {
	w := newConfigWorld(t, server.WithRegistryAccess(nil, registry.ServeAccess{Keys: true, ReadOnlyWhy: "the store file is read-only"}))
	rec := w.call("PUT", "/v1/users/carol/config/ui.theme", "writer", `"dark"`)
	if m := jsonOf(t, rec); rec.Code != 503 || m["error"] != "read_only" || !strings.Contains(m["error_description"].(string), "the store file is read-only") {
		t.Errorf("write = %d %v", rec.Code, m)
	}
	if rec := w.call("GET", "/v1/users/carol/config", "reader", ""); rec.Code != 200 {
		t.Errorf("read = %d", rec.Code)
	}
}

// TestConfigLostUpdate: two writers with the same If-Match over HTTP;
// exactly one succeeds, the other gets 412.
func TestConfigLostUpdate(t *testing.T) {
	w := newConfigWorld(t)
	ts := httptest.NewServer(w.srv.Handler())
	defer ts.Close()
	for round := range 20 {
		get := w.call("GET", "/v1/users/carol/config", "readwrite", "")
		rev := get.Header().Get("ETag")
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i, v := range []string{`"dark"`, `"light"`} {
			wg.Go(func() {
				req, _ := http.NewRequest("PUT", ts.URL+"/v1/users/carol/config/ui.theme", strings.NewReader(v))
				req.Header.Set("Authorization", "Bearer "+w.values["readwrite"])
				req.Header.Set("If-Match", rev)
				resp, err := ts.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				codes[i] = resp.StatusCode
			})
		}
		wg.Wait()
		if !(codes[0] == 200 && codes[1] == 412 || codes[0] == 412 && codes[1] == 200) {
			t.Fatalf("round %d: the two writers got %v, want one 200 and one 412", round, codes)
		}
	}
}

// TestConfigCacheFollowsChanges: a read answered from memory shows a change
// made elsewhere (another instance's write, a new default) within the
// cache's bound, and the cache does not read the store for every request.
func TestConfigCacheFollowsChanges(t *testing.T) {
	w := newConfigWorld(t)
	theme := func(user string) any {
		rec := w.call("GET", "/v1/users/"+user+"/config/ui.theme", "reader", "")
		return jsonOf(t, rec)["value"]
	}
	if got := theme("carol"); got != "light" {
		t.Fatalf("carol's theme = %v", got)
	}
	reads := w.cfg.readCount()
	for range 50 {
		theme("carol")
	}
	if got := w.cfg.readCount() - reads; got > 2 {
		t.Errorf("50 reads read the store %d times, want them from memory", got)
	}
	// Another instance writes carol's theme.
	if _, err := w.cfg.WriteUserConfig(t.Context(), registry.ConfigWrite{User: "carol", Set: map[string]json.RawMessage{"ui.theme": json.RawMessage(`"dark"`)}}); err != nil {
		t.Fatal(err)
	}
	seen(t, "another instance's write", func() bool { return theme("carol") == "dark" })
	if got := theme("dave"); got != "light" {
		t.Fatalf("dave's theme = %v", got)
	}
	w.cfg.setDefault("ui.theme", json.RawMessage(`"dark"`))
	seen(t, "a new default", func() bool { return theme("dave") == "dark" })
}

// seen polls ok until it holds, logs how long that took, and fails past
// seenWithin.
func seen(t *testing.T, what string, ok func() bool) {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		if time.Since(start) > seenWithin {
			t.Fatalf("%s: not seen within %v", what, seenWithin)
		}
		<-tick.C
	}
	took := time.Since(start)
	note := ""
	if took > time.Second {
		note = " (more than the one second the issue asks)"
	}
	t.Logf("%s: seen after %v%s", what, took.Round(time.Millisecond), note)
}

// TestConfigCacheBounded: the cache holds no more users than its bound.
func TestConfigCacheBounded(t *testing.T) {
	w := newConfigWorld(t, server.WithConfigCacheUsers(10))
	for i := range 50 {
		if rec := w.call("GET", "/v1/users/u"+string(rune('a'+i%26))+string(rune('a'+i/26))+"/config", "reader", ""); rec.Code != 200 {
			t.Fatal(rec.Code)
		}
	}
	rec := w.call("GET", "/metrics", "", "")
	if !strings.Contains(rec.Body.String(), "tokenward_config_cache_users 10\n") {
		t.Errorf("metrics:\n%s", grepLines(rec.Body.String(), "tokenward_config_"))
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestConfigStoreFails: a store that fails is a 503 that points at the log,
// which has the error; the answer does not.
func TestConfigStoreFails(t *testing.T) {
	w := newConfigWorld(t)
	w.cfg.mu.Lock()
	w.cfg.fail = errors.New("disk on fire")
	w.cfg.mu.Unlock()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/users/carol/config", ""},
		{"GET", "/v1/users/carol/config/ui.theme", ""},
		{"PUT", "/v1/users/carol/config/ui.theme", `"dark"`},
	} {
		rec := w.call(c.method, c.path, "readwrite", c.body)
		if m := jsonOf(t, rec); rec.Code != 503 || m["error"] != "temporarily_unavailable" || strings.Contains(rec.Body.String(), "disk on fire") {
			t.Errorf("%s %s = %d %v", c.method, c.path, rec.Code, m)
		}
	}
	if !strings.Contains(w.logs.String(), "disk on fire") {
		t.Errorf("the log does not say why:\n%s", w.logs)
	}
}
