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

// apacheModules are the modules the Apache example needs, beside the
// event MPM; Debian's a2enmod would enable them.
var apacheModules = []string{"authn_core", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "headers", "auth_openidc"}

// startApache runs Apache with the virtual host examples/serve/apache.conf,
// introspecting with tw over TLS as the caller whose value is secret, in
// front of up, and returns the site's https URL.
func startApache(t *testing.T, dir string, p *pki, tw *server, up, secret string) string {
	t.Helper()
	apache := need(t, "apache2")
	modules := "/usr/lib/apache2/modules"
	if _, err := os.Stat(filepath.Join(modules, "mod_auth_openidc.so")); err != nil {
		missing(t, "libapache2-mod-auth-openidc", err)
	}
	addr := freeAddr(t)
	site := render(t, dir, "apache.conf",
		"<VirtualHost *:443>", "<VirtualHost "+addr+">",
		"https://tokenward.internal:8420", tw.url,
		"http://127.0.0.1:8080", up,
		"/etc/ssl/certs/api.example.com.pem", p.Cert,
		"/etc/ssl/private/api.example.com.key", p.Key,
		"/etc/tokenward/ca.pem", p.CA,
	)
	var load strings.Builder
	for _, m := range append([]string{"mpm_event"}, apacheModules...) {
		fmt.Fprintf(&load, "LoadModule %s_module %s/mod_%s.so\n", m, modules, m)
	}
	// The server config is the test's own: the virtual host is what is
	// tested. mod_auth_openidc refuses to run as root.
	main := fmt.Sprintf(`ServerRoot %[1]s
ServerName 127.0.0.1
PidFile %[1]s/httpd.pid
ErrorLog /dev/stderr
LogLevel warn
Listen %[2]s
User www-data
Group www-data
Mutex pthread default
%[3]s
Include %[4]s
`, dir, addr, load.String(), site)
	conf := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	// The caller's value reaches Apache as the example says: in its
	// environment, never in a file of the repository or an argument.
	proc := start(t, "apache2", []string{"TOKENWARD_CLIENT_SECRET=" + secret}, apache, "-f", conf, "-DFOREGROUND")
	url := "https://" + addr
	waitHTTP(t, proc, p.client(""), url+"/billing/", http.StatusUnauthorized)
	return url
}

// TestApacheOAuth2ResourceServer runs the Apache example: mod_auth_openidc
// introspects every bearer token with tokenward serve over TLS, as the
// caller apache-gateway, and checks the scope with Require claim.
func TestApacheOAuth2ResourceServer(t *testing.T) {
	t.Parallel()
	need(t, "apache2")
	dir := openDir(t)
	w := newWorld(t, filepath.Join(dir, "tokenward.db"))
	caller := w.issue(t, registry.TokenSpec{Name: "apache-gateway", Scopes: []string{"tokenward:introspect"}})
	billing := w.issue(t, registry.TokenSpec{Name: "billing-client", Scopes: []string{"billing:read"}})
	docs := w.issue(t, registry.TokenSpec{Name: "docs-reader", Scopes: []string{"docs:read"}})
	// Apache sends no client address, so a token bound to networks is
	// inactive through it, even one bound to where the client is.
	bound := w.issue(t, registry.TokenSpec{Name: "bound", Scopes: []string{"billing:read"}, AllowedCIDRs: []string{"127.0.0.0/8"}})
	p := newPKI(t, dir)
	tw := w.serve(t, p)
	url := startApache(t, dir, p, tw, upstream(t).URL, caller)

	calls := []call{
		{name: "allowed", path: "/billing/invoices", token: billing, status: http.StatusOK,
			want: map[string]string{"X-Upstream-Client-Id": "billing-client"}},
		{name: "lacking the scope Require claim asks", path: "/billing/invoices", token: docs, status: http.StatusForbidden,
			want: map[string]string{"WWW-Authenticate": `Bearer error="insufficient_scope", error_description="Different scope(s) or other claims required"`}},
		{name: "unknown token", path: "/billing/invoices", token: "not-a-tokenward-token", status: http.StatusUnauthorized},
		{name: "allowed_cidrs without a client address", path: "/billing/invoices", token: bound, status: http.StatusUnauthorized},
		{name: "no token", path: "/billing/invoices", status: http.StatusUnauthorized},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			before := tw.requests(t, "introspect")
			c.do(t, p, url)
			// No cache (OIDCOAuthTokenIntrospectionInterval -1): every
			// request with a token is asked about.
			want := 1
			if c.token == "" {
				want = 0
			}
			if n := tw.requests(t, "introspect") - before; n != want {
				t.Errorf("%d introspection requests for one client request, want %d", n, want)
			}
		})
	}
}
