package policy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
)

// TestCheckHoneytoken: a honeytoken's scopes and roles grant nothing, so
// forbidden_scopes does not apply to them; every other rule does, as to
// any token.
func TestCheckHoneytoken(t *testing.T) {
	t.Parallel()
	strict := policy.Policy{MaxTTL: 30 * duration.Day, MinOverlap: time.Hour, RequireOwner: true,
		ForbiddenScopes: []string{"admin:*"}, AllowedRepositories: []string{"other/*"}, AllowedPaths: []string{"/srv/**"}}
	tk := base()
	tk.Owner = ""
	tk.Scopes = []string{"admin:*", "billing:read"}
	tk.Roles = map[string][]string{"root": {"admin:write"}}
	real := fields(strict.CheckToken(tk))
	tk.Honeytoken = true
	decoy := fields(strict.CheckToken(tk))
	wantReal := []string{"owner", "scopes", "roles", "ttl", "github_secrets[0].repository", "files[0].path"}
	wantDecoy := []string{"owner", "ttl", "github_secrets[0].repository", "files[0].path"}
	if !slices.Equal(real, wantReal) {
		t.Errorf("a real token breaks %v, want %v", real, wantReal)
	}
	if !slices.Equal(decoy, wantDecoy) {
		t.Errorf("a honeytoken breaks %v, want %v", decoy, wantDecoy)
	}
}
