package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// TestConfigServer runs `tokenward serve --insecure-config-api` with no
// master key and works on a user's configuration with config get, set and
// unset --server and a caller token: the operator needs no master key and
// no store; the token's -self scopes cover its owner only; a sensitive
// value is refused as an argument and, without a master key on the server,
// answered 503; /readyz says so and stays 200.
func TestConfigServer(t *testing.T) {
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			w := newServeWorld(t, engines.DSN(t, engine))
			ctx := t.Context()
			for _, s := range []registry.SettingSpec{
				{Key: "ui.theme", Type: "string", Default: json.RawMessage(`"dark"`), UserEditable: true},
				{Key: "smtp.password", Type: "string", Default: json.RawMessage(`"smtp-Secret-99"`), Sensitive: true, UserEditable: true},
			} {
				if err := w.reg.CreateSetting(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			life := store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour}
			if _, err := w.reg.CreateToken(ctx, registry.TokenSpec{Name: "alice-cli", Owner: "alice",
				Scopes: []string{registry.ScopeConfigReadSelf, registry.ScopeConfigWriteSelf, registry.ScopeConfigReadSensitive, registry.ScopeConfigWriteSensitive}, Lifetime: life}); err != nil {
				t.Fatal(err)
			}
			issued, err := w.reg.IssueFirst(ctx, "alice-cli")
			if err != nil {
				t.Fatal(err)
			}
			tokenFile := t.TempDir() + "/alice.token"
			if err := os.WriteFile(tokenFile, []byte(issued.Value+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			w.env["TOKENWARD_LISTEN"] = "127.0.0.1:0"
			_, base, out := startServe(t, w.env, "--insecure-config-api")
			if !strings.Contains(out.String(), "config_api: no master key") {
				t.Errorf("serve did not say at start that sensitive values are off:\n%s", out)
			}
			// The operator's environment: the caller's token, no store, no key.
			env := map[string]string{EnvClientToken: issued.Value}
			cli := func(stdin string, args ...string) (int, string, string) {
				t.Helper()
				var o, e bytes.Buffer
				code := run(context.Background(), args, strings.NewReader(stdin), &o, &e, func(k string) string { return env[k] })
				for _, line := range strings.Split(o.String()+e.String(), "\n") {
					if strings.Contains(line, issued.Value) {
						t.Fatalf("tokenward %v printed the caller's token", args)
					}
				}
				return code, o.String(), e.String()
			}
			effective := func(user string) map[string]effectiveOutput {
				t.Helper()
				code, stdout, stderr := cli("", "config", "get", "--server", base, "--user", user)
				if code != exitOK {
					t.Fatalf("config get --server: %d %s", code, stderr)
				}
				m := map[string]effectiveOutput{}
				if err := json.Unmarshal([]byte(stdout), &m); err != nil {
					t.Fatalf("config get printed %q: %v", stdout, err)
				}
				return m
			}
			if got := effective("alice")["ui.theme"]; string(got.Value) != `"dark"` || got.Source != "default" {
				t.Errorf("before: ui.theme = %+v", got)
			}
			if code, stdout, stderr := cli("", "config", "set", "--server", base, "--user", "alice", "ui.theme=light"); code != exitOK || !strings.Contains(stdout, "set ui.theme for user alice") {
				t.Fatalf("config set --server: %d %s %s", code, stdout, stderr)
			}
			if got := effective("alice")["ui.theme"]; string(got.Value) != `"light"` || got.Source != "user" {
				t.Errorf("after set: ui.theme = %+v", got)
			}
			if got := effective("alice")["smtp.password"]; got.Value != nil || !got.Sensitive {
				t.Errorf("a sensitive value without --reveal: %+v", got)
			}
			env = map[string]string{}
			if code, _, stderr := cli("", "config", "unset", "--server", base, "--client-token-file", tokenFile, "--user", "alice", "ui.theme"); code != exitOK {
				t.Fatalf("config unset --server --client-token-file: %d %s", code, stderr)
			}
			env = map[string]string{EnvClientToken: issued.Value}
			if got := effective("alice")["ui.theme"]; got.Source != "default" {
				t.Errorf("after unset: ui.theme = %+v", got)
			}
			refusals := []struct {
				name, stdin string
				args        []string
				code        int
				says        string
			}{
				{"another user", "", []string{"config", "get", "--user", "bob"}, exitUsage, registry.ScopeConfigRead},
				{"a sensitive argument", "", []string{"config", "set", "--user", "alice", "smtp.password=hunter2-Secret"}, exitUsage, "--stdin"},
				{"a sensitive value without a master key", "hunter2-Secret\n", []string{"config", "set", "--user", "alice", "--stdin", "smtp.password"}, exitTrouble, "master key"},
				{"an unknown key", "", []string{"config", "set", "--user", "alice", "no.such=1"}, exitUsage, "no.such"},
			}
			for _, r := range refusals {
				code, _, stderr := cli(r.stdin, append(r.args[:2:2], append([]string{"--server", base}, r.args[2:]...)...)...)
				if code != r.code || !strings.Contains(stderr, r.says) {
					t.Errorf("%s: exit %d, want %d saying %q: %s", r.name, code, r.code, r.says, stderr)
				}
				if strings.Contains(stderr, "hunter2-Secret") {
					t.Errorf("%s: the error repeats the value: %s", r.name, stderr)
				}
			}
			env = map[string]string{}
			if code, _, stderr := cli("", "config", "get", "--server", base, "--user", "alice"); code != exitUsage || !strings.Contains(stderr, EnvClientToken) {
				t.Errorf("without a caller token: %d %s", code, stderr)
			}
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			var rd map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&rd)
			resp.Body.Close()
			if resp.StatusCode != 200 || rd["config_api"] != "no master key" {
				t.Errorf("/readyz = %d %v", resp.StatusCode, rd)
			}
			if strings.Contains(out.String(), "hunter2-Secret") || strings.Contains(out.String(), "smtp-Secret-99") {
				t.Errorf("the server's log holds a sensitive value:\n%s", out)
			}
		})
	}
}

// TestConfigSetRemoteFailsClosed: when the server's settings cannot be
// listed, a value given as an argument is not sent, since it could be a
// sensitive one (the outside review saw it PATCHed).
func TestConfigSetRemoteFailsClosed(t *testing.T) {
	t.Parallel()
	patched := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			patched <- struct{}{}
		}
		http.Error(w, `{"error":"insufficient_scope"}`, http.StatusForbidden)
	}))
	defer ts.Close()
	env := map[string]string{EnvClientToken: "tw_notarealtokenvalue"}
	var o, e strings.Builder
	code := run(context.Background(), []string{"config", "set", "--server", ts.URL, "--user", "alice", "smtp.password=Sup3rSecret"},
		strings.NewReader(""), &o, &e, func(k string) string { return env[k] })
	if code == exitOK || !strings.Contains(e.String(), "--stdin") {
		t.Fatalf("exit %d, stderr %q: want a refusal that says to use --stdin", code, e.String())
	}
	if strings.Contains(e.String()+o.String(), "Sup3rSecret") {
		t.Fatal("the value was echoed")
	}
	select {
	case <-patched:
		t.Fatal("the value was sent although the settings could not be listed")
	default:
	}
}
