package review

import (
	"slices"

	tfjson "github.com/hashicorp/terraform-json"
)

// world is what the plan says about every tokenward token and role, changed
// or not, so one change can be judged by what depends on it: which tokens
// hold a scope that is deleted, which hold a role that grows.
type world struct {
	roles  map[string][]string // role name → its scopes after the change (known ones)
	tokens []tokenHolding      // tokens that exist after the change
}

type tokenHolding struct {
	name          string
	scopes, roles []string
}

func newWorld(plan *tfjson.Plan) world {
	w := world{roles: map[string][]string{}}
	for _, rc := range plan.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Mode != tfjson.ManagedResourceMode || rc.DeposedKey != "" {
			continue
		}
		after := asObject(rc.Change.After)
		if after == nil {
			continue // deleted: holds nothing afterwards
		}
		switch rc.Type {
		case "tokenward_role":
			w.roles[str(after["name"])] = strs(after["scopes"])
		case "tokenward_token":
			w.tokens = append(w.tokens, tokenHolding{name: str(after["name"]), scopes: strs(after["scopes"]), roles: strs(after["roles"])})
		}
	}
	slices.SortFunc(w.tokens, func(a, b tokenHolding) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return w
}

// holdingScope names the tokens that hold scope after the change, directly
// or through a role, and the roles that grant it.
func (w world) holdingScope(scope string) (tokens, roles []string) {
	for r, scopes := range w.roles {
		if slices.Contains(scopes, scope) {
			roles = append(roles, r)
		}
	}
	slices.Sort(roles)
	for _, t := range w.tokens {
		if slices.Contains(t.scopes, scope) || slices.ContainsFunc(t.roles, func(r string) bool { return slices.Contains(roles, r) }) {
			tokens = append(tokens, t.name)
		}
	}
	return tokens, roles
}

// holdingRole names the tokens that hold role after the change.
func (w world) holdingRole(role string) []string {
	var out []string
	for _, t := range w.tokens {
		if slices.Contains(t.roles, role) {
			out = append(out, t.name)
		}
	}
	return out
}

// effective returns a token's scopes with those of its roles, sorted, and
// whether every role's scopes are known from the plan.
func (w world) effective(scopes, roles []string) ([]string, bool) {
	out := slices.Clone(scopes)
	known := true
	for _, r := range roles {
		rs, ok := w.roles[r]
		if !ok {
			known = false
			continue
		}
		out = append(out, rs...)
	}
	slices.Sort(out)
	return slices.Compact(out), known
}
