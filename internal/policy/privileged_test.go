package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
)

// TestPrivilegedHeld: a token holds a privileged scope exactly, through a
// role, or through a wildcard over it; each is counted once.
func TestPrivilegedHeld(t *testing.T) {
	t.Parallel()
	privileged := []string{"billing:refund", "billing:admin", "users:delete"}
	cases := []struct {
		name   string
		scopes []string
		roles  map[string][]string
		want   []string
	}{
		{"none", []string{"billing:read"}, map[string][]string{"r": {"users:read"}}, nil},
		{"direct", []string{"billing:admin", "billing:read"}, nil, []string{"billing:admin"}},
		{"through a role, once", []string{"billing:admin"}, map[string][]string{"a": {"billing:admin"}, "b": {"users:delete"}}, []string{"billing:admin", "users:delete"}},
		{"resource wildcard", []string{"billing:*"}, nil, []string{"billing:admin", "billing:refund"}},
		{"star", nil, map[string][]string{"root": {"*"}}, []string{"billing:admin", "billing:refund", "users:delete"}},
		{"wildcard of another resource", []string{"billingx:*", "bill:*"}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := policy.PrivilegedHeld(privileged, tc.scopes, tc.roles); !slices.Equal(got, tc.want) {
				t.Fatalf("PrivilegedHeld = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCheckPrivileged: max_privileged_scopes caps the privileged scopes of
// one token and require_owner_for_privileged asks an owner of one holding
// any; neither applies to a honeytoken, whose scopes grant nothing.
func TestCheckPrivileged(t *testing.T) {
	t.Parallel()
	p := policy.Policy{MaxPrivilegedScopes: 1, RequireOwnerForPrivileged: true}
	cases := []struct {
		name       string
		policy     policy.Policy
		owner      string
		privileged []string
		honeytoken bool
		want       []string
		says       string
	}{
		{"none held, no owner", p, "", nil, false, nil, ""},
		{"one held with an owner", p, "platform", []string{"billing:admin"}, false, nil, ""},
		{"one held, no owner", p, " ", []string{"billing:admin"}, false, []string{"owner"}, "require_owner_for_privileged"},
		{"two held", p, "platform", []string{"billing:admin", "users:delete"}, false, []string{"scopes"}, "max_privileged_scopes 1"},
		{"two held, no owner", p, "", []string{"billing:admin", "users:delete"}, false, []string{"owner", "scopes"}, "billing:admin, users:delete"},
		{"honeytoken exempt", p, "", []string{"billing:admin", "users:delete"}, true, nil, ""},
		{"no cap when 0", policy.Policy{RequireOwnerForPrivileged: true}, "x", []string{"a:b", "c:d", "e:f"}, false, nil, ""},
		{"require_owner reported once", policy.Policy{RequireOwner: true, RequireOwnerForPrivileged: true}, "", []string{"a:b"}, false, []string{"owner"}, "every token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tk := policy.Token{Name: "t", Owner: tc.owner, TTL: duration.Day, Privileged: tc.privileged, Honeytoken: tc.honeytoken}
			got := tc.policy.CheckToken(tk)
			if !slices.Equal(fields(got), tc.want) {
				t.Fatalf("violations %v, want fields %v", got, tc.want)
			}
			var all []string
			for _, v := range got {
				all = append(all, v.Message)
			}
			if tc.says != "" && !strings.Contains(strings.Join(all, "\n"), tc.says) {
				t.Fatalf("violations %v do not say %q", got, tc.says)
			}
		})
	}
	if got := fields(policy.Policy{MaxPrivilegedScopes: -1}.Check()); !slices.Equal(got, []string{"max_privileged_scopes"}) {
		t.Fatalf("a negative max_privileged_scopes: Check = %v", got)
	}
	for _, q := range []policy.Policy{{MaxPrivilegedScopes: 2}, {RequireOwnerForPrivileged: true}} {
		if q.Empty() {
			t.Fatalf("%+v is not empty", q)
		}
	}
}
