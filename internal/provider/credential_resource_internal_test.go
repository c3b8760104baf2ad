package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
)

// TestCheckAdminEnvQuotesNothing: a connection string written where a
// variable's name belongs is refused without repeating it.
func TestCheckAdminEnvQuotesNothing(t *testing.T) {
	dsn := "postgres://admin:hunter2@db.internal/billing"
	for _, tc := range []struct {
		name string
		c    issuer.Config
		ok   bool
	}{
		{"postgres DSN", issuer.Config{Postgres: &issuer.PostgresConfig{AdminDSNEnv: dsn}}, false},
		{"mysql DSN", issuer.Config{MySQL: &issuer.MySQLConfig{AdminDSNEnv: "admin:hunter2@tcp(db:3306)/x"}}, false},
		{"redis URL", issuer.Config{Redis: &issuer.RedisConfig{AdminURLEnv: "redis://:hunter2@cache:6379"}}, false},
		{"a name", issuer.Config{Postgres: &issuer.PostgresConfig{AdminDSNEnv: "BILLING_DB_ADMIN_DSN"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var diags diag.Diagnostics
			if got := checkAdminEnv(tc.c, &diags); got != tc.ok {
				t.Fatalf("checkAdminEnv = %v, want %v", got, tc.ok)
			}
			for _, d := range diags {
				if strings.Contains(d.Summary()+d.Detail(), "hunter2") {
					t.Errorf("the diagnostic repeats the password: %s", d.Detail())
				}
			}
			if !tc.ok && (len(diags) != 1 || !strings.Contains(diags[0].Detail(), "looks like a connection string")) {
				t.Errorf("diagnostics %v: want one that says it looks like a connection string", diags)
			}
		})
	}
}
