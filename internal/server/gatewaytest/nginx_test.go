package gatewaytest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// startNginx runs nginx with the site examples/serve/nginx.conf (and its
// snippet) in front of up, asking tw, and returns the site's https URL.
func startNginx(t *testing.T, dir string, p *pki, tw *server, up string) string {
	t.Helper()
	nginx := need(t, "nginx")
	addr := freeAddr(t)
	www := filepath.Join(dir, "www", "docs")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("the docs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	snippet := render(t, dir, "tokenward-identity.conf")
	site := render(t, dir, "nginx.conf",
		"server 127.0.0.1:8420;", "server "+strings.TrimPrefix(tw.url, "http://")+";",
		"server 127.0.0.1:8080;", "server "+strings.TrimPrefix(up, "http://")+";",
		"listen 443 ssl;", "listen "+addr+" ssl;",
		"/etc/ssl/certs/api.example.com.pem", p.Cert,
		"/etc/ssl/private/api.example.com.key", p.Key,
		"/etc/nginx/snippets/tokenward-identity.conf", snippet,
		"root /srv/www;", "root "+filepath.Join(dir, "www")+";",
	)
	// The main context is the test's own: the site is what is tested.
	temp := filepath.Join(dir, "temp")
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers read the test's files
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
pid %s/nginx.pid;
error_log stderr notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[3]s/body;
    proxy_temp_path %[3]s/proxy;
    fastcgi_temp_path %[3]s/fastcgi;
    uwsgi_temp_path %[3]s/uwsgi;
    scgi_temp_path %[3]s/scgi;
    include %[4]s;
}
`, user, dir, temp, site)
	conf := filepath.Join(dir, "nginx-main.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(temp, 0o755); err != nil {
		t.Fatal(err)
	}
	proc := start(t, "nginx", nil, nginx, "-e", "stderr", "-p", dir, "-c", conf, "-g", "daemon off;")
	url := "https://" + addr
	// Unauthenticated: a 401 says nginx and tokenward both answer.
	waitHTTP(t, proc, p.client(""), url+"/billing/", http.StatusUnauthorized)
	return url
}

// TestNginxAuthRequest runs the nginx example in front of an upstream, with
// tokenward serve answering its auth_request subrequests: each client
// request is allowed or refused as its token says, with exactly one
// verification for it.
func TestNginxAuthRequest(t *testing.T) {
	t.Parallel()
	need(t, "nginx")
	dir := openDir(t)
	w := newWorld(t, filepath.Join(dir, "tokenward.db"))
	billing := w.issue(t, registry.TokenSpec{Name: "billing-client", Scopes: []string{"billing:read"}})
	docs := w.issue(t, registry.TokenSpec{Name: "docs-reader", Scopes: []string{"docs:read"}})
	elsewhere := w.issue(t, registry.TokenSpec{Name: "elsewhere", Scopes: []string{"billing:read"}, AllowedCIDRs: []string{"10.0.0.0/8"}})
	second := w.issue(t, registry.TokenSpec{Name: "from-127-0-0-2", Scopes: []string{"billing:read"}, AllowedCIDRs: []string{"127.0.0.2/32"}})
	limited := w.issue(t, registry.TokenSpec{Name: "limited", Scopes: []string{"billing:read"}, RateLimit: store.RateLimit{Requests: 2, Per: time.Hour}})
	destroyed := w.issue(t, registry.TokenSpec{Name: "destroyed", Scopes: []string{"billing:read"}})
	if err := w.reg.DeleteToken(t.Context(), "destroyed"); err != nil {
		t.Fatal(err)
	}

	p := newPKI(t, dir)
	ownerless := w.issueOwnerless(t, "ownerless", "billing:read")
	tw := w.serve(t, nil, "--trusted-proxies", "127.0.0.1/32")
	url := startNginx(t, dir, p, tw, upstream(t).URL)

	forged := map[string]string{"X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.3", "X-Tokenward-Token": "forged"}
	calls := []call{
		{name: "allowed", path: "/billing/invoices?month=11", token: billing, status: http.StatusOK,
			want: map[string]string{"X-Upstream-Token": "billing-client", "X-Upstream-Owner": "team-billing-client", "X-Upstream-Scopes": "billing:read"}},
		{name: "allowed, a forged identity replaced", path: "/billing/invoices", token: billing, headers: forged, status: http.StatusOK,
			want: map[string]string{"X-Upstream-Token": "billing-client"}},
		// tokenward answers an empty X-Tokenward-Owner for a token without
		// an owner: the client's own must not reach the upstream instead.
		{name: "a forged owner of an ownerless token dropped", path: "/billing/invoices", token: ownerless,
			headers: map[string]string{"X-Tokenward-Owner": "forged"}, status: http.StatusOK,
			want: map[string]string{"X-Upstream-Token": "ownerless", "X-Upstream-Owner": ""}},
		{name: "static index through try_files", path: "/docs/", token: docs, status: http.StatusOK},
		{name: "no token", path: "/billing/invoices", status: http.StatusUnauthorized,
			challenge: "none"},
		{name: "malformed token", path: "/billing/invoices", token: "not-a-tokenward-token", status: http.StatusUnauthorized,
			challenge: "invalid_token"},
		{name: "destroyed token", path: "/billing/invoices", token: destroyed, status: http.StatusUnauthorized,
			challenge: "invalid_token"},
		{name: "missing scope", path: "/billing/invoices", token: docs, status: http.StatusForbidden,
			want: map[string]string{"X-Tokenward-Code": "insufficient_scope"}},
		{name: "network denied", path: "/billing/invoices", token: elsewhere, status: http.StatusForbidden,
			want: map[string]string{"X-Tokenward-Code": "ip_denied"}},
		{name: "network denied, a forged address ignored", path: "/billing/invoices", token: elsewhere, headers: forged, status: http.StatusForbidden,
			want: map[string]string{"X-Tokenward-Code": "ip_denied"}},
		// nginx reaches tokenward from 127.0.0.1; X-Real-IP carries the client's.
		{name: "client address forwarded, allowed", path: "/billing/invoices", token: second, source: "127.0.0.2", status: http.StatusOK,
			want: map[string]string{"X-Upstream-Token": "from-127-0-0-2"}},
		{name: "client address forwarded, denied", path: "/billing/invoices", token: second, source: "127.0.0.3", status: http.StatusForbidden,
			want: map[string]string{"X-Tokenward-Code": "ip_denied"}},
		{name: "rate limit, first", path: "/billing/invoices", token: limited, status: http.StatusOK},
		{name: "rate limit, second", path: "/billing/invoices", token: limited, status: http.StatusOK},
		{name: "rate limit, past it", path: "/billing/invoices", token: limited, status: http.StatusForbidden,
			want: map[string]string{"X-Tokenward-Code": "rate_limited"}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			before := tw.requests(t, "authz")
			resp := c.do(t, p, url)
			if c.want["X-Tokenward-Code"] == "rate_limited" && resp.Header.Get("Retry-After") == "" {
				t.Errorf("a rate-limited answer has no Retry-After")
			}
			if n := tw.requests(t, "authz") - before; n != 1 {
				t.Errorf("%d authz requests for one client request, want 1", n)
			}
		})
	}
}
