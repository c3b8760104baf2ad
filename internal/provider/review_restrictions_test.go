package provider_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// restrictedConfig is two tokens with allowed networks and rate limits,
// and a role. The tokens have no destinations, so the golden report holds
// no path of the machine that made it. The second version lifts
// partner's restrictions and grants it tokenward:introspect, widens
// gateway's networks and raises its limit, and gives gateway's role
// tokenward:introspect.
func restrictedConfig(changed bool) string {
	partner := `  scopes        = [tokenward_scope.read.name]
  allowed_cidrs = ["203.0.113.0/24"]
  rate_limit    = { requests = 100, per = "1m" }`
	supportScopes := `[tokenward_scope.read.name]`
	gateway := `  allowed_cidrs = ["10.0.0.0/16", "2001:db8::/48"]
  rate_limit    = { requests = 1000, per = "1h" }`
	if changed {
		partner = `  scopes        = [tokenward_scope.read.name, "tokenward:introspect"]`
		supportScopes = `[tokenward_scope.read.name, "tokenward:introspect"]`
		gateway = `  allowed_cidrs = ["10.0.0.0/8", "2001:db8::/48", "2001:db8:1::7/128"]
  rate_limit    = { requests = 1000, per = "1m" }`
	}
	return fmt.Sprintf(`
resource "tokenward_scope" "read" { name = "billing:read" }

resource "tokenward_role" "support" {
  name   = "support"
  scopes = %s
}

resource "tokenward_token" "partner" {
  name   = "partner"
  owner  = "billing"
%s
}

resource "tokenward_token" "gateway" {
  name  = "gateway"
  owner = "platform"
  roles = [tokenward_role.support.name]
%s
}
`, supportScopes, partner, gateway)
}

// TestAccReviewRestrictionsGolden: the review of a plan that lifts and
// loosens tokens' restrictions and grants tokenward:introspect is
// internal/review/testdata/restrictions.md.
func TestAccReviewRestrictionsGolden(t *testing.T) {
	env := testEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{Config: restrictedConfig(false)},
			reviewStep(t, "restrictions", restrictedConfig(true)),
		},
	})
}
