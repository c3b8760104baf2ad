package provider_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestAccTokenRestrictions: allowed_cidrs and rate_limit are stored on
// create, changed and removed in place without a new value, shown by the
// data source, and another spelling of the same window plans no change.
func TestAccTokenRestrictions(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env, "users:read")
	file := filepath.Join(t.TempDir(), "token")
	var first string
	config := func(restrictions string) string {
		return tokenConfig(fmt.Sprintf("  scopes = [\"users:read\"]\n%s\n  files = [{ path = %q, format = \"raw\" }]\n", restrictions, file)) +
			`data "tokenward_token" "t" { name = tokenward_token.t.name }`
	}
	stored := func(cidrs []string, rl store.RateLimit) resource.TestCheckFunc {
		return func(*terraform.State) error {
			ti, err := reg.Token(context.Background(), "ci-deploy")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(ti.AllowedCIDRs, cidrs) || ti.RateLimit != rl {
				return fmt.Errorf("store holds allowed %v, rate %+v; want %v, %+v", ti.AllowedCIDRs, ti.RateLimit, cidrs, rl)
			}
			return nil
		}
	}
	sameValue := func(*terraform.State) error {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if v := strings.TrimSpace(string(raw)); v != first {
			return fmt.Errorf("the file holds %s, want the first value %s: a restriction change rotated the token", token.Fingerprint(v), token.Fingerprint(first))
		}
		return verifies(reg, first, token.Valid, "users:read")
	}
	inPlace := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
		plancheck.ExpectResourceAction(tokenAddr, plancheck.ResourceActionUpdate),
		plancheck.ExpectKnownValue(tokenAddr, tfjsonPath("fingerprint"), knownString(func() string { return token.Fingerprint(first) })),
	}}
	const ds = "data.tokenward_token.t"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: config(`  allowed_cidrs = ["10.0.0.0/8", "2001:db8::/32"]
  rate_limit    = { requests = 100, per = "1m" }`),
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						raw, err := os.ReadFile(file)
						first = strings.TrimSpace(string(raw))
						return err
					},
					stored([]string{"10.0.0.0/8", "2001:db8::/32"}, store.RateLimit{Requests: 100, Per: time.Minute}),
					resource.TestCheckResourceAttr(tokenAddr, "allowed_cidrs.#", "2"),
					resource.TestCheckTypeSetElemAttr(tokenAddr, "allowed_cidrs.*", "2001:db8::/32"),
					resource.TestCheckResourceAttr(tokenAddr, "rate_limit.requests", "100"),
					resource.TestCheckResourceAttr(tokenAddr, "rate_limit.per", "1m"),
					resource.TestCheckResourceAttr(ds, "allowed_cidrs.#", "2"),
					resource.TestCheckTypeSetElemAttr(ds, "allowed_cidrs.*", "10.0.0.0/8"),
					resource.TestCheckResourceAttr(ds, "rate_limit.requests", "100"),
					resource.TestCheckResourceAttr(ds, "rate_limit.per", "1m"),
				),
			},
			{
				// The same window spelled another way is no change.
				Config: config(`  allowed_cidrs = ["10.0.0.0/8", "2001:db8::/32"]
  rate_limit    = { requests = 100, per = "60s" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				// A network added and the limit raised: in place, same value.
				Config: config(`  allowed_cidrs = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]
  rate_limit    = { requests = 500, per = "1h" }`),
				ConfigPlanChecks: inPlace,
				Check: resource.ComposeAggregateTestCheckFunc(
					stored([]string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}, store.RateLimit{Requests: 500, Per: time.Hour}),
					sameValue,
					resource.TestCheckResourceAttr(tokenAddr, "allowed_cidrs.#", "3"),
					resource.TestCheckResourceAttr(tokenAddr, "rate_limit.per", "1h"),
				),
			},
			{
				// An import reads the restrictions back from the store.
				ResourceName: tokenAddr, ImportState: true, ImportStateId: "ci-deploy", ImportStateVerify: true,
			},
			{
				// Both removed: in place, the store holds none.
				Config:           config(""),
				ConfigPlanChecks: inPlace,
				Check: resource.ComposeAggregateTestCheckFunc(
					stored(nil, store.RateLimit{}),
					sameValue,
					resource.TestCheckNoResourceAttr(tokenAddr, "allowed_cidrs"),
					resource.TestCheckNoResourceAttr(tokenAddr, "rate_limit"),
					resource.TestCheckResourceAttr(ds, "allowed_cidrs.#", "0"),
					resource.TestCheckNoResourceAttr(ds, "rate_limit"),
				),
			},
			{ResourceName: tokenAddr, ImportState: true, ImportStateId: "ci-deploy", ImportStateVerify: true},
		},
	})
}

// TestAccTokenRestrictionsInvalid: a bad network or rate limit fails at
// plan time on its attribute, saying what to write instead.
func TestAccTokenRestrictionsInvalid(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"host bits set", `allowed_cidrs = ["10.0.0.1/8"]`, `allowed_cidrs: "10.0.0.1/8" has bits set past its prefix length: write 10.0.0.0/8 for the whole network, or 10.0.0.1/32 for the one address`},
		{"upper-case IPv6", `allowed_cidrs = ["2001:DB8::/32"]`, `"2001:DB8::/32" is not written canonically: write 2001:db8::/32`},
		{"an address", `allowed_cidrs = ["192.0.2.7"]`, `"192.0.2.7" is an address, not a network: write 192.0.2.7/32`},
		{"not a CIDR", `allowed_cidrs = ["office"]`, `"office" is not a CIDR`},
		{"prefix too long", `allowed_cidrs = ["10.0.0.0/40"]`, `"10.0.0.0/40" is not a CIDR`},
		{"no requests", `rate_limit = { requests = 0, per = "1m" }`, `rate_limit.requests: 0 must be at least 1`},
		{"window too short", `rate_limit = { requests = 10, per = "500ms" }`, `rate_limit.per: 500ms is shorter than 1s`},
		{"window not a duration", `rate_limit = { requests = 10, per = "a minute" }`, `Invalid duration`},
		{"window missing", `rate_limit = { requests = 10 }`, `attribute "per" is required`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(env),
				Steps:                    []resource.TestStep{{Config: tokenConfig("  " + tc.body), PlanOnly: true, ExpectError: phrase(tc.want)}},
			})
		})
	}
}

// TestAccBuiltInScopes: tokenward_scope refuses a tokenward: name at plan
// time, and a token grants the built-in scope without declaring it.
func TestAccBuiltInScopes(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		for _, name := range []string{registry.ScopeIntrospect, "tokenward:admin"} {
			t.Run(name, func(t *testing.T) {
				env := testEnv(t)
				resource.ParallelTest(t, resource.TestCase{
					ProtoV6ProviderFactories: factories(env),
					Steps: []resource.TestStep{{
						Config: scopeConfig(name, "mine"), PlanOnly: true,
						ExpectError: phrase("Remove this tokenward_scope; tokens and roles can grant the scope without it"),
					}},
				})
			})
		}
	})
	t.Run("granted", func(t *testing.T) {
		env := testEnv(t)
		reg := tokenRegistry(t, env)
		file := filepath.Join(t.TempDir(), "token")
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: factories(env),
			Steps: []resource.TestStep{{
				Config: tokenConfig(fmt.Sprintf("  scopes = [%q]\n  files = [{ path = %q, format = \"raw\" }]\n", registry.ScopeIntrospect, file)),
				Check: func(*terraform.State) error {
					raw, err := os.ReadFile(file)
					if err != nil {
						return err
					}
					return verifies(reg, strings.TrimSpace(string(raw)), token.Valid, registry.ScopeIntrospect)
				},
			}},
		})
	})
}
