package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// serveWorld is a store with a caller token (tokenward:introspect) and a
// billing token, both issued, and the environment that reaches the store
// without a master key.
type serveWorld struct {
	env           map[string]string
	caller, value string
	reg           *registry.Registry
	callerFile    string
}

func newServeWorld(t *testing.T, dsn string) serveWorld {
	t.Helper()
	ctx := t.Context()
	env := registrytest.Env(t, dsn)
	reg, err := registry.Open(ctx, registry.Config{Getenv: func(k string) string { return env[k] }, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if _, err := reg.CreateScope(ctx, "billing:read", ""); err != nil {
		t.Fatal(err)
	}
	life := store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour}
	w := serveWorld{reg: reg}
	for name, scope := range map[string]string{"gateway": server.IntrospectScope, "billing": "billing:read"} {
		if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: name, Scopes: []string{scope}, Lifetime: life}); err != nil {
			t.Fatal(err)
		}
		issued, err := reg.IssueFirst(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "gateway" {
			w.caller = issued.Value
		} else {
			w.value = issued.Value
		}
	}
	w.callerFile = t.TempDir() + "/caller.token"
	if err := os.WriteFile(w.callerFile, []byte(w.caller+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The server runs with no master key.
	w.env = map[string]string{registry.EnvStore: dsn}
	return w
}

// startServe starts `tokenward serve` as a child process on a free loopback
// port and returns it with its base URL and its combined output.
func startServe(t *testing.T, env map[string]string, args ...string) (*exec.Cmd, string, *lockedBuf) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = []string{"TOKENWARD_TEST_AS_BINARY=1", "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &lockedBuf{}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		pw.Close()
	})
	serving := regexp.MustCompile(`serving on (https?://[0-9.:]+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			out.Write(append(sc.Bytes(), '\n'))
			if m := serving.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
	}()
	select {
	case base := <-found:
		return cmd, base, out
	case <-time.After(30 * time.Second):
		t.Fatalf("tokenward serve did not say where it serves within 30s:\n%s", out.String())
	}
	return nil, "", nil
}

// lockedBuf collects a child's output from the goroutine reading it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeProcess runs `tokenward serve` as a process with no master key,
// verifies a token over HTTP through each endpoint and with verify
// --server, sees a destroy answered, and stops it with SIGTERM.
func TestServeProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM cannot be sent on Windows")
	}
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			w := newServeWorld(t, engines.DSN(t, engine))
			cmd, base, out := startServe(t, w.env, "--issuer", "https://tokenward.test")
			client := &http.Client{Timeout: 10 * time.Second}

			verify := func() server.VerifyResponse {
				t.Helper()
				body, _ := json.Marshal(server.VerifyRequest{Token: w.value, Scopes: []string{"billing:read"}})
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/verify", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+w.caller)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var v server.VerifyResponse
				if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&v) != nil {
					t.Fatalf("verify answered %d", resp.StatusCode)
				}
				return v
			}
			if v := verify(); !v.Valid || v.Token != "billing" || v.State != "current" {
				t.Fatalf("verify over HTTP: %+v", v)
			}

			form := url.Values{"token": {w.value}}
			req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/introspect", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("gateway", w.caller)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var intro map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&intro)
			resp.Body.Close()
			if intro["active"] != true || intro["client_id"] != "billing" || intro["iss"] != "https://tokenward.test" {
				t.Errorf("introspection: %d %v", resp.StatusCode, intro)
			}

			req, _ = http.NewRequest(http.MethodGet, base+"/v1/authz?scope=billing:read", nil)
			req.Header.Set("Authorization", "Bearer "+w.value)
			if resp, err = client.Do(req); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get(server.HeaderToken) != "billing" {
				t.Errorf("authz: %d %v", resp.StatusCode, resp.Header)
			}

			// verify --server answers like a local verify, in the same form.
			cw := world{env: map[string]string{EnvClientToken: w.caller}, value: w.value}
			r := cw.run(t, w.value, "verify", "--server", base, "--scope", "billing:read")
			var got verifyOutput
			if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &got) != nil || !got.Valid || got.Token != "billing" || got.State != "current" {
				t.Errorf("verify --server: exit %d %s %s", r.code, r.stdout, r.stderr)
			}
			r = cw.with(EnvClientToken, "").run(t, w.value, "verify", "--server", base, "--client-token-file", w.callerFile, "--scope", "users:read")
			if r.code != exitFailed || !strings.Contains(r.stdout, `"insufficient_scope"`) {
				t.Errorf("verify --server of a missing scope: exit %d %s %s", r.code, r.stdout, r.stderr)
			}
			r = cw.with(EnvClientToken, w.value).run(t, w.value, "verify", "--server", base)
			if r.code != exitTrouble || !strings.Contains(r.stderr, "refused the caller's token") {
				t.Errorf("verify --server with a caller lacking %s: exit %d %s", server.IntrospectScope, r.code, r.stderr)
			}

			// A destroy is answered by the running server.
			start := time.Now()
			if err := w.reg.DeleteToken(t.Context(), "billing"); err != nil {
				t.Fatal(err)
			}
			for deadline := start.Add(10 * time.Second); ; {
				v := verify()
				if v.Code == "revoked" {
					t.Logf("%s: the destroy was answered after %s", engine, time.Since(start))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the destroyed token still verifies after 10s: %+v", v)
				}
				time.Sleep(20 * time.Millisecond)
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("tokenward serve exited with %v after SIGTERM:\n%s", err, out.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("tokenward serve did not exit within 30s of SIGTERM:\n%s", out.String())
			}
			logs := out.String()
			if !strings.Contains(logs, "tokenward: stopped") {
				t.Errorf("no clean stop in the output:\n%s", logs)
			}
			for _, secret := range []string{w.value, w.caller} {
				if strings.Contains(logs, secret) {
					t.Errorf("the server's output holds a token value:\n%s", logs)
				}
			}
		})
	}
}
