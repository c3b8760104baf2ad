package main

import (
	"strings"
	"testing"
)

// TestServeStreamFlags: the event streams' bounds must be above zero, and
// the error names the flag.
func TestServeStreamFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"zero streams", []string{"serve", "--max-streams", "0"}, exitUsage, "--max-streams must be a whole number above zero"},
		{"negative per token", []string{"serve", "--max-streams-per-token", "-1"}, exitUsage, "--max-streams-per-token must be a whole number above zero"},
		{"not a number", []string{"serve", "--max-streams", "many"}, exitUsage, "max-streams"},
		{"bounds given, no store", []string{"serve", "--max-streams", "5", "--max-streams-per-token", "2"}, exitTrouble, "no store configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := world{value: "tw_somevalue"}
			r := w.run(t, w.value+"\n", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
}
