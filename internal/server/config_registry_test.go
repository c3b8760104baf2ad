package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// configInstance is one tokenward serve on a store: its own store handle,
// registry, snapshot source and HTTP server.
type configInstance struct {
	ts *httptest.Server
}

func startConfigInstance(t *testing.T, dsn string, keys *seal.Keyring, logs *lockedBuffer) *configInstance {
	t.Helper()
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, keys, registry.WithActor("serve"))
	src := run(t, st)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := server.New(src, server.WithServerLogger(logger), server.WithInsecureConfigAPI(true),
		server.WithRegistryAccess(reg, registry.ServeAccess{Writable: true, Keys: true}))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &configInstance{ts: ts}
}

// call sends one request with the token value tok; it returns the status
// and the body.
func (in *configInstance) call(t *testing.T, method, path, tok, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, in.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := in.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// valueAt is the value of key in a GET config answer, as JSON.
func valueAt(t *testing.T, body, key string) string {
	t.Helper()
	var m struct {
		Values map[string]struct {
			Value json.RawMessage `json:"value"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a configuration: %v: %s", err, body)
	}
	return string(m.Values[key].Value)
}

// TestConfigAPIOnTheRegistry runs the configuration API on the registry
// itself, two instances on one store (a SQLite file, a PostgreSQL
// database): a write on one and a new default reach the other's cached
// answers, a caller's removed scope and a destroyed caller token are
// refused within the snapshot's invalidation, two writers with one
// If-Match cannot both win, and no sensitive value reaches an answer that
// may not show it, the audit log or the servers' logs.
func TestConfigAPIOnTheRegistry(t *testing.T) {
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		keys := seal.NewKeyring(sealtest.Key(t))
		admin := registry.New(st, keys, registry.WithActor("terraform"))
		lo, hi := 5.0, 120.0
		timeout := registry.SettingSpec{Key: "session.timeout_minutes", Type: registry.TypeNumber, Default: json.RawMessage(`30`), UserEditable: true,
			Constraints: store.Constraints{Min: &lo, Max: &hi}}
		for _, sp := range []registry.SettingSpec{
			{Key: "ui.theme", Type: registry.TypeString, Default: json.RawMessage(`"light"`), UserEditable: true},
			timeout,
			{Key: "data.region", Type: registry.TypeString, Default: json.RawMessage(`"eu"`)},
			{Key: "api.secret", Type: registry.TypeString, Default: json.RawMessage(`"` + secretDefault + `"`), Sensitive: true, UserEditable: true},
		} {
			must(t, admin.CreateSetting(ctx, sp))
		}
		must(t, admin.SetManagedUserValues(ctx, "bob", map[string]json.RawMessage{"ui.theme": json.RawMessage(`"dark"`)}))
		tokens := map[string]string{}
		for _, tk := range []struct {
			name, owner string
			scopes      []string
		}{
			{"reader", "svc", []string{registry.ScopeConfigRead}},
			{"writer", "svc", []string{registry.ScopeConfigRead, registry.ScopeConfigWrite}},
			{"sensitive", "svc", []string{registry.ScopeConfigRead, registry.ScopeConfigReadSensitive, registry.ScopeConfigWrite, registry.ScopeConfigWriteSensitive}},
			{"alice", alice, []string{registry.ScopeConfigReadSelf, registry.ScopeConfigWriteSelf}},
			{"doomed", "svc", []string{registry.ScopeConfigRead}},
		} {
			if _, err := admin.CreateToken(ctx, registry.TokenSpec{Name: tk.name, Owner: tk.owner, Scopes: tk.scopes, Lifetime: lifetime}); err != nil {
				t.Fatal(err)
			}
			iss, err := admin.IssueFirst(ctx, tk.name)
			if err != nil {
				t.Fatal(err)
			}
			tokens[tk.name] = iss.Value
		}
		logs := &lockedBuffer{}
		a, b := startConfigInstance(t, dsn, keys, logs), startConfigInstance(t, dsn, keys, logs)
		const aliceCfg = "/v1/users/alice@example.com/config"

		// b caches alice's configuration, a changes it, b sees it.
		code, _, body := b.call(t, "GET", aliceCfg, tokens["reader"], "")
		if code != 200 || valueAt(t, body, "ui.theme") != `"light"` {
			t.Fatalf("first read = %d %s", code, body)
		}
		if code, _, body := a.call(t, "PUT", aliceCfg+"/ui.theme", tokens["alice"], `"dark"`); code != 200 {
			t.Fatalf("alice's write = %d %s", code, body)
		}
		seen(t, "a write on another instance", func() bool {
			_, _, body := b.call(t, "GET", aliceCfg, tokens["reader"], "")
			return valueAt(t, body, "ui.theme") == `"dark"`
		})
		// A new default, as an apply writes it, reaches every user's.
		code, h, _ := b.call(t, "GET", "/v1/users/carol/config", tokens["reader"], "")
		before := h.Get("ETag")
		timeout.Default = json.RawMessage(`45`)
		must(t, admin.UpdateSetting(ctx, timeout))
		seen(t, "a new default", func() bool {
			_, h, body := b.call(t, "GET", "/v1/users/carol/config", tokens["reader"], "")
			return valueAt(t, body, "session.timeout_minutes") == `45` && h.Get("ETag") != before
		})
		if code != 200 {
			t.Fatalf("carol = %d", code)
		}

		// Values Terraform manages are refused, naming the resource.
		if code, _, body := a.call(t, "PUT", "/v1/users/bob/config/ui.theme", tokens["writer"], `"light"`); code != 409 || !strings.Contains(body, "tokenward_user_config") {
			t.Errorf("a managed value = %d %s", code, body)
		}
		// A key that is not user_editable, a value that breaks its rule.
		if code, _, body := a.call(t, "PUT", aliceCfg+"/data.region", tokens["writer"], `"us"`); code != 403 || !strings.Contains(body, "data.region") {
			t.Errorf("not editable = %d %s", code, body)
		}
		if code, _, body := a.call(t, "PUT", aliceCfg+"/session.timeout_minutes", tokens["writer"], `500`); code != 422 || !strings.Contains(body, "at most 120") {
			t.Errorf("a constraint = %d %s", code, body)
		}

		// Sensitive values: written with write-sensitive only, shown with
		// read-sensitive only.
		if code, _, body := a.call(t, "PUT", aliceCfg+"/api.secret", tokens["writer"], `"`+secretAlice+`"`); code != 403 || !strings.Contains(body, registry.ScopeConfigWriteSensitive) {
			t.Errorf("a sensitive write without the scope = %d %s", code, body)
		}
		if code, _, body := a.call(t, "PUT", aliceCfg+"/api.secret", tokens["sensitive"], `"`+secretAlice+`"`); code != 200 {
			t.Fatalf("a sensitive write = %d %s", code, body)
		}
		seen(t, "a sensitive write", func() bool {
			_, _, body := b.call(t, "GET", aliceCfg+"/api.secret", tokens["sensitive"], "")
			return strings.Contains(body, secretAlice)
		})
		if _, _, body := b.call(t, "GET", aliceCfg, tokens["reader"], ""); strings.Contains(body, secretAlice) || valueAt(t, body, "api.secret") != "null" {
			t.Errorf("a reader without read-sensitive sees %s", body)
		}

		// Lost updates: two writers with one If-Match, each writing a new
		// value; exactly one wins.
		for round := range 10 {
			_, h, _ := a.call(t, "GET", "/v1/users/dave/config", tokens["writer"], "")
			codes := make([]int, 2)
			var wg sync.WaitGroup
			for i, in := range []*configInstance{a, b} {
				wg.Go(func() {
					v := strconv.Itoa(10 + 2*round + i)
					codes[i], _, _ = in.call(t, "PUT", "/v1/users/dave/config/session.timeout_minutes", tokens["writer"], v, "If-Match", h.Get("ETag"))
				})
			}
			wg.Wait()
			if !(codes[0] == 200 && codes[1] == 412 || codes[0] == 412 && codes[1] == 200) {
				t.Fatalf("round %d: two writers with If-Match %s got %v, want one 200 and one 412", round, h.Get("ETag"), codes)
			}
		}

		// A scope removed a moment ago, a destroyed caller token: refused
		// on every instance as soon as its snapshot sees the change.
		if _, err := admin.UpdateToken(ctx, registry.TokenSpec{Name: "reader", Owner: "svc", Scopes: []string{registry.ScopeConfigReadSelf}, Lifetime: lifetime}); err != nil {
			t.Fatal(err)
		}
		must(t, admin.DeleteToken(ctx, "doomed"))
		for i, in := range []*configInstance{a, b} {
			seen(t, "instance "+strconv.Itoa(i+1)+": a removed scope", func() bool {
				code, _, _ := in.call(t, "GET", aliceCfg, tokens["reader"], "")
				return code == 403
			})
			seen(t, "instance "+strconv.Itoa(i+1)+": a destroyed caller", func() bool {
				code, _, _ := in.call(t, "GET", aliceCfg, tokens["doomed"], "")
				return code == 401
			})
		}

		// The audit log names every write and sensitive read, never a value.
		events, err := st.AuditEvents(ctx, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		var reads, writes int
		for _, e := range events {
			raw, _ := json.Marshal(e)
			if strings.Contains(string(raw), secretAlice) || strings.Contains(string(raw), secretDefault) {
				t.Errorf("an audit event holds a sensitive value: %s", raw)
			}
			switch {
			case strings.Contains(string(raw), "user_config.read_sensitive"):
				reads++
			case strings.Contains(string(raw), "user_config.write"):
				writes++
			}
		}
		if reads == 0 || writes < 10 {
			t.Errorf("the audit log has %d sensitive reads and %d writes", reads, writes)
		}
		for _, secret := range append([]string{secretAlice, secretDefault}, values(tokens)...) {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the servers' log holds a secret:\n%s", logs)
			}
		}
	})
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
