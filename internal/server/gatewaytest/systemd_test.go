package gatewaytest

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// TestSystemdUnitRunsServe runs the command of the example systemd unit
// with the environment it sets (the paths and the address replaced), so the
// unit's variable names and values are ones tokenward serve takes, and
// checks that the unit keeps its hardening.
func TestSystemdUnitRunsServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "serve", "tokenward-serve.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "User=tokenward", "CapabilityBoundingSet=", "MemoryDenyWriteExecute=yes",
		"EnvironmentFile=/etc/tokenward/serve.env", "ExecReload=/bin/kill -HUP $MAINPID"} {
		k, v, _ := strings.Cut(want, "=")
		found := false
		for _, got := range unit[k] {
			found = found || got == v
		}
		if !found {
			t.Errorf("the unit has no %s", want)
		}
	}

	w := newWorld(t, filepath.Join(dir, "tokenward.db"))
	value := w.issue(t, registry.TokenSpec{Name: "billing-client", Scopes: []string{"billing:read"}, AllowedCIDRs: []string{"192.0.2.0/24"}})
	p := newPKI(t, dir)
	addr := freeAddr(t)
	replace := map[string]string{
		"/etc/tokenward/tls/serve.crt": p.Cert, "/etc/tokenward/tls/serve.key": p.Key, "127.0.0.1:8420": addr,
	}
	env := []string{"HOME=" + dir, registry.EnvStore + "=" + w.dsn} // what the EnvironmentFile holds
	for _, e := range unit["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		if r, ok := replace[v]; ok {
			delete(replace, v)
			v = r
		}
		env = append(env, k+"="+v)
	}
	if len(replace) > 0 {
		t.Fatalf("the unit no longer sets %v: update the test with the example", replace)
	}
	exec := strings.Fields(unit["ExecStart"][0])
	if len(exec) != 2 || exec[0] != "/usr/local/bin/tokenward" || exec[1] != "serve" {
		t.Fatalf("ExecStart is %q, want /usr/local/bin/tokenward serve: update the test with the example", unit["ExecStart"][0])
	}
	proc := start(t, "tokenward serve (the unit's environment)", env, tokenwardBinary(t), exec[1:]...)
	c := p.client("")
	waitHTTP(t, proc, c, "https://"+addr+"/readyz", http.StatusOK)
	// TOKENWARD_TRUSTED_PROXIES taken: the address a proxy on loopback
	// forwards is believed, so a token bound to its network passes.
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/v1/authz?scope=billing:read", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+value)
	req.Header.Set("X-Forwarded-For", "192.0.2.7")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Tokenward-Token") != "billing-client" {
		t.Errorf("forward auth through the unit's serve: %s, X-Tokenward-Token %q", resp.Status, resp.Header.Get("X-Tokenward-Token"))
	}
}
