package main

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/detect"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

const testHookSecret = "a-webhook-secret-nobody-should-see"

// TestServeDetectSettings checks that a detector flag that cannot work
// stops serve before it opens the store, naming the flag, and that the
// webhook's secret is never echoed.
func TestServeDetectSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := dir + "/hook.secret"
	short := dir + "/short.secret"
	badPolicy := dir + "/policy.hcl"
	for f, v := range map[string]string{secret: testHookSecret + "\n", short: "tiny", badPolicy: `on_revoked_version_used = "explode"`} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"burst without a window", nil, []string{"--failure-burst", "20"}, "must be N/WINDOW"},
		{"burst of zero", nil, []string{"--failure-burst", "0/1m"}, "must be N/WINDOW"},
		{"burst with a bad window", nil, []string{"--failure-burst", "20/soon"}, "positive duration"},
		{"probe from the environment", map[string]string{"TOKENWARD_SCOPE_PROBE": "many"}, nil, `TOKENWARD_SCOPE_PROBE is "many"`},
		{"negative learning period", map[string]string{"TOKENWARD_LEARNING_PERIOD": "-1h"}, nil, "--learning-period must be 0 or positive"},
		{"webhook without a secret", nil, []string{"--alert-webhook", "https://alerts.example/hook"}, "give both --alert-webhook"},
		{"webhook over plain http", nil, []string{"--alert-webhook", "http://alerts.example/hook", "--alert-webhook-secret-file", secret},
			"must be https"},
		{"webhook secret missing", nil, []string{"--alert-webhook", "https://alerts.example/hook", "--alert-webhook-secret-file", dir + "/none"},
			"--alert-webhook-secret-file"},
		{"webhook secret too short", map[string]string{"TOKENWARD_ALERT_WEBHOOK": "https://alerts.example/hook",
			"TOKENWARD_ALERT_WEBHOOK_SECRET_FILE": short}, nil, "at least 16 bytes"},
		{"bad policy", nil, []string{"--policy", badPolicy}, `on_revoked_version_used: must be "alert" or "revoke"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := world{env: tc.env, value: "tw_somevalue"}
			r := w.run(t, "", append([]string{"serve"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.code, exitUsage, tc.want, r.stderr)
			}
			if strings.Contains(r.stderr+r.stdout, testHookSecret) || strings.Contains(r.stderr, "tiny") {
				t.Errorf("the webhook secret was echoed:\n%s", r.stderr)
			}
		})
	}
}

// TestServeRevokesOnRevokedVersionUsed runs `tokenward serve` as a process
// with a policy saying on_revoked_version_used = "revoke" and a webhook:
// presenting a revoked version raises revoked_version_used, posted signed
// to the webhook, and revokes the whole token, so its current version is
// refused next.
func TestServeRevokesOnRevokedVersionUsed(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM cannot be sent on Windows")
	}
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			w := newServeWorld(t, engines.DSN(t, engine))
			// Two rotations: the first version is revoked, the second
			// previous, the third current.
			first := w.value
			current := ""
			for range 2 {
				next, _, err := w.reg.BeginRotation(ctx, "billing")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.reg.FinishRotation(ctx, "billing", next.VersionID); err != nil {
					t.Fatal(err)
				}
				current = next.Value
			}
			var mu sync.Mutex
			var hooked []detect.Alert
			bad := 0
			hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				defer mu.Unlock()
				var a detect.Alert
				if !hmac.Equal([]byte(r.Header.Get(detect.SignatureHeader)), []byte(detect.Sign([]byte(testHookSecret), body))) ||
					json.Unmarshal(body, &a) != nil {
					bad++
					rw.WriteHeader(http.StatusUnauthorized)
					return
				}
				hooked = append(hooked, a)
			}))
			defer hook.Close()
			dir := t.TempDir()
			if err := os.WriteFile(dir+"/hook.secret", []byte(testHookSecret), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir+"/policy.hcl", []byte("policy = {\n  on_revoked_version_used = \"revoke\"\n}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"TOKENWARD_ALERT_WEBHOOK_SECRET_FILE": dir + "/hook.secret", "TOKENWARD_POLICY": dir + "/policy.hcl"}
			for k, v := range w.env {
				env[k] = v
			}
			cmd, base, out := startServe(t, env, "--listen", "127.0.0.1:0", "--alert-webhook", hook.URL)
			client := &http.Client{Timeout: 10 * time.Second}
			verify := func(value string) string {
				body, _ := json.Marshal(server.VerifyRequest{Token: value, Scopes: []string{"billing:read"}})
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/verify", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+w.caller)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var v struct {
					Code string `json:"code"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&v)
				return v.Code
			}
			if code := verify(current); code != "valid" {
				t.Fatalf("the current version answers %q before, want valid", code)
			}
			if code := verify(first); code != "revoked" {
				t.Fatalf("the first version answers %q, want revoked", code)
			}
			deadline := time.Now().Add(20 * time.Second)
			code := ""
			for time.Now().Before(deadline) {
				if code = verify(current); code == "revoked" {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if code != "revoked" {
				t.Fatalf("the current version still answers %q after the revoke response:\n%s", code, out)
			}
			var got []detect.Alert
			for time.Now().Before(deadline) {
				mu.Lock()
				got = append([]detect.Alert(nil), hooked...)
				mu.Unlock()
				if len(got) > 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(got) != 1 || bad != 0 {
				t.Fatalf("the webhook got %d alerts (%d badly signed), want 1:\n%s", len(got), bad, out)
			}
			a := got[0]
			if a.Detector != detect.RevokedVersionUsed || a.Token != "billing" || a.Evidence["revoked"] != "true" ||
				a.Evidence["reason"] != "version revoked" || !strings.Contains(a.Detail, "revoked the whole token") {
				t.Errorf("alert %+v", a)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			var revokes int
			for _, e := range storetest.AuditChain(t, w.reg.Store()) {
				if e.Action == "version.revoke" && strings.Contains(e.Details["reason"], "on_revoked_version_used") {
					revokes++
				}
				if e.Action == "alert.raise" && e.Details["evidence.revoked"] != "true" {
					t.Errorf("audited alert %v does not say the token was revoked", e.Details)
				}
			}
			if revokes != 2 {
				t.Errorf("%d versions revoked by the response in the audit chain, want 2 (previous and current)", revokes)
			}
			logs := out.String()
			for _, s := range []string{first, current, w.caller, testHookSecret} {
				if strings.Contains(logs, s) {
					t.Errorf("serve's output holds a value or the webhook secret:\n%s", logs)
				}
			}
		})
	}
}
