package provider_test

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccPolicyOnRevokedVersionUsed: the provider's policy block takes
// on_revoked_version_used = "alert" or "revoke" (which tokenward serve
// reads from the policy file) and refuses anything else at plan time.
func TestAccPolicyOnRevokedVersionUsed(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  string // empty: accepted
	}{
		{"revoke", ""},
		{"alert", ""},
		{"explode", `(?s)Invalid policy.*must be "alert" or "revoke"`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			env := testEnv(t)
			step := resource.TestStep{
				Config:   `provider "tokenward" { policy = { on_revoked_version_used = "` + tc.value + `" } }` + "\n" + tokenConfig(""),
				PlanOnly: true, ExpectNonEmptyPlan: true,
			}
			if tc.want != "" {
				step.ExpectError = regexp.MustCompile(tc.want)
			}
			resource.ParallelTest(t, resource.TestCase{ProtoV6ProviderFactories: factories(env), Steps: []resource.TestStep{step}})
		})
	}
}
