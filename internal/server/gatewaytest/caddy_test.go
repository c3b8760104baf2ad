package gatewaytest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// startCaddy runs Caddy with the site of examples/serve/Caddyfile in front
// of up, asking tw, and returns the site's http URL.
func startCaddy(t *testing.T, dir string, tw *server, up string) string {
	t.Helper()
	caddy := need(t, "caddy")
	addr := freeAddr(t)
	site := render(t, dir, "Caddyfile",
		"api.example.com {", "http://"+addr+" {",
		"forward_auth 127.0.0.1:8420", "forward_auth "+strings.TrimPrefix(tw.url, "http://"),
		"reverse_proxy 127.0.0.1:8080", "reverse_proxy "+strings.TrimPrefix(up, "http://"),
	)
	b, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	// The global options are the test's own: no admin endpoint, no
	// certificates, state in the test's folder.
	conf := filepath.Join(dir, "Caddyfile.test")
	global := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tstorage file_system %s/caddy\n}\n\n", dir)
	if err := os.WriteFile(conf, append([]byte(global), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "XDG_DATA_HOME=" + dir + "/data", "XDG_CONFIG_HOME=" + dir + "/config"}
	proc := start(t, "caddy", env, caddy, "run", "--config", conf, "--adapter", "caddyfile")
	url := "http://" + addr
	waitHTTP(t, proc, &http.Client{}, url+"/billing/", http.StatusUnauthorized)
	return url
}

// TestCaddyForwardAuth runs the Caddy example: forward_auth asks tokenward
// serve about every request and copies who the caller is to the upstream.
func TestCaddyForwardAuth(t *testing.T) {
	t.Parallel()
	need(t, "caddy")
	dir := openDir(t)
	w := newWorld(t, filepath.Join(dir, "tokenward.db"))
	billing := w.issue(t, registry.TokenSpec{Name: "billing-client", Scopes: []string{"billing:read"}})
	docs := w.issue(t, registry.TokenSpec{Name: "docs-reader", Scopes: []string{"docs:read"}})
	elsewhere := w.issue(t, registry.TokenSpec{Name: "elsewhere", Scopes: []string{"billing:read"}, AllowedCIDRs: []string{"10.0.0.0/8"}})
	ownerless := w.issueOwnerless(t, "ownerless", "billing:read")
	tw := w.serve(t, nil, "--trusted-proxies", "127.0.0.1/32")
	url := startCaddy(t, dir, tw, upstream(t).URL)
	p := &pki{} // plain http: a client with no CA of its own

	forged := map[string]string{"X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.3", "X-Tokenward-Token": "forged"}
	calls := []call{
		{name: "allowed", path: "/billing/invoices", token: billing, headers: forged, status: http.StatusOK,
			want: map[string]string{"X-Upstream-Token": "billing-client", "X-Upstream-Owner": "team-billing-client", "X-Upstream-Scopes": "billing:read"}},
		// tokenward answers an empty X-Tokenward-Owner for a token without
		// an owner: the client's own must not reach the upstream instead.
		{name: "a forged owner of an ownerless token dropped", path: "/billing/invoices", token: ownerless,
			headers: map[string]string{"X-Tokenward-Owner": "forged"}, status: http.StatusOK,
			want: map[string]string{"X-Upstream-Token": "ownerless", "X-Upstream-Owner": ""}},
		{name: "no token", path: "/billing/invoices", status: http.StatusUnauthorized,
			challenge: "none"},
		{name: "malformed token", path: "/billing/invoices", token: "not-a-tokenward-token", status: http.StatusUnauthorized,
			challenge: "invalid_token"},
		{name: "missing scope", path: "/billing/invoices", token: docs, status: http.StatusForbidden,
			want: map[string]string{"X-Tokenward-Code": "insufficient_scope"}},
		{name: "network denied, a forged address ignored", path: "/billing/invoices", token: elsewhere, headers: forged, status: http.StatusForbidden,
			want: map[string]string{"X-Tokenward-Code": "ip_denied"}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			before := tw.requests(t, "authz")
			c.do(t, p, url)
			if n := tw.requests(t, "authz") - before; n != 1 {
				t.Errorf("%d authz requests for one client request, want 1", n)
			}
		})
	}
}
