package review_test

import (
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

func credential(name string, kv ...any) obj {
	o := obj{"name": name, "owner": "team-billing", "ttl": "30d", "rotate_before": "7d", "overlap": "1d",
		"issuer": obj{"postgres": obj{"admin_dsn_env": "BILLING_DB_ADMIN_DSN", "users": []any{"billing_a", "billing_b"}, "member_of": "billing_app"}, "mysql": nil, "redis": nil},
		"files":  []any{obj{"path": "/srv/billing/db.env", "key": "DATABASE_URL", "format": "dotenv", "field": "dsn"}},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		o[kv[i].(string)] = kv[i+1]
	}
	return o
}

// TestCredentialChanges: a credential's changes list with their flags: a
// new issuer, a destination added, an overlap of 0, a destroy; and never a
// value.
func TestCredentialChanges(t *testing.T) {
	redis := obj{"postgres": nil, "mysql": nil, "redis": obj{"admin_url_env": "CACHE_ADMIN_URL", "user": "cache_app"}}
	moreFiles := []any{
		obj{"path": "/srv/billing/db.env", "key": "DATABASE_URL", "format": "dotenv", "field": "dsn"},
		obj{"path": "/srv/reports/db.env", "key": "DATABASE_URL", "format": "dotenv", "field": "dsn"},
	}
	cases := []struct {
		name   string
		change *tfjson.ResourceChange
		want   []string // "level category phrase"
		absent []string // phrases no flag may hold
	}{
		{"created", change("tokenward_credential", "db", create, nil, credential("billing-db"), nil),
			[]string{"info privilege a new credential `billing-db` is issued", "warn privilege a new issuer: tokenward sets the passwords of `billing_a`, `billing_b` at `postgres`", "warn reach `/srv/billing/db.env`"}, nil},
		{"a destination added", change("tokenward_credential", "db", update, credential("billing-db"), credential("billing-db", "files", moreFiles), nil),
			[]string{"warn reach the credential is now delivered to", "info lifetime a new password is staged", "info reach receives the whole connection string"}, []string{"a new issuer"}},
		{"overlap 0", change("tokenward_credential", "db", update, credential("billing-db"), credential("billing-db", "overlap", "0s"), nil),
			[]string{"warn lifetime overlap is 0"}, []string{"a new issuer", "a new password"}},
		{"a new issuer", change("tokenward_credential", "db", replace, credential("billing-db"), credential("billing-db", "issuer", redis), nil),
			[]string{"high breakage is replaced", "warn privilege a new issuer: tokenward sets the passwords of `cache_app` at `redis`"}, nil},
		{"destroyed", change("tokenward_credential", "db", del, credential("billing-db"), nil, nil),
			[]string{"high breakage is retired at its postgres issuer"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := review.Build(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{tc.change}}, review.Options{})
			for _, w := range tc.want {
				parts := strings.SplitN(w, " ", 3)
				l, err := review.ParseLevel(parts[0])
				if err != nil {
					t.Fatal(err)
				}
				if !hasFlag(rep, tc.change.Address, l, review.Category(parts[1]), parts[2]) {
					t.Errorf("no flag %q in %+v", w, rep.Changes[0].Flags)
				}
			}
			for _, a := range tc.absent {
				for _, f := range rep.Changes[0].Flags {
					if strings.Contains(f.Message, a) {
						t.Errorf("flag %q should not be raised", f.Message)
					}
				}
			}
			if rep.Changes[0].Type != "tokenward_credential" || strings.Contains(strings.Join(rep.Changes[0].Details, "\n"), "does not know") {
				t.Errorf("change %+v", rep.Changes[0])
			}
		})
	}
}

// TestCredentialSecretManagerDestinations: a credential's Vault and
// Secrets Manager destinations are listed where they write, with the field
// each receives, and those added are flagged as a new reach.
func TestCredentialSecretManagerDestinations(t *testing.T) {
	after := credential("billing-db",
		"vault_secrets", []any{obj{"path": "apps/billing", "key": "DATABASE_URL", "field": "dsn"}, obj{"path": "apps/billing", "key": nil, "field": nil}},
		"aws_secrets", []any{obj{"name": "billing/db-password", "field": nil}})
	rep := review.Build(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{change("tokenward_credential", "db", update, credential("billing-db"), after, nil)}}, review.Options{})
	if len(rep.Changes) != 1 {
		t.Fatalf("changes %+v", rep.Changes)
	}
	ch := rep.Changes[0]
	details := strings.Join(ch.Details, "\n")
	for _, want := range []string{
		"delivered to: +Vault KV secret `apps/billing` field `DATABASE_URL`",
		"delivered to: +Vault KV secret `apps/billing` (field from the credential's name)",
		"delivered to: +AWS Secrets Manager secret `billing/db-password`",
		"vault_secrets[0] receives: `dsn`",
		"vault_secrets[1] receives: `password`",
		"aws_secrets[0] receives: `password`",
	} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q:\n%s", want, details)
		}
	}
	var reach, whole int
	for _, f := range ch.Flags {
		if strings.Contains(f.Message, "now delivered to") {
			reach++
		}
		if strings.Contains(f.Message, "receives the whole connection string") && strings.Contains(f.Message, "Vault KV secret") {
			whole++
		}
	}
	if reach != 3 || whole != 1 || !ch.Rotates {
		t.Errorf("flags %+v (rotates %v), want three new destinations, one whole connection string and a rotation", ch.Flags, ch.Rotates)
	}
}
