package review_test

import (
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

// These cases are plans no test configuration produces easily (a forget,
// values known only after apply, sensitive names, aliased providers), built
// as Terraform's JSON would have them.

type obj = map[string]any

func change(typ, name string, actions []tfjson.Action, before, after obj, mod func(*tfjson.Change)) *tfjson.ResourceChange {
	c := &tfjson.Change{Actions: actions, Before: before, After: after}
	if before == nil {
		c.Before = nil
	}
	if after == nil {
		c.After = nil
	}
	if mod != nil {
		mod(c)
	}
	return &tfjson.ResourceChange{Address: typ + "." + name, Mode: tfjson.ManagedResourceMode, Type: typ, Name: name, Change: c}
}

var (
	create  = []tfjson.Action{tfjson.ActionCreate}
	update  = []tfjson.Action{tfjson.ActionUpdate}
	del     = []tfjson.Action{tfjson.ActionDelete}
	replace = []tfjson.Action{tfjson.ActionDelete, tfjson.ActionCreate}
)

func token(name string, kv ...any) obj {
	o := obj{"name": name, "owner": "platform", "scopes": []any{}, "roles": nil, "ttl": "30d", "rotate_before": "7d", "overlap": "1d"}
	for i := 0; i+1 < len(kv); i += 2 {
		o[kv[i].(string)] = kv[i+1]
	}
	return o
}

func secrets(repos ...string) []any {
	var out []any
	for _, r := range repos {
		out = append(out, obj{"repository": r, "name": "T", "environment": nil})
	}
	return out
}

func TestCases(t *testing.T) {
	pol := policy.Policy{MaxTTL: 90 * 24 * 3600e9, ForbiddenScopes: []string{"admin:*"}, AllowedRepositories: []string{"acme/*"}}
	cases := []struct {
		name    string
		changes []*tfjson.ResourceChange
		policy  policy.Policy
		want    []string // "address level category phrase"
		never   []string // phrases no report may hold
	}{
		{
			name: "replaced, the old token forgotten",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", []tfjson.Action{tfjson.ActionCreate, tfjson.ActionForget},
				token("t"), token("t-new", "scopes", []any{"billing:*"}), nil)},
			want: []string{"tokenward_token.t warn breakage only forgotten", "tokenward_token.t high privilege wildcard scope `billing:*`"},
		},
		{
			name: "renamed and grown at once",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", replace,
				token("t", "scopes", []any{"b:read"}, "github_secrets", secrets("acme/api")),
				token("t2", "scopes", []any{"b:read", "b:write"}, "ttl", "365d", "github_secrets", secrets("acme/api", "evil/x")), nil)},
			policy: pol,
			want: []string{
				"tokenward_token.t high breakage renamed to `t2`",
				"tokenward_token.t warn privilege scope `b:write` is granted",
				"tokenward_token.t warn reach now delivered to repository secret `T` of `evil/x`",
				"tokenward_token.t warn lifetime ttl grows from `30d` to `365d`",
				"tokenward_token.t high reach policy",
				"tokenward_token.t high lifetime policy",
			},
		},
		{
			name: "organization secret widened short of all",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "github_organization_secrets", []any{
					obj{"organization": "acme", "name": "P", "visibility": "selected", "repositories": []any{"api"}},
					obj{"organization": "acme", "name": "S", "visibility": "selected", "repositories": []any{"api"}}}),
				token("t", "github_organization_secrets", []any{
					obj{"organization": "acme", "name": "P", "visibility": "private", "repositories": nil},
					obj{"organization": "acme", "name": "S", "visibility": "selected", "repositories": []any{"api", "web"}}}), nil)},
			want: []string{
				"tokenward_token.t warn reach `P` of `acme` is widened",
				"tokenward_token.t warn reach `S` of `acme` becomes visible to `web` too",
			},
		},
		{
			name: "destinations known only after apply",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "github_secrets", secrets("acme/api")), token("t", "github_secrets", []any{nil}),
				func(c *tfjson.Change) { c.AfterUnknown = obj{"github_secrets": []any{true}} })},
			want:  []string{"tokenward_token.t warn reach known only after apply"},
			never: []string{"is removed", "delivered to: -"},
		},
		{
			name: "scopes known only after apply",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", update,
				token("t", "scopes", []any{"b:read"}), token("t", "scopes", nil),
				func(c *tfjson.Change) { c.AfterUnknown = obj{"scopes": true} })},
			policy: pol,
			want:   []string{"tokenward_token.t warn privilege scopes are known only after apply", "tokenward_token.t warn privilege the policy cannot check"},
		},
		{
			name: "a wildcard through a role",
			changes: []*tfjson.ResourceChange{
				change("tokenward_role", "admin", create, nil, obj{"name": "admin", "scopes": []any{"billing:*"}}, nil),
				change("tokenward_token", "n", create, nil, token("n", "roles", []any{"admin"}), nil),
				change("tokenward_token", "o", update, token("o"), token("o", "roles", []any{"admin"}), nil),
			},
			want: []string{
				"tokenward_token.n high privilege wildcard scope `billing:*`, through role `admin`",
				"tokenward_token.o high privilege wildcard scope `billing:*`, through role `admin`",
				"tokenward_token.o warn privilege role `admin` is granted",
				"tokenward_role.admin high privilege grants wildcard scope `billing:*`",
			},
		},
		{
			name: "sensitive names and scopes",
			changes: []*tfjson.ResourceChange{
				change("tokenward_scope", "s", del, obj{"name": "x:LEAK1"}, nil, func(c *tfjson.Change) { c.BeforeSensitive = obj{"name": true} }),
				change("tokenward_role", "r", del, obj{"name": "LEAK2", "scopes": []any{"x:LEAK3"}}, nil,
					func(c *tfjson.Change) { c.BeforeSensitive = obj{"name": true, "scopes": []any{true}} }),
				change("tokenward_role", "q", update, obj{"name": "q", "scopes": []any{"admin:LEAK4"}}, obj{"name": "q", "scopes": []any{"admin:LEAK4", "admin:LEAK5"}},
					func(c *tfjson.Change) {
						c.BeforeSensitive = obj{"scopes": []any{true}}
						c.AfterSensitive = obj{"scopes": []any{true, true}}
					}),
				change("tokenward_token", "t", replace, token("LEAK6"), token("LEAK7", "roles", []any{"q"}),
					func(c *tfjson.Change) {
						c.BeforeSensitive = obj{"name": true}
						c.AfterSensitive = obj{"name": true}
					}),
				change("tokenward_setting", "k", replace, obj{"key": "LEAK8", "type": "string"}, obj{"key": "LEAK9", "type": "string"},
					func(c *tfjson.Change) { c.BeforeSensitive, c.AfterSensitive = obj{"key": true}, obj{"key": true} }),
				change("tokenward_user_config", "u", del, obj{"user": "LEAK10", "values": obj{"a": "LEAK11"}}, nil,
					func(c *tfjson.Change) { c.BeforeSensitive = obj{"user": true, "values": obj{"a": true}} }),
			},
			policy: pol,
			want:   []string{"tokenward_role.q high privilege a sensitive value breaks the policy", "tokenward_scope.s warn breakage sensitive name"},
			never:  []string{"LEAK"},
		},
		{
			name: "a plain user value of a sensitive setting",
			changes: []*tfjson.ResourceChange{
				change("tokenward_setting", "smtp", create, nil, obj{"key": "smtp.password", "type": "string", "sensitive": true}, nil),
				change("tokenward_user_config", "alice", create, nil, obj{"user": "alice", "values": obj{"smtp.password": "hunter2-LEAK"}}, nil),
			},
			want:  []string{"tokenward_user_config.alice high data sensitive setting `smtp.password` is given in plain `values`"},
			never: []string{"LEAK"},
		},
		{
			name: "an action this version does not know",
			changes: []*tfjson.ResourceChange{change("tokenward_token", "t", []tfjson.Action{"transmogrify"},
				token("t"), token("t"), nil)},
			want: []string{"tokenward_token.t warn breakage does not know"},
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
			out := rep.Markdown() + string(rep.JSON())
			for _, n := range c.never {
				if strings.Contains(out, n) {
					t.Errorf("the report holds %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestPolicyFromPlanProviders(t *testing.T) {
	block := func(name, full, alias string, pol obj) *tfjson.ProviderConfig {
		pc := &tfjson.ProviderConfig{Name: name, FullName: full, Alias: alias}
		if pol != nil {
			pc.Expressions = map[string]*tfjson.Expression{"policy": {ExpressionData: &tfjson.ExpressionData{ConstantValue: pol}}}
		}
		return pc
	}
	const full = "registry.terraform.io/tokenward/tokenward"
	strict, loose := obj{"max_ttl": "30d"}, obj{"max_ttl": "90d"}
	cases := []struct {
		name    string
		configs map[string]*tfjson.ProviderConfig
		ok      bool
		err     string
	}{
		{"an alias", map[string]*tfjson.ProviderConfig{"tokenward": block("tokenward", full, "", nil), "tokenward.prod": block("tokenward", full, "prod", strict)}, true, ""},
		{"another local name", map[string]*tfjson.ProviderConfig{"tw": block("tw", full, "", strict)}, true, ""},
		{"a module's block", map[string]*tfjson.ProviderConfig{"module.m:tokenward": block("tokenward", full, "", strict)}, true, ""},
		{"the same policy twice", map[string]*tfjson.ProviderConfig{"tokenward": block("tokenward", full, "", strict), "tokenward.b": block("tokenward", full, "b", strict)}, true, ""},
		{"different policies", map[string]*tfjson.ProviderConfig{"tokenward": block("tokenward", full, "", strict), "tokenward.b": block("tokenward", full, "b", loose)}, false, "different policies"},
		{"another provider", map[string]*tfjson.ProviderConfig{"tokenward": block("tokenward", "registry.terraform.io/acme/tokenward", "", strict)}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ok, err := review.PolicyFromPlan(&tfjson.Plan{Config: &tfjson.Config{ProviderConfigs: c.configs}})
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "--policy")):
				t.Fatalf("err = %v, want one saying %q and --policy", err, c.err)
			case c.err == "" && err != nil:
				t.Fatal(err)
			case ok != c.ok:
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			case ok && p.MaxTTL != 30*24*3600e9:
				t.Errorf("policy = %+v, want the 30d one", p)
			}
		})
	}
}
