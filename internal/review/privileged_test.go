package review_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

var noop = []tfjson.Action{tfjson.ActionNoop}

func scope(name string, privileged bool) obj {
	return obj{"name": name, "description": "", "privileged": privileged}
}

func role(name string, scopes ...any) obj {
	return obj{"name": name, "description": "", "scopes": scopes}
}

// TestPrivilegedReview: granting a privileged scope to a token, directly,
// through a role (a new grant of the role, or a role that grows) or through
// a wildcard over it, is high; the built-in privileged scopes are known by
// name; honeytokens hold bait, not privilege; a scope that becomes
// privileged while held is a warn that names its holders; one that stops
// being privileged is high while held, and still privileged for what the
// plan demoting it grants; the policy's limits on privileged scopes are
// policy flags.
func TestPrivilegedReview(t *testing.T) {
	refund := change("tokenward_scope", "refund", noop, scope("billing:refund", true), scope("billing:refund", true), nil)
	read := change("tokenward_scope", "read", noop, scope("billing:read", false), scope("billing:read", false), nil)
	pol := policy.Policy{MaxPrivilegedScopes: 1, RequireOwnerForPrivileged: true}
	cases := []struct {
		name    string
		changes []*tfjson.ResourceChange
		policy  policy.Policy
		want    []string // "address level category phrase"
		never   []string // phrases no flag may hold
		risk    review.Level
	}{
		{
			name: "a token granted a privileged scope directly",
			changes: []*tfjson.ResourceChange{refund, read, change("tokenward_token", "ci", update,
				token("ci", "scopes", []any{"billing:read"}), token("ci", "scopes", []any{"billing:read", "billing:refund"}), nil)},
			want:  []string{"tokenward_token.ci high privilege privileged scope `billing:refund` is granted directly"},
			never: []string{"scope `billing:refund` is granted:"},
			risk:  review.High,
		},
		{
			name: "a new role grant that carries a privileged scope",
			changes: []*tfjson.ResourceChange{refund, read,
				change("tokenward_role", "refunder", noop, role("refunder", "billing:refund"), role("refunder", "billing:refund"), nil),
				change("tokenward_token", "ci", update, token("ci", "scopes", []any{"billing:read"}),
					token("ci", "scopes", []any{"billing:read"}, "roles", []any{"refunder"}), nil)},
			want: []string{"tokenward_token.ci high privilege privileged scope `billing:refund` is granted through role `refunder`"},
			risk: review.High,
		},
		{
			name: "a role that grows to include a privileged scope, held by two tokens and a honeytoken",
			changes: []*tfjson.ResourceChange{refund, read,
				change("tokenward_role", "billing", update, role("billing", "billing:read"), role("billing", "billing:read", "billing:refund"), nil),
				change("tokenward_token", "a", noop, token("a", "roles", []any{"billing"}), token("a", "roles", []any{"billing"}), nil),
				change("tokenward_token", "b", noop, token("b", "roles", []any{"billing"}), token("b", "roles", []any{"billing"}), nil),
				change("tokenward_token", "decoy", noop, token("decoy", "roles", []any{"billing"}, "honeytoken", true),
					token("decoy", "roles", []any{"billing"}, "honeytoken", true), nil)},
			want:  []string{"tokenward_role.billing high privilege role `billing` grants privileged scope `billing:refund`, held by tokens `a`, `b`: each of them gains it"},
			never: []string{"grows by scope `billing:refund`", "`decoy`: each"},
			risk:  review.High,
		},
		{
			name: "a new role with a privileged scope that no token holds yet",
			changes: []*tfjson.ResourceChange{refund,
				change("tokenward_role", "refunder", create, nil, role("refunder", "billing:refund"), nil)},
			want: []string{"tokenward_role.refunder warn privilege role `refunder` grants privileged scope `billing:refund`: no token"},
			risk: review.Warn,
		},
		{
			name: "a role that grows to include a privileged scope, held only by a honeytoken",
			changes: []*tfjson.ResourceChange{refund,
				change("tokenward_role", "bait", update, role("bait", "billing:read"), role("bait", "billing:read", "billing:refund"), nil),
				change("tokenward_token", "decoy", noop, token("decoy", "roles", []any{"bait"}, "honeytoken", true),
					token("decoy", "roles", []any{"bait"}, "honeytoken", true), nil)},
			want: []string{"tokenward_role.bait warn privilege role `bait` grants privileged scope `billing:refund`: only honeytokens hold the role"},
			risk: review.Warn,
		},
		{
			name: "a wildcard that covers a privileged scope",
			changes: []*tfjson.ResourceChange{refund, read,
				change("tokenward_token", "ci", create, nil, token("ci", "scopes", []any{"billing:*"}), nil)},
			want:  []string{"tokenward_token.ci high privilege privileged scope `billing:refund` is granted through wildcard scope `billing:*`"},
			never: []string{"`billing:read` is granted"},
			risk:  review.High,
		},
		{
			name: "a role's wildcard that covers a privileged scope",
			changes: []*tfjson.ResourceChange{refund,
				change("tokenward_role", "all", update, role("all", "billing:read"), role("all", "billing:*"), nil),
				change("tokenward_token", "a", noop, token("a", "roles", []any{"all"}), token("a", "roles", []any{"all"}), nil)},
			want: []string{"tokenward_role.all high privilege role `all` grants privileged scope `billing:refund` (through wildcard scope `billing:*`), held by token `a`"},
			risk: review.High,
		},
		{
			name: "a built-in privileged scope, not in the plan",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "ops", create, nil,
				token("ops", "scopes", []any{"tokenward:config-read-sensitive"}), nil)},
			want: []string{"tokenward_token.ops high privilege privileged scope `tokenward:config-read-sensitive` is granted directly"},
			risk: review.High,
		},
		{
			name: "a honeytoken holding a privileged scope is bait",
			changes: []*tfjson.ResourceChange{refund, change("tokenward_token", "decoy", create, nil,
				token("decoy", "honeytoken", true, "owner", nil, "scopes", []any{"billing:refund", "tokenward:config-write-sensitive"}), nil)},
			policy: pol,
			want:   []string{"tokenward_token.decoy info privilege grants nothing"},
			never:  []string{"privileged", "policy:"},
			risk:   review.Info,
		},
		{
			name: "a scope that becomes privileged while held",
			changes: []*tfjson.ResourceChange{
				change("tokenward_scope", "refund", update, scope("billing:refund", false), scope("billing:refund", true), nil),
				change("tokenward_token", "a", noop, token("a", "scopes", []any{"billing:refund"}), token("a", "scopes", []any{"billing:refund"}), nil)},
			want: []string{"tokenward_scope.refund warn privilege scope `billing:refund` becomes privileged while token `a` holds it"},
			risk: review.Warn,
		},
		{
			name: "a scope that stops being privileged, held by no one",
			changes: []*tfjson.ResourceChange{
				change("tokenward_scope", "refund", update, scope("billing:refund", true), scope("billing:refund", false), nil)},
			want: []string{"tokenward_scope.refund warn privilege `billing:refund` stops being privileged: it opens the gate for later grants"},
			risk: review.Warn,
		},
		{
			name: "a scope that stops being privileged while a role holds it",
			changes: []*tfjson.ResourceChange{
				change("tokenward_scope", "refund", update, scope("billing:refund", true), scope("billing:refund", false), nil),
				change("tokenward_role", "refunder", noop, role("refunder", "billing:refund"), role("refunder", "billing:refund"), nil),
				change("tokenward_token", "a", noop, token("a", "roles", []any{"refunder"}), token("a", "roles", []any{"refunder"}), nil)},
			want: []string{"tokenward_scope.refund high privilege scope `billing:refund` stops being privileged while token `a` and role `refunder` hold it: it opens the gate for later grants"},
			risk: review.High,
		},
		{
			// The security review's repro: the demotion would hide the grant
			// beside it, and the policy's limits with it.
			name: "a scope demoted and granted in the same plan",
			changes: []*tfjson.ResourceChange{
				change("tokenward_scope", "refund", update, scope("billing:refund", true), scope("billing:refund", false), nil),
				change("tokenward_token", "ci", update, token("ci", "owner", "billing", "scopes", []any{"billing:read"}),
					token("ci", "owner", "", "scopes", []any{"billing:read", "billing:refund"}), nil)},
			policy: pol,
			want: []string{
				"tokenward_token.ci high privilege privileged scope `billing:refund` is granted directly",
				"tokenward_token.ci high ownership policy: `owner`: the token holds privileged scopes (billing:refund)",
				"tokenward_scope.refund high privilege scope `billing:refund` stops being privileged while token `ci` holds it",
			},
			risk: review.High,
		},
		{
			name: "a token holding a privileged scope is imported",
			changes: []*tfjson.ResourceChange{refund, change("tokenward_token", "ci", noop,
				token("ci", "scopes", []any{"billing:refund"}), token("ci", "scopes", []any{"billing:refund"}),
				func(c *tfjson.Change) { c.Importing = &tfjson.Importing{ID: "ci"} })},
			want:  []string{"tokenward_token.ci info ownership imported"},
			never: []string{"privileged"},
			risk:  review.Info,
		},
		{
			name: "a token already holding the privileged scope changes something else",
			changes: []*tfjson.ResourceChange{refund, change("tokenward_token", "ci", update,
				token("ci", "scopes", []any{"billing:refund"}), token("ci", "scopes", []any{"billing:refund"}, "ttl", "20d"), nil)},
			never: []string{"privileged"},
			risk:  review.None,
		},
		{
			name: "the policy's limits on privileged scopes",
			changes: []*tfjson.ResourceChange{refund,
				change("tokenward_role", "ops", noop, role("ops", "tokenward:config-write-sensitive"), role("ops", "tokenward:config-write-sensitive"), nil),
				change("tokenward_token", "ci", create, nil, token("ci", "owner", "", "scopes", []any{"billing:refund"}, "roles", []any{"ops"}), nil)},
			policy: pol,
			want: []string{
				"tokenward_token.ci high privilege policy: `scopes`: the token holds 2 privileged scopes (billing:refund, tokenward:config-write-sensitive)",
				"tokenward_token.ci high ownership policy: `owner`: the token holds privileged scopes",
				"tokenward_token.ci high privilege privileged scope `tokenward:config-write-sensitive` is granted through role `ops`",
			},
			risk: review.High,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := review.Build(&tfjson.Plan{ResourceChanges: c.changes}, review.Options{Policy: c.policy, PolicySource: "test"})
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
						if strings.Contains(f.Message, n) {
							t.Errorf("%s has flag %q, which should not say %q", ch.Address, f.Message, n)
						}
					}
				}
			}
			if rep.Risk != c.risk {
				t.Errorf("risk %s, want %s:\n%s", rep.Risk, c.risk, rep.Markdown())
			}
		})
	}
}

// TestLoadPolicyPrivileged: a policy file sets max_privileged_scopes and
// require_owner_for_privileged, in HCL and JSON; a count that is not a
// whole number, or is negative, is refused with what to write.
func TestLoadPolicyPrivileged(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, f := range []struct{ file, body string }{
		{"p.hcl", "max_privileged_scopes = 2\nrequire_owner_for_privileged = true\n"},
		{"p.json", `{"policy": {"max_privileged_scopes": 2, "require_owner_for_privileged": true}}`},
	} {
		p, err := review.LoadPolicy(write(f.file, f.body))
		if err != nil {
			t.Fatal(err)
		}
		if p.MaxPrivilegedScopes != 2 || !p.RequireOwnerForPrivileged || p.Empty() {
			t.Errorf("%s: policy = %+v", f.file, p)
		}
	}
	for _, c := range []struct{ body, want string }{
		{"max_privileged_scopes = 1.5", "whole number"},
		{`max_privileged_scopes = "two"`, "whole number"},
		{"max_privileged_scopes = -1", "max_privileged_scopes: must not be negative"},
		{`require_owner_for_privileged = "yes"`, "require_owner_for_privileged must be true or false"},
	} {
		if _, err := review.LoadPolicy(write("bad.hcl", c.body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadPolicy(%s) = %v, want an error saying %q", c.body, err, c.want)
		}
	}
}

// TestPrivilegedPlanFailsTheGate: the real plan of internal/provider's
// TestAccReviewPrivilegedGolden grants a privileged scope through a new
// role grant and through a role that grows: both are high, so the gate at
// high fails; the scope made privileged while held is a warn.
func TestPrivilegedPlanFailsTheGate(t *testing.T) {
	pol, err := review.LoadPolicy("testdata/policy.hcl")
	if err != nil {
		t.Fatal(err)
	}
	rep := review.Build(readPlan(t, "testdata/privileged.plan.json"), review.Options{Policy: pol})
	for _, w := range []struct {
		address string
		level   review.Level
		phrase  string
	}{
		{"tokenward_token.ci", review.High, "privileged scope `billing:refund` is granted through role `refunder`"},
		{"tokenward_role.support", review.High, "role `support` grants privileged scope `billing:refund`, held by token `desk`"},
		{"tokenward_scope.void", review.Warn, "scope `billing:void` becomes privileged while token `desk` holds it"},
	} {
		if !hasFlag(rep, w.address, w.level, review.Privilege, w.phrase) {
			t.Errorf("%s: no %s privilege flag saying %q in\n%s", w.address, w.level, w.phrase, rep.Markdown())
		}
	}
	if rep.Risk != review.High {
		t.Fatalf("risk %s, want high: the gate at high must fail", rep.Risk)
	}
}
