package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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
	cmd := exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
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
			// The settings come from the environment, as in a systemd unit.
			w.env["TOKENWARD_LISTEN"] = "127.0.0.1:0"
			w.env["TOKENWARD_ISSUER"] = "https://tokenward.test"
			w.env["TOKENWARD_TRUSTED_PROXIES"] = "10.0.0.0/8, 192.0.2.1"
			cmd, base, out := startServe(t, w.env)
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

// TestServeSettings checks that bad settings are refused before anything
// is opened, each naming its flag or variable.
func TestServeSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"bad trusted proxy", nil, []string{"serve", "--trusted-proxies", "10.0.0.0/33"}, exitUsage, `"10.0.0.0/33" is not a CIDR`},
		{"bad trusted proxy from the environment", map[string]string{"TOKENWARD_TRUSTED_PROXIES": "10.0.0.0/8,nope"}, []string{"serve"}, exitUsage,
			`TOKENWARD_TRUSTED_PROXIES is "nope"`},
		{"bad authz-from from the environment", map[string]string{"TOKENWARD_AUTHZ_FROM": "::1/200"}, []string{"serve"}, exitUsage, "--authz-from"},
		// Addresses are compared unmapped, so an IPv4-mapped network would
		// never match: the flag says what to write instead.
		{"IPv4-mapped authz-from", nil, []string{"serve", "--authz-from", "::ffff:127.0.0.0/104"}, exitUsage, `write 127.0.0.0/8`},
		{"IPv4-mapped trusted proxy", nil, []string{"serve", "--trusted-proxies", "::ffff:10.0.0.1"}, exitTrouble, "no store configured"},
		{"bad staleness", map[string]string{"TOKENWARD_MAX_STALENESS": "soon"}, []string{"serve"}, exitUsage, `TOKENWARD_MAX_STALENESS is "soon": must be a duration such as 60s or 2m`},
		{"zero staleness", nil, []string{"serve", "--max-staleness", "0s"}, exitUsage, "--max-staleness must be positive"},
		{"certificate without key", map[string]string{"TOKENWARD_TLS_CERT": "cert.pem"}, []string{"serve"}, exitUsage, "both --tls-cert and --tls-key"},
		{"an argument", nil, []string{"serve", "tw_oops"}, exitUsage, "unexpected argument"},
		{"no store", nil, []string{"serve"}, exitTrouble, "no store configured"},
		{"a store that does not exist", map[string]string{"TOKENWARD_STORE": t.TempDir() + "/none.db"}, []string{"serve"}, exitTrouble, "never create one"},
		{"verify --server, not a URL", nil, []string{"verify", "--server", "tokenward:8420"}, exitUsage, "--server must be the server's http:// or https:// URL"},
		{"verify --server with credentials", nil, []string{"verify", "--server", "https://u:p@tokenward:8420"}, exitUsage, "--server must hold no credentials"},
		{"verify --server without a caller token", nil, []string{"verify", "--server", "http://127.0.0.1:1"}, exitUsage, "TOKENWARD_CLIENT_TOKEN"},
		{"verify --client-token-file alone", nil, []string{"verify", "--client-token-file", "f"}, exitUsage, "give the server's URL too"},
		{"verify --server, unreachable", map[string]string{EnvClientToken: "tw_caller"}, []string{"verify", "--server", "http://127.0.0.1:1"}, exitTrouble, "ask the server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := world{env: tc.env, value: "tw_somevalue"}
			r := w.run(t, w.value+"\n", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 with the
// given serial, and its key, as PEM files.
func writeTestCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeProcessReloadsTLSOnSIGHUP serves HTTPS and reads the
// certificate again on SIGHUP, keeping the old one when the new pair is bad.
func TestServeProcessReloadsTLSOnSIGHUP(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGHUP does not exist on Windows")
	}
	t.Parallel()
	w := newServeWorld(t, engines.DSN(t, "sqlite"))
	dir := t.TempDir()
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	writeTestCert(t, certFile, keyFile, 1)
	cmd, base, out := startServe(t, w.env, "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("serving on %s, want https", base)
	}
	addr := strings.TrimPrefix(base, "https://")
	serial := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test reads the certificate itself
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s:\n%s", what, out.String())
			}
		}
	}
	if got := serial(); got != 1 {
		t.Fatalf("serving certificate %d, want 1", got)
	}
	writeTestCert(t, certFile, keyFile, 2)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the new certificate after SIGHUP", func() bool { return serial() == 2 })
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the bad pair reported", func() bool { return strings.Contains(out.String(), "TLS certificate not reloaded") })
	if got := serial(); got != 2 {
		t.Errorf("after a bad reload serving certificate %d, want the one in use, 2", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
	}
}

// TestVerifyServerFollowsNoRedirect: verify --server sends the value it
// checks in the body, which a 307 or 308 would send again to wherever the
// redirect points. It goes to the server named, and nowhere else.
func TestVerifyServerFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer other.Close()
	named := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v1/verify", http.StatusTemporaryRedirect)
	}))
	defer named.Close()
	w := world{env: map[string]string{EnvClientToken: "tw_caller"}, value: "tw_somevalue"}
	r := w.run(t, w.value+"\n", "verify", "--server", named.URL)
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed: %d requests reached another server", n)
	}
	if r.code != exitTrouble || !strings.Contains(r.stderr, "answered 307, a redirect to "+other.URL) {
		t.Errorf("exit %d, want %d naming the 307:\n%s", r.code, exitTrouble, r.stderr)
	}
}

// TestVerifyServerSendsSourceIP: verify --server --source-ip sends the
// address the token was presented from, so a token with allowed_cidrs can
// be checked at all; without --server the flag is refused.
func TestVerifyServerSendsSourceIP(t *testing.T) {
	t.Parallel()
	got := make(chan server.VerifyRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req server.VerifyRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		got <- req
		_ = json.NewEncoder(w).Encode(server.VerifyResponse{Valid: true, Code: "valid", Scopes: []string{}})
	}))
	defer srv.Close()
	w := world{env: map[string]string{EnvClientToken: "tw_caller"}, value: "tw_somevalue"}
	r := w.run(t, w.value+"\n", "verify", "--server", srv.URL, "--source-ip", "203.0.113.7")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if req := <-got; req.SourceIP != "203.0.113.7" || req.Token != w.value {
		t.Errorf("the server got source_ip %q (token sent: %v), want 203.0.113.7", req.SourceIP, req.Token == w.value)
	}
	for _, args := range [][]string{
		{"verify", "--source-ip", "203.0.113.7"},
		{"verify", "--server", srv.URL, "--source-ip", "nope"},
	} {
		if r := w.run(t, w.value+"\n", args...); r.code != exitUsage || !strings.Contains(r.stderr, "--source-ip") {
			t.Errorf("%v: exit %d, want %d naming --source-ip:\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
}
