package registrytest_test

import (
	"path/filepath"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
)

// TestWorld: the environment opens a new store, and a writer configured
// from it writes a secret to the fake GitHub.
func TestWorld(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env := registrytest.Env(t, filepath.Join(t.TempDir(), "tokenward.db"))
	gh := registrytest.GitHub(t, env, "ghs_world")
	gh.AddRepo("acme/api")
	getenv := func(k string) string { return env[k] }
	reg, err := registry.Open(ctx, registry.Config{Getenv: getenv, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	cfg, ok, err := destination.GitHubConfigFromEnv(getenv)
	if err != nil || !ok {
		t.Fatalf("GitHub from the environment: %v, %v", ok, err)
	}
	if cfg.Pace != 0 {
		t.Errorf("pace = %s, want 0", cfg.Pace)
	}
	w, err := destination.NewGitHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: "acme/api", Name: "DEPLOY_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, d, "value"); err != nil {
		t.Fatal(err)
	}
	if v, ok := gh.RepoSecret("acme/api", "DEPLOY_TOKEN"); !ok || v != "value" {
		t.Fatalf("the fake GitHub holds %q, %v", v, ok)
	}
	if other := registrytest.Env(t, "x"); other[registry.EnvStore] != "x" || other["TOKENWARD_MASTER_KEY"] == env["TOKENWARD_MASTER_KEY"] {
		t.Error("a second environment does not have its own store and key")
	}
}

// TestGitHubWithoutAToken leaves GITHUB_TOKEN unset.
func TestGitHubWithoutAToken(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	gh := registrytest.GitHub(t, env, "")
	if env[destination.EnvGitHubAPIURL] != gh.URL() || env[destination.EnvGitHubPace] != "0s" {
		t.Errorf("env = %v", env)
	}
	if _, set := env[destination.EnvGitHubToken]; set {
		t.Error("GITHUB_TOKEN set without a token")
	}
}
