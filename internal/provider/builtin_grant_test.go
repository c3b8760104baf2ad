package provider_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccBuiltInScopesGrantedOneByOne: a token or role granting a name
// under tokenward: that is not a built-in scope, the wildcard tokenward:*
// above all, is refused at plan time, saying to grant them one by one.
func TestAccBuiltInScopesGrantedOneByOne(t *testing.T) {
	for _, name := range []string{"tokenward:*", "tokenward:admin"} {
		for what, cfg := range map[string]string{
			"token": tokenConfig(fmt.Sprintf("  scopes = [%q]\n", name)),
			"role":  fmt.Sprintf("resource \"tokenward_role\" \"r\" {\n  name   = \"r\"\n  scopes = [%q]\n}\n", name),
		} {
			t.Run(what+" "+name, func(t *testing.T) {
				env := testEnv(t)
				resource.ParallelTest(t, resource.TestCase{
					ProtoV6ProviderFactories: factories(env),
					Steps: []resource.TestStep{{
						Config: cfg, PlanOnly: true,
						ExpectError: phrase("built-in scopes are granted one by one, never by a wildcard such as tokenward:*"),
					}},
				})
			})
		}
	}
}
