package gatewaytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// startTimeout bounds how long a process may take to start answering, and
// stopTimeout how long it may take to exit on SIGTERM.
const (
	startTimeout = 20 * time.Second
	stopTimeout  = 10 * time.Second
)

// need returns the path of a program the test cannot run without: it skips
// the test when the program is missing, and fails it under CI.
func need(t *testing.T, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if p := filepath.Join(dir, program); executable(p) {
				return p
			}
		}
		missing(t, program, err)
	}
	return path
}

// missing skips the test for a program or package that is not installed,
// and fails it under CI.
func missing(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required under CI (.ci/run installs it from Debian's packages): %v", what, err)
	}
	t.Skipf("SKIPPING: %s is not installed (apt-get install it, or run .ci/run): %v", what, err)
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// tokenwardBinary builds the tokenward binary once for the package's tests.
func tokenwardBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "gatewaytest-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "tokenward")
		out, err := exec.Command("go", "build", "-o", built.bin, "github.com/tokenward/terraform-provider-tokenward/action").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("build tokenward: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// engines opens stores of both engines for the tests that run on each.
var engines *storetest.Engines

func TestMain(m *testing.M) {
	engines = storetest.Start()
	code := m.Run()
	engines.Stop()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// openDir is a temporary folder that the unprivileged workers of nginx and
// Apache (nobody, www-data) may enter, so they can read what is in it.
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// freeAddr is a loopback address no one listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// render writes the example examples/serve/name into dir with each pair of
// replacements applied (old, new, old, new, ...). Each old must be in the
// example: a test that silently stopped replacing would test something else.
func render(t *testing.T, dir, name string, replacements ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "serve", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replacements); i += 2 {
		if !strings.Contains(s, replacements[i]) {
			t.Fatalf("examples/serve/%s no longer has %q: update the test with the example", name, replacements[i])
		}
		s = strings.ReplaceAll(s, replacements[i], replacements[i+1])
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pki is a test CA and a server certificate it signed for 127.0.0.1.
type pki struct {
	CA, Cert, Key string // PEM files
	pool          *x509.CertPool
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tokenward gateway test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	for path, block := range map[string]*pem.Block{
		p.CA: {Type: "CERTIFICATE", Bytes: caDER}, p.Cert: {Type: "CERTIFICATE", Bytes: leafDER}, p.Key: {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// client is an HTTP client that trusts the test CA and sends from the
// loopback address source (empty: the system's choice).
func (p *pki) client(source string) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}, DisableKeepAlives: true}
	if source != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
		tr.DialContext = d.DialContext
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// process is a program the test started; its output is kept and shown when
// the test fails.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a program until the test ends, then stops it with SIGTERM (and
// SIGKILL past stopTimeout). env is the whole environment beside PATH.
func start(t *testing.T, name string, env []string, path string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p := &process{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Its own process group, so a stop reaches its workers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, p.out.String())
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop(t *testing.T) {
	if p.exited() {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Errorf("%s did not exit within %s of SIGTERM; killed", p.name, stopTimeout)
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// waitHTTP polls url until it answers want, within startTimeout; it fails
// at once if the process behind it exited.
func waitHTTP(t *testing.T, p *process, c *http.Client, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("%s exited before it answered %s:\n%s", p.name, url, p.out.String())
		}
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %s with %d within %s (last: %s):\n%s", p.name, url, want, startTimeout, last, p.out.String())
}

// upstream is the API behind a gateway: it answers 200 with what the
// gateway told it about the caller.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream-Token", r.Header.Get("X-Tokenward-Token"))
		w.Header().Set("X-Upstream-Owner", r.Header.Get("X-Tokenward-Owner"))
		w.Header().Set("X-Upstream-Scopes", r.Header.Get("X-Tokenward-Scopes"))
		w.Header().Set("X-Upstream-Client-Id", r.Header.Get("OIDC_CLAIM_client_id"))
		fmt.Fprintf(w, "upstream %s %s\n", r.Method, r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

// world is a store with the scopes the examples require, and the
// values of the tokens a test issued in it.
type world struct {
	dsn string
	reg *registry.Registry
}

func newWorld(t *testing.T, dsn string) *world {
	t.Helper()
	env := registrytest.Env(t, dsn)
	reg, err := registry.Open(t.Context(), registry.Config{Getenv: func(k string) string { return env[k] }, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for _, s := range []string{"billing:read", "docs:read"} {
		if _, err := reg.CreateScope(t.Context(), s, ""); err != nil {
			t.Fatal(err)
		}
	}
	return &world{dsn: dsn, reg: reg}
}

// issueOwnerless declares a token without an owner, which issue would give
// one, and returns the value of its first version.
func (w *world) issueOwnerless(t *testing.T, name string, scopes ...string) string {
	t.Helper()
	spec := registry.TokenSpec{Name: name, Scopes: scopes,
		Lifetime: store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour}}
	if _, err := w.reg.CreateToken(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	iss, err := w.reg.IssueFirst(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return iss.Value
}

// issue declares a token (with the default lifetime when spec has none) and
// returns the value of its first version.
func (w *world) issue(t *testing.T, spec registry.TokenSpec) string {
	t.Helper()
	if spec.Lifetime == (store.Lifetime{}) {
		spec.Lifetime = store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour}
	}
	if spec.Owner == "" {
		spec.Owner = "team-" + spec.Name
	}
	if _, err := w.reg.CreateToken(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	iss, err := w.reg.IssueFirst(t.Context(), spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	return iss.Value
}

// server is a running tokenward serve.
type server struct {
	*process
	url    string
	client *http.Client
}

// serve starts tokenward serve on the world's store, on a free loopback
// port, with TLS when p is set, and waits until /readyz answers 200.
func (w *world) serve(t *testing.T, p *pki, args ...string) *server {
	t.Helper()
	bin := tokenwardBinary(t)
	addr := freeAddr(t)
	args = append([]string{"serve", "--listen", addr}, args...)
	s := &server{url: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}}
	if p != nil {
		args = append(args, "--tls-cert", p.Cert, "--tls-key", p.Key)
		s.url = "https://" + addr
		s.client = p.client("")
	}
	// The store's DSN in the environment: a PostgreSQL one has a password.
	s.process = start(t, "tokenward serve "+addr, []string{"HOME=" + t.TempDir(), registry.EnvStore + "=" + w.dsn}, bin, args...)
	waitHTTP(t, s.process, s.client, s.url+"/readyz", http.StatusOK)
	return s
}

// requests is the sum of tokenward_requests_total over the codes of one
// endpoint, read from /metrics.
func (s *server) requests(t *testing.T, endpoint string) int {
	t.Helper()
	resp, err := s.client.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	total := 0
	label := `endpoint="` + endpoint + `"`
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "tokenward_requests_total{") || !strings.Contains(line, label) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		total += int(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// call is one client request through a gateway and what should come of it.
type call struct {
	name    string
	path    string
	token   string            // sent as Authorization: Bearer; none when empty
	source  string            // the client's loopback address; 127.0.0.1 when empty
	headers map[string]string // more request headers
	status  int
	want    map[string]string // response headers that must have these values
	// challenge is the error the WWW-Authenticate: Bearer challenge must
	// name (RFC 6750), "none" for a challenge without one; unchecked when
	// empty.
	challenge string
}

// do sends c to base and checks the answer.
func (c call) do(t *testing.T, p *pki, base string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, base+c.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := p.client(c.source).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != c.status {
		t.Errorf("GET %s: %s, want %d; headers %v; body %q", c.path, resp.Status, c.status, resp.Header, body)
	}
	for k, v := range c.want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("GET %s: %s is %q, want %q", c.path, k, got, v)
		}
	}
	if c.challenge != "" {
		got := resp.Header.Get("WWW-Authenticate")
		named := strings.Contains(got, "error=")
		if !strings.HasPrefix(got, "Bearer") || (c.challenge == "none") == named || (named && !strings.Contains(got, `error="`+c.challenge+`"`)) {
			t.Errorf("GET %s: WWW-Authenticate is %q, want a Bearer challenge with error %s", c.path, got, c.challenge)
		}
	}
	return resp
}
