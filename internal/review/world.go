package review

import (
	"slices"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// world is what the plan says about every tokenward token, role and setting,
// changed or not, so one change can be judged by what depends on it: which
// tokens hold a scope that is deleted, which hold a role that grows, whether
// a user's value belongs to a sensitive setting. Nothing marked sensitive in
// the plan is kept in it, so nothing sensitive can be quoted from it.
type world struct {
	roles    map[string]role // by role name, as the roles will be
	tokens   []holder        // tokens that exist after the change, by name
	settings map[string]bool // setting key → sensitive, before or after the change
	// privileged is whether each scope is privileged before or after the
	// change: the plan's tokenward_scope resources, and the built-in scopes,
	// which are never in a plan, by name (privileged.go).
	privileged map[string]bool
}

// role is a role as it will be; hidden when its scopes are sensitive or
// known only after apply.
type role struct {
	scopes []string
	hidden bool
}

type holder struct {
	name          string // a placeholder when sensitive or unknown
	scopes, roles []string
	honeytoken    bool // a decoy: what it holds grants nothing
}

// managed reports whether a resource change is one the review reads: a
// managed resource's current object.
func managed(rc *tfjson.ResourceChange) bool {
	return rc != nil && rc.Change != nil && rc.Mode == tfjson.ManagedResourceMode && rc.DeposedKey == ""
}

func newWorld(plan *tfjson.Plan) world {
	w := world{roles: map[string]role{}, settings: map[string]bool{}, privileged: builtInPrivileged()}
	for _, rc := range plan.ResourceChanges {
		if !managed(rc) {
			continue
		}
		r := resource{rc: rc, before: asObject(rc.Change.Before), after: asObject(rc.Change.After)}
		switch rc.Type {
		case "tokenward_setting":
			for _, after := range []bool{false, true} {
				if key := r.nameOn(after, "key"); r.side(after) != nil && key != sensitiveText && key != unknownText {
					w.settings[key] = w.settings[key] || r.side(after)["sensitive"] == true
				}
			}
		case "tokenward_role":
			if name := r.nameOn(true, "name"); r.after != nil && name != sensitiveText && name != unknownText {
				w.roles[name] = role{scopes: r.list(true, "scopes"), hidden: r.hidden("scopes")}
			}
		case "tokenward_scope":
			planScope(w, r)
		case "tokenward_token":
			if r.after != nil {
				w.tokens = append(w.tokens, holder{name: r.nameOn(true, "name"), scopes: r.list(true, "scopes"), roles: r.list(true, "roles"),
					honeytoken: r.boolOn(true, "honeytoken")})
			}
		}
	}
	slices.SortFunc(w.tokens, func(a, b holder) int { return strings.Compare(a.name, b.name) })
	return w
}

// holdingScope names the tokens that hold scope after the change, directly
// or through a role, and the roles that grant it.
func (w world) holdingScope(scope string) (tokens, roles []string) {
	for name, r := range w.roles {
		if slices.Contains(r.scopes, scope) {
			roles = append(roles, name)
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

// effective returns scopes with those of roles, sorted, and whether every
// role's scopes are known from the plan.
func (w world) effective(scopes, roles []string) ([]string, bool) {
	out := slices.Clone(scopes)
	known := true
	for _, name := range roles {
		r, ok := w.roles[name]
		if !ok || r.hidden {
			known = false
			continue
		}
		out = append(out, r.scopes...)
	}
	slices.Sort(out)
	return slices.Compact(out), known
}

// through names the roles among roles that grant scope.
func (w world) through(scope string, roles []string) []string {
	var out []string
	for _, name := range roles {
		if slices.Contains(w.roles[name].scopes, scope) {
			out = append(out, name)
		}
	}
	return out
}
