package review_test

import (
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

func limit(requests float64, per string) obj { return obj{"requests": requests, "per": per} }

func cidrs(ss ...string) []any {
	out := []any{}
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

// TestRestrictionsAndIntrospection: lifting or loosening a token's
// restrictions, and granting tokenward:introspect, raise their flags; what
// tightens them raises none.
func TestRestrictionsAndIntrospection(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		changes []*tfjson.ResourceChange
		want    []string // "address level category phrase"
		never   []string // phrases no flag may hold
	}{
		{
			name: "allowed_cidrs removed",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "allowed_cidrs", cidrs("10.0.0.0/8")), token("t", "allowed_cidrs", nil), nil)},
			want: []string{"tokenward_token.t high reach allowed_cidrs is removed: token `t` can be used from any address (it was limited to `10.0.0.0/8`)"},
		},
		{
			name: "allowed_cidrs emptied",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "allowed_cidrs", cidrs("10.0.0.0/8", "2001:db8::/32")), token("t", "allowed_cidrs", cidrs()), nil)},
			want: []string{"tokenward_token.t high reach allowed_cidrs is removed"},
		},
		{
			name: "allowed_cidrs widened by a network and a shorter prefix",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "allowed_cidrs", cidrs("10.0.0.0/16", "192.0.2.0/24")),
				token("t", "allowed_cidrs", cidrs("10.0.0.0/8", "192.0.2.0/24", "192.0.2.7/32", "2001:db8::/32")), nil)},
			want:  []string{"tokenward_token.t warn reach allowed_cidrs is widened: token `t` can be used from `10.0.0.0/8`, `2001:db8::/32` too"},
			never: []string{"`192.0.2.7/32` too", "removed"},
		},
		{
			name: "allowed_cidrs narrowed",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "allowed_cidrs", cidrs("10.0.0.0/8")), token("t", "allowed_cidrs", cidrs("10.1.0.0/16", "10.2.3.4/32")), nil)},
			never: []string{"allowed_cidrs"},
		},
		{
			name: "allowed_cidrs added to an open token",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t"), token("t", "allowed_cidrs", cidrs("10.0.0.0/8")), nil)},
			never: []string{"allowed_cidrs"},
		},
		{
			name: "allowed_cidrs known only after apply",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "allowed_cidrs", cidrs("10.0.0.0/8")), token("t", "allowed_cidrs", nil),
				func(c *tfjson.Change) { c.AfterUnknown = obj{"allowed_cidrs": true} })},
			want:  []string{"tokenward_token.t warn reach allowed_cidrs is known only after apply"},
			never: []string{"is removed"},
		},
		{
			name: "rate_limit removed",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "rate_limit", limit(100, "1m")), token("t", "rate_limit", nil), nil)},
			want: []string{"tokenward_token.t warn privilege rate_limit is removed: token `t` can be used as often as callers like (it was limited to `100 per 1m`)"},
		},
		{
			name: "rate_limit raised: more requests",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "rate_limit", limit(100, "1m")), token("t", "rate_limit", limit(500, "1m")), nil)},
			want: []string{"tokenward_token.t warn privilege rate_limit is raised from `100 per 1m` to `500 per 1m`"},
		},
		{
			name: "rate_limit raised: a shorter window",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "rate_limit", limit(100, "1h")), token("t", "rate_limit", limit(100, "1m")), nil)},
			want: []string{"tokenward_token.t warn privilege rate_limit is raised from `100 per 1h` to `100 per 1m`"},
		},
		{
			name: "rate_limit lowered, or respelled",
			changes: []*tfjson.ResourceChange{
				change("tokenward_token", "t", update, token("t", "rate_limit", limit(100, "1m")), token("t", "rate_limit", limit(50, "2m")), nil),
				change("tokenward_token", "u", update, token("u", "rate_limit", limit(100, "60s")), token("u", "rate_limit", limit(100, "1m")), nil),
				change("tokenward_token", "v", update, token("v"), token("v", "rate_limit", limit(1, "1s")), nil),
			},
			never: []string{"rate_limit"},
		},
		{
			name: "introspection granted directly to a new token",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", create, nil,
				token("t", "scopes", []any{"tokenward:introspect"}), nil)},
			want:  []string{"tokenward_token.t warn privilege built-in scope `tokenward:introspect` is granted: token `t` can check whether any token is valid"},
			never: []string{"scope `tokenward:introspect` is granted\n"},
		},
		{
			name: "introspection granted through a role",
			changes: []*tfjson.ResourceChange{
				change("tokenward_role", "r", create, nil, obj{"name": "introspector", "scopes": []any{"tokenward:introspect"}}, nil),
				change("tokenward_token", "t", update, token("t"), token("t", "roles", []any{"introspector"}), nil),
			},
			want: []string{
				"tokenward_token.t warn privilege built-in scope `tokenward:introspect` is granted, through role `introspector`,",
				"tokenward_role.r warn privilege role `introspector` grants built-in scope `tokenward:introspect`, held by token `t`",
			},
		},
		{
			name: "a role that tokens hold comes to grant introspection",
			changes: []*tfjson.ResourceChange{
				change("tokenward_role", "r", update, obj{"name": "ops", "scopes": []any{"b:read"}}, obj{"name": "ops", "scopes": []any{"b:read", "tokenward:introspect"}}, nil),
				change("tokenward_token", "t", update, token("t", "roles", []any{"ops"}, "owner", "a"), token("t", "roles", []any{"ops"}, "owner", "b"), nil),
			},
			want: []string{"tokenward_role.r warn privilege role `ops` grants built-in scope `tokenward:introspect`, held by token `t`"},
		},
		{
			name: "introspection held already",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "scopes", []any{"tokenward:introspect"}), token("t", "scopes", []any{"tokenward:introspect"}, "owner", "security"), nil)},
			never: []string{"tokenward:introspect"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := review.Build(&tfjson.Plan{ResourceChanges: c.changes}, review.Options{})
			for _, w := range c.want {
				parts := strings.SplitN(w, " ", 4)
				l, err := review.ParseLevel(parts[1])
				if err != nil {
					t.Fatal(err)
				}
				if !hasFlag(rep, parts[0], l, review.Category(parts[2]), parts[3]) {
					t.Errorf("no flag %q in\n%s", w, rep.Markdown())
				}
			}
			for _, ch := range rep.Changes {
				for _, f := range ch.Flags {
					for _, n := range c.never {
						if strings.Contains(f.Message+"\n", n) {
							t.Errorf("%s has the flag %q, which holds %q", ch.Address, f.Message, n)
						}
					}
				}
			}
		})
	}
}

// TestRestrictionDetails: the report shows a token's restrictions, and
// their change, only when it has some.
func TestRestrictionDetails(t *testing.T) {
	t.Parallel()
	rep := review.Build(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
		change("tokenward_token", "open", update, token("open"), token("open", "owner", "x"), nil),
		change("tokenward_token", "r", update,
			token("r", "allowed_cidrs", cidrs("10.0.0.0/8"), "rate_limit", limit(100, "1m")),
			token("r", "allowed_cidrs", cidrs("10.0.0.0/8", "192.0.2.0/24"), "rate_limit", limit(200, "1m")), nil),
	}}, review.Options{})
	details := map[string]string{}
	for _, ch := range rep.Changes {
		details[ch.Address] = strings.Join(ch.Details, "\n")
	}
	if d := details["tokenward_token.open"]; strings.Contains(d, "allowed_cidrs") || strings.Contains(d, "rate_limit") {
		t.Errorf("an unrestricted token shows restrictions:\n%s", d)
	}
	for _, want := range []string{"allowed_cidrs: `10.0.0.0/8`, +`192.0.2.0/24`", "rate_limit: `100 per 1m` → `200 per 1m`"} {
		if !strings.Contains(details["tokenward_token.r"], want) {
			t.Errorf("details of tokenward_token.r lack %q:\n%s", want, details["tokenward_token.r"])
		}
	}
}
