package provider_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestAccTokenDataSourceLastUsed: the data source shows no last use until
// the usage log records one, then the newest one's time and address.
func TestAccTokenDataSourceLastUsed(t *testing.T) {
	env := testEnv(t)
	reg := tokenRegistry(t, env, "users:read")
	path := filepath.Join(t.TempDir(), "token")
	cfg := tokenConfig(fmt.Sprintf("  scopes = [\"users:read\"]\n  files = [{ path = %q, format = \"raw\" }]\n", path)) +
		`data "tokenward_token" "t" { name = tokenward_token.t.name }`
	const ds = "data.tokenward_token.t"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr(ds, "last_used_at"),
					resource.TestCheckNoResourceAttr(ds, "last_used_ip"),
				),
			},
			{
				PreConfig: func() {
					ti, err := reg.Token(t.Context(), "ci-deploy")
					if err != nil {
						t.Fatal(err)
					}
					u, err := reg.UsageLog()
					if err != nil {
						t.Fatal(err)
					}
					at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
					if err := u.AppendUsage(t.Context(), []store.UsageEvent{
						{At: at, TokenID: ti.ID, TokenName: ti.Name, Code: "valid", SourceIP: "192.0.2.7"},
						{At: at.Add(time.Hour), TokenID: ti.ID, TokenName: ti.Name, Code: "insufficient_scope", SourceIP: "2001:db8::9"},
						{At: at.Add(2 * time.Hour), TokenID: "another", TokenName: "other", Code: "valid", SourceIP: "198.51.100.1"},
					}); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "last_used_at", "2026-12-01T09:00:00Z"),
					resource.TestCheckResourceAttr(ds, "last_used_ip", "2001:db8::9"),
				),
			},
		},
	})
}
