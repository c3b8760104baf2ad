package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

// TestCredentialRows: credentials show beside tokens with their issuer's
// kind and user; what a run retired at issuers, or could not, is said.
func TestCredentialRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    rotation.Result
		want string
	}{
		{"token", rotation.Result{Token: "ci-deploy"}, "ci-deploy"},
		{"credential", rotation.Result{Token: "billing-db", Issuer: "postgres", User: "billing_b"}, "billing-db (postgres credential, user billing_b)"},
		{"credential whose issuer failed to open", rotation.Result{Token: "cache", Issuer: "redis"}, "cache (redis credential)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := subject(tc.r); got != tc.want {
				t.Errorf("subject = %q, want %q", got, tc.want)
			}
		})
	}
	if got := retiredLine(rotation.Report{}); got != "" {
		t.Errorf("nothing retired: %q", got)
	}
	got := retiredLine(rotation.Report{Retired: 2, RetireFailed: errors.New("retire cred_x of cache: connection refused")})
	if !strings.Contains(got, "2 credential version(s) retired") || !strings.Contains(got, "connection refused") {
		t.Errorf("retired line = %q", got)
	}
}
