package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestReviewPrivilegedPlanFailsAtHigh: the plan of internal/provider's
// TestAccReviewPrivilegedGolden grants a privileged scope through a role;
// review prints its golden report and fails --fail-on high with exit 1.
func TestReviewPrivilegedPlanFailsAtHigh(t *testing.T) {
	t.Parallel()
	plan := filepath.Join(reviewTestdata, "privileged.plan.json")
	for _, c := range []struct {
		failOn string
		code   int
		stderr string
	}{
		{"high", 1, "risk is high, which --fail-on high refuses"},
		{"never", 0, ""},
	} {
		t.Run(c.failOn, func(t *testing.T) {
			t.Parallel()
			r := plainEnv().run(t, "", "review", "--plan", plan, "--policy", reviewPolicyHCL, "--fail-on", c.failOn)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			if r.stdout != golden(t, "privileged") {
				t.Errorf("stdout is not testdata/privileged.md:\n%s", r.stdout)
			}
			if !strings.Contains(r.stderr, c.stderr) || (c.stderr == "" && strings.Contains(r.stderr, "refuses")) {
				t.Errorf("stderr = %q, want it to say %q", r.stderr, c.stderr)
			}
		})
	}
}
