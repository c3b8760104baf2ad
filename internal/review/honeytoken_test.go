package review_test

import (
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// TestHoneytokenReview: a honeytoken is marked as one in the report, its
// scopes are said to be bait rather than flagged as grants (wildcards, the
// introspection scope, a forbidden scope of the policy, loosened
// restrictions), while the rules about who owns it and where it is written
// still apply; turning a decoy into a real token is flagged high.
func TestHoneytokenReview(t *testing.T) {
	pol := policy.Policy{RequireOwner: true, ForbiddenScopes: []string{"admin:*"}, AllowedRepositories: []string{"acme/*"}}
	bait := []any{"admin:*", "billing:*", "tokenward:introspect"}
	cases := []struct {
		name    string
		changes []*tfjson.ResourceChange
		honey   bool     // the change is marked as a honeytoken
		want    []string // "address level category phrase"
		never   []string // flag phrases the change must not have
		risk    review.Level
	}{
		{
			name: "a honeytoken created with bait scopes",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "decoy", create, nil,
				token("decoy", "honeytoken", true, "scopes", bait, "github_secrets", secrets("acme/api")), nil)},
			honey: true,
			want: []string{
				"tokenward_token.decoy info privilege a new honeytoken `decoy` is issued",
				"tokenward_token.decoy info privilege grants nothing: its scopes `admin:*`, `billing:*`, `tokenward:introspect` are bait",
			},
			never: []string{"wildcard scope", "forbidden", "built-in scope", "policy:"},
			risk:  review.Info,
		},
		{
			name: "the same token, real",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "decoy", create, nil,
				token("decoy", "scopes", bait, "github_secrets", secrets("acme/api")), nil)},
			want: []string{
				"tokenward_token.decoy high privilege wildcard scope `admin:*`",
				"tokenward_token.decoy high privilege policy: `scopes`",
			},
			never: []string{"honeytoken", "bait"},
			risk:  review.High,
		},
		{
			name: "a honeytoken without an owner, delivered outside the allowed repositories",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "decoy", create, nil,
				token("decoy", "honeytoken", true, "owner", nil, "github_secrets", secrets("evil/x")), nil)},
			honey: true,
			want: []string{
				"tokenward_token.decoy high ownership policy: `owner`",
				"tokenward_token.decoy high reach policy: `github_secrets[0].repository`",
			},
			risk: review.High,
		},
		{
			name: "a honeytoken's restrictions lifted",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "decoy", update,
				token("decoy", "honeytoken", true, "allowed_cidrs", []any{"10.0.0.0/8"}, "rate_limit", obj{"requests": 10.0, "per": "1m"}),
				token("decoy", "honeytoken", true, "scopes", []any{"billing:read"}), nil)},
			honey: true,
			want:  []string{"tokenward_token.decoy info privilege grants nothing"},
			never: []string{"allowed_cidrs is removed", "rate_limit is removed", "is granted"},
			risk:  review.Info,
		},
		{
			name: "a honeytoken replaced by a real token",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "decoy", replace,
				token("decoy", "honeytoken", true, "scopes", []any{"billing:read"}),
				token("decoy", "honeytoken", false, "scopes", []any{"billing:read"}), nil)},
			want:  []string{"tokenward_token.decoy high privilege `decoy` stops being a honeytoken"},
			never: []string{"bait", "privileged"},
			risk:  review.High,
		},
		{
			name: "a honeytoken holding privileged scopes replaced by a real token",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "decoy", replace,
				token("decoy", "honeytoken", true, "scopes", []any{"billing:read", "tokenward:config-read-sensitive"}),
				token("decoy", "honeytoken", false, "scopes", []any{"billing:read", "tokenward:config-read-sensitive"}), nil)},
			want: []string{"tokenward_token.decoy high privilege `decoy` stops being a honeytoken: it is replaced by a real token whose values verify, " +
				"delivered where the decoy was planted, which an intruder may be watching; its values will grant privileged scope `tokenward:config-read-sensitive`"},
			never: []string{"bait"},
			risk:  review.High,
		},
		{
			name: "a real token replaced by a honeytoken",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", replace,
				token("t", "scopes", []any{"billing:read"}),
				token("t", "honeytoken", true, "scopes", []any{"billing:read"}), nil)},
			honey: true,
			want: []string{
				"tokenward_token.t info privilege `t` becomes a honeytoken",
				"tokenward_token.t high breakage `t` is replaced: every value is revoked",
			},
			risk: review.High,
		},
		{
			name: "a honeytoken destroyed",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "decoy", del,
				token("decoy", "honeytoken", true), nil, nil)},
			honey: true,
			want:  []string{"tokenward_token.decoy high breakage `decoy` is revoked and removed"},
			risk:  review.High,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := review.Build(&tfjson.Plan{ResourceChanges: c.changes}, review.Options{Policy: pol, PolicySource: "test"})
			md, js := rep.Markdown(), string(rep.JSON())
			for _, w := range c.want {
				parts := strings.SplitN(w, " ", 4)
				l, err := review.ParseLevel(parts[1])
				if err != nil {
					t.Fatal(err)
				}
				if !hasFlag(rep, parts[0], l, review.Category(parts[2]), parts[3]) {
					t.Errorf("no flag %q in\n%s", w, md)
				}
			}
			ch := rep.Changes[0]
			for _, f := range ch.Flags {
				for _, n := range c.never {
					if strings.Contains(f.Message, n) {
						t.Errorf("flag %q holds %q", f.Message, n)
					}
				}
			}
			if ch.Risk() != c.risk {
				t.Errorf("risk %s, want %s\n%s", ch.Risk(), c.risk, md)
			}
			marked := "`" + ch.Address + "` (honeytoken)"
			if ch.Honeytoken != c.honey || strings.Contains(md, marked) != c.honey || strings.Contains(js, `"honeytoken": true`) != c.honey {
				t.Errorf("honeytoken %v, want %v:\n%s\n%s", ch.Honeytoken, c.honey, md, js)
			}
			if c.honey && !strings.Contains(md, "| "+marked+" |") {
				t.Errorf("the table does not mark the honeytoken:\n%s", md)
			}
		})
	}
}
