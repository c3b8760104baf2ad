package review_test

import (
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// TestSecretManagerDestinations: a token's Vault and Secrets Manager
// destinations are listed where they write, and one that is added is
// flagged as a new reach.
func TestSecretManagerDestinations(t *testing.T) {
	before := token("t", "vault_secrets", []any{obj{"path": "apps/billing", "key": nil}})
	after := token("t", "vault_secrets", []any{obj{"path": "apps/billing", "key": nil}, obj{"path": "apps/billing", "key": "API_TOKEN"}})
	after["aws_secrets"] = []any{obj{"name": "billing/api-token"}}
	rep := review.Build(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{change("tokenward_token", "t", update, before, after, nil)}}, review.Options{})
	if len(rep.Changes) != 1 {
		t.Fatalf("changes %+v", rep.Changes)
	}
	ch := rep.Changes[0]
	details := strings.Join(ch.Details, "\n")
	for _, want := range []string{
		"delivered to: Vault KV secret `apps/billing` (field from the token name)",
		"delivered to: +Vault KV secret `apps/billing` field `API_TOKEN`",
		"delivered to: +AWS Secrets Manager secret `billing/api-token`",
	} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q:\n%s", want, details)
		}
	}
	var reach []string
	for _, f := range ch.Flags {
		if strings.Contains(f.Message, "now delivered to") {
			reach = append(reach, f.Message)
		}
	}
	if len(reach) != 2 || !ch.Rotates {
		t.Errorf("flags %v (rotates %v), want two new destinations flagged and a rotation", reach, ch.Rotates)
	}
}
