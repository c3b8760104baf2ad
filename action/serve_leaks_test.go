package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestServeLeakSettings: a webhook secret file that cannot be read or is
// empty, and GitHub settings that do not parse, stop serve naming what to
// fix.
func TestServeLeakSettings(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		w    world
		args []string
		want string
	}{
		{"missing secret file", w, []string{"serve", "--github-webhook-secret-file", "/nonexistent/secret"}, "--github-webhook-secret-file"},
		{"empty secret file from the environment", w.with(envWebhookSecretFile, empty), []string{"serve"}, "is empty"},
		{"bad GitHub pace", w.with("GITHUB_TOKEN", "ghs_x", "TOKENWARD_GITHUB_PACE", "soon"), []string{"serve"}, "GitHub credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.w.run(t, "", tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", r.code, exitUsage, tc.want, r.stderr)
			}
		})
	}
}

// TestServeLeakWebhook: `tokenward serve` with a master key, GitHub
// credentials and a webhook secret answers a secret_scanning_alert for a
// live token by rotating it (the new value is in the GitHub secret), and
// resolves the alert; its log holds no value.
func TestServeLeakWebhook(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	env := registrytest.Env(t, filepath.Join(dir, "tw.db"))
	gh := registrytest.GitHub(t, env, "ghs_serve")
	gh.AddRepo("acme/api")
	getenv := func(k string) string { return env[k] }
	reg, err := registry.Open(ctx, registry.Config{Getenv: getenv, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.CreateScope(ctx, "billing:read", ""); err != nil {
		t.Fatal(err)
	}
	d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: "acme/api", Name: "DEPLOY_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: "deploy", Scopes: []string{"billing:read"},
		Lifetime:     store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour},
		Destinations: []store.Destination{d}}); err != nil {
		t.Fatal(err)
	}
	writer, err := githubWriter(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotation.New(reg, destination.NewRouter(writer)).Rotate(ctx, "deploy"); err != nil {
		t.Fatal(err)
	}
	leaked, _ := gh.RepoSecret("acme/api", "DEPLOY_TOKEN")
	secret := []byte("hook-secret")
	env[envWebhookSecretFile] = filepath.Join(dir, "webhook.secret")
	if err := os.WriteFile(env[envWebhookSecretFile], append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, base, out := startServe(t, env, "--listen", "127.0.0.1:0")
	n := gh.AddScanningAlert("acme/api", leaked)
	resp, err := gh.SendAlertWebhook(ctx, http.DefaultClient, base+"/v1/leaks/github-webhook", secret, "acme/api", n, "created")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "true_positive") {
		t.Fatalf("delivery: %d %s\n%s", resp.StatusCode, b, out.String())
	}
	fresh, _ := gh.RepoSecret("acme/api", "DEPLOY_TOKEN")
	if fresh == leaked {
		t.Fatalf("the GitHub secret still holds the leaked value\n%s", out.String())
	}
	for value, want := range map[string]token.Code{leaked: token.Revoked, fresh: token.Valid} {
		if res, err := reg.Verify(ctx, value, nil); err != nil || res.Code != want {
			t.Errorf("%s: %s, %v; want %s", token.Fingerprint(value), res.Code, err, want)
		}
	}
	if a, _ := gh.Alert("acme/api", n); a.State != "resolved" || a.Resolution != "revoked" {
		t.Errorf("the GitHub alert: %+v", a)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	log := out.String()
	for _, v := range []string{leaked, fresh, string(secret)} {
		if strings.Contains(log, v) {
			t.Fatalf("serve's output holds a secret:\n%s", log)
		}
	}
	if !strings.Contains(log, "revoked a version reported leaked") {
		t.Errorf("serve did not log the revocation:\n%s", log)
	}
}
