package server_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial, and its key, as PEM files.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "tokenward test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
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

// serving runs Serve in the background and returns its address and the
// channel its result arrives on.
func serving(t *testing.T, ctx context.Context, cfg server.Config) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, cfg) }()
	return ln.Addr().String(), done
}

// servedSerial is the serial of the certificate addr serves.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test reads the certificate itself
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestServeReloadsTheCertificate checks that a reload serves the new pair,
// and that a pair that does not load keeps the one in use and says why.
func TestServeReloadsTheCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1)
	logs := &lockedBuffer{}
	reload := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, done := serving(t, ctx, server.Config{Handler: http.NotFoundHandler(), TLSCert: certFile, TLSKey: keyFile,
		Reload: reload, Logger: slog.New(slog.NewTextHandler(logs, nil))})

	waitSerial := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			got := servedSerial(t, addr)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("serving certificate %d, want %d; log:\n%s", got, want, logs.String())
			}
		}
	}
	waitSerial(1)
	writeCert(t, certFile, keyFile, 2)
	reload <- struct{}{}
	waitSerial(2)

	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "TLS certificate not reloaded"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a bad pair was not reported; log:\n%s", logs.String())
		}
	}
	if got := servedSerial(t, addr); got != 2 {
		t.Errorf("after a bad reload serving certificate %d, want the one in use, 2", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestServeShutsDownGracefully checks that once ctx ends no new connection
// is taken while a request in flight still gets its answer.
func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(t.Context())
	addr, done := serving(t, ctx, server.Config{Handler: h, ShutdownTimeout: 30 * time.Second})
	type answer struct {
		body string
		err  error
	}
	inFlight := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inFlight <- answer{string(b), err}
	}()
	<-started
	cancel()
	// Poll until the listener is closed: new connections are refused.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 5s after shutdown began")
		}
	}
	close(release)
	if a := <-inFlight; a.err != nil || a.body != "finished" {
		t.Errorf("the request in flight got %q, %v", a.body, a.err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestServeBoundsShutdown checks that a request that does not finish within
// the bound is cut and reported.
func TestServeBoundsShutdown(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	ctx, cancel := context.WithCancel(t.Context())
	addr, done := serving(t, ctx, server.Config{Handler: h, ShutdownTimeout: 50 * time.Millisecond})
	go func() {
		if resp, err := http.Get("http://" + addr + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	err := <-done
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve returned %v, want the bound exceeded", err)
	}
}

// TestServeRefusesBadConfig checks the errors Serve reports before serving.
func TestServeRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"cert without key", server.Config{TLSCert: "c.pem", Listen: "127.0.0.1:0"}, "both --tls-cert and --tls-key"},
		{"missing files", server.Config{TLSCert: filepath.Join(dir, "c.pem"), TLSKey: filepath.Join(dir, "k.pem"), Listen: "127.0.0.1:0"}, "--tls-cert, --tls-key"},
		{"bad address", server.Config{Listen: "127.0.0.1:notaport"}, "--listen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Handler = http.NotFoundHandler()
			err := server.Serve(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Serve returned %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestSlowBodyIsCut checks the per-route deadline: a client that sends its
// headers and then stalls mid-body gets 408, not a handler waiting forever.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	w := newWorld(t, server.WithRouteTimeout(200*time.Millisecond))
	addr, done := serving(t, t.Context(), server.Config{Handler: w.srv.Handler()})
	_ = done
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = io.WriteString(conn, "POST /v1/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+w.value("caller")+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"token\":")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("a stalled body answered %d, want 408", resp.StatusCode)
	}
}

// TestServeBoundsHeaders checks that headers past MaxHeaderBytes are
// refused before any handler runs.
func TestServeBoundsHeaders(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	addr, _ := serving(t, t.Context(), server.Config{Handler: w.srv.Handler()})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Padding", strings.Repeat("a", 2*server.MaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers of %d bytes answered %d, want 431", 2*server.MaxHeaderBytes, resp.StatusCode)
	}
}
