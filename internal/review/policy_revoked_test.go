package review_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// TestLoadPolicyOnRevokedVersionUsed: the policy file review and serve
// read takes on_revoked_version_used, bare or in a policy block, and
// refuses a value other than alert or revoke.
func TestLoadPolicyOnRevokedVersionUsed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, text, want, err string
	}{
		{"bare", "p.hcl", `on_revoked_version_used = "revoke"`, "revoke", ""},
		{"in a block", "p.hcl", "policy = {\n  on_revoked_version_used = \"alert\"\n}\n", "alert", ""},
		{"json", "p.json", `{"on_revoked_version_used": "revoke"}`, "revoke", ""},
		{"unset", "p.hcl", `max_ttl = "30d"`, "", ""},
		{"bad value", "p.hcl", `on_revoked_version_used = "explode"`, "", `on_revoked_version_used: must be "alert" or "revoke"`},
		{"not a string", "p.hcl", `on_revoked_version_used = true`, "", `on_revoked_version_used must be "alert" or "revoke"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := review.LoadPolicy(path)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one saying %s", err, tc.err)
			case tc.err == "" && err != nil:
				t.Errorf("refused: %v", err)
			case err == nil && p.OnRevokedVersionUsed != tc.want:
				t.Errorf("on_revoked_version_used %q, want %q", p.OnRevokedVersionUsed, tc.want)
			}
		})
	}
}
