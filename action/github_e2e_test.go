package main

import (
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
)

// TestRotateToGitHubEndToEnd issues a token to every kind of GitHub secret
// and a file, then rotates it with the command as a workflow would, and
// checks what the fake GitHub and the file hold, what verifies when, and
// that nothing printed shows a value.
func TestRotateToGitHubEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	gh := registrytest.GitHub(t, w.env, "ghs_rotator")
	gh.AddRepo("acme/api")
	gh.AddRepo("acme/web")
	gh.AddEnvironment("acme/api", "prod")
	gh.AddOrg("acme")

	dir := t.TempDir()
	envFile := filepath.Join(dir, "deploy.env")
	var ds []store.Destination
	for _, d := range []struct {
		kind string
		c    destination.Config
	}{
		{destination.KindRepositorySecret, destination.Config{Repository: "acme/api", Name: "DEPLOY_TOKEN"}},
		{destination.KindRepositorySecret, destination.Config{Repository: "acme/api", Environment: "prod", Name: "DEPLOY_TOKEN"}},
		{destination.KindOrganizationSecret, destination.Config{Organization: "acme", Name: "DEPLOY_TOKEN", Visibility: destination.VisibilitySelected, Repositories: []string{"api", "acme/web"}}},
		{destination.KindDependabotSecret, destination.Config{Repository: "acme/web", Name: "DEPLOY_TOKEN"}},
		{destination.KindFile, destination.Config{Path: envFile, Key: "DEPLOY_TOKEN", Format: destination.FormatDotenv}},
	} {
		dd, err := destination.New(d.kind, d.c)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, dd)
	}
	reg, err := registry.Open(ctx, registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: "deploy", Scopes: []string{"billing:read"},
		Lifetime:     store.Lifetime{TTL: 30 * 24 * time.Hour, RotateBefore: 7 * 24 * time.Hour, Overlap: 24 * time.Hour},
		Destinations: ds}); err != nil {
		t.Fatal(err)
	}
	writer, err := githubWriter(w.getenv)
	if err != nil || writer == nil {
		t.Fatalf("GitHub writer from the environment: %v", err)
	}
	if _, err := rotation.New(reg, destination.NewRouter(writer)).Rotate(ctx, "deploy"); err != nil {
		t.Fatal(err)
	}
	reg.Close()

	held := func() []string {
		a, _ := gh.RepoSecret("acme/api", "DEPLOY_TOKEN")
		b, _ := gh.EnvSecret("acme/api", "prod", "DEPLOY_TOKEN")
		c, vis, ids, _ := gh.OrgSecret("acme", "DEPLOY_TOKEN")
		if vis != "selected" || len(ids) != 2 {
			t.Fatalf("organization secret visibility %q, repositories %v", vis, ids)
		}
		d, _ := gh.DependabotSecret("acme/web", "DEPLOY_TOKEN")
		return []string{a, b, c, d, readValueKey(t, envFile, "DEPLOY_TOKEN")}
	}
	first := held()
	for _, v := range first {
		if v != first[0] || !strings.HasPrefix(v, "tw_") {
			t.Fatalf("destinations hold %q after the first issue", first)
		}
	}

	dir2 := t.TempDir()
	outFile, summaryFile := filepath.Join(dir2, "output"), filepath.Join(dir2, "summary")
	os.WriteFile(outFile, nil, 0o600)
	os.WriteFile(summaryFile, nil, 0o600)
	puts := gh.Count("PUT ")
	keys := gh.Count("/public-key")
	r := w.with("TOKENWARD_NOW", "2026-12-21T09:00:00Z", "GITHUB_ACTIONS", "true",
		"GITHUB_OUTPUT", outFile, "GITHUB_STEP_SUMMARY", summaryFile).run(t, "", "rotate")
	if r.code != 0 {
		t.Fatalf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	second := held()
	for _, v := range second {
		if v != second[0] || v == first[0] {
			t.Fatalf("destinations after rotation: %q", second)
		}
	}
	if n := gh.Count("PUT ") - puts; n != 4 {
		t.Fatalf("the rotation made %d secret writes, want 4", n)
	}
	if n := gh.Count("/public-key") - keys; n != 4 {
		t.Fatalf("the rotation fetched %d public keys, want one per scope (4)", n)
	}
	outputs, _ := os.ReadFile(outFile)
	summary, _ := os.ReadFile(summaryFile)
	for what, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "outputs": string(outputs), "summary": string(summary)} {
		noValueOutsideMasks(t, what, text, first[0], second[0], "ghs_rotator")
	}
	if !strings.Contains(r.stdout, "::add-mask::"+second[0]) {
		t.Fatal("the new value was not masked")
	}
	for _, tc := range []struct {
		value, now string
		exit       int
		code       string
	}{
		{second[0], "2026-12-21T09:00:01Z", 0, `"valid"`},
		{first[0], "2026-12-22T08:59:59Z", 0, `"valid"`},
		{first[0], "2026-12-22T09:00:00Z", 1, `"expired"`},
	} {
		r := w.with("TOKENWARD_NOW", tc.now).run(t, tc.value, "verify", "--scope", "billing:read")
		if r.code != tc.exit || !strings.Contains(r.stdout, tc.code) {
			t.Fatalf("verify at %s: exit %d\n%s", tc.now, r.code, r.stdout)
		}
	}
	if r := w.run(t, "", "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify: %s%s", r.stdout, r.stderr)
	}
}

func readValueKey(t *testing.T, path, key string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}
