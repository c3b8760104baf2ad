// Package registrytest builds the world that tests of the registry's
// callers share: the environment of a store with a throwaway master key,
// and a fake GitHub that environment reaches. Only tests import it.
package registrytest

import (
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
)

// Env is the environment of the store at dsn with a new throwaway master
// key, as registry.Open reads it. The store is not created here.
func Env(t testing.TB, dsn string) map[string]string {
	t.Helper()
	return map[string]string{registry.EnvStore: dsn, seal.EnvKey: sealtest.Encoded(t)}
}

// GitHub starts a fake GitHub and adds to env what reaches it, with pacing
// off; with a token, the token may write secrets and is env's GITHUB_TOKEN.
func GitHub(t testing.TB, env map[string]string, token string) *githubtest.Server {
	t.Helper()
	gh := githubtest.New(t)
	env[destination.EnvGitHubAPIURL] = gh.URL()
	env[destination.EnvGitHubPace] = "0s"
	if token != "" {
		gh.AddToken(token, true)
		env[destination.EnvGitHubToken] = token
	}
	return gh
}
