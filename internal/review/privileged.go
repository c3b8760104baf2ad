package review

import (
	"slices"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// Privileged scopes (issue 17): granting one to a token, directly, through
// a role or through a wildcard over it, is high. Which scopes are
// privileged comes from the plan's tokenward_scope resources (no-op ones
// included) and, for the built-in scopes, which are never in a plan, from
// registry.PrivilegedBuiltInScopes.

// builtInPrivileged is the privileged flag of every built-in scope.
func builtInPrivileged() map[string]bool {
	m := map[string]bool{}
	for _, name := range registry.PrivilegedBuiltInScopes() {
		m[name] = true
	}
	return m
}

// planScope records whether a scope of the plan is privileged before or
// after the change: a scope demoted in the plan is still privileged for
// what the plan grants, since the demotion takes effect only once applied
// (and a reviewer agrees to the grant and the demotion separately). A scope
// with a hidden name is left out: nothing can be said of it by name.
func planScope(w world, r resource) {
	for _, after := range []bool{false, true} {
		if r.side(after) == nil {
			continue
		}
		if name := r.nameOn(after, "name"); name != sensitiveText && name != unknownText {
			w.privileged[name] = w.privileged[name] || r.boolOn(after, "privileged")
		}
	}
}

// privilegedNames returns the privileged scopes, sorted.
func (w world) privilegedNames() []string {
	var out []string
	for name, p := range w.privileged {
		if p {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// isPrivileged reports whether scope is privileged or, as a wildcard,
// covers a privileged scope.
func (w world) isPrivileged(scope string) bool {
	return len(policy.PrivilegedHeld(w.privilegedNames(), []string{scope}, nil)) > 0
}

// tokenPrivileged flags each privileged scope the token holds after the
// change and did not before (before is nil for a new token), saying how
// it holds it: directly, through a wildcard, through a role. An import or a
// move grants nothing: the token already holds what it holds.
func tokenPrivileged(ch *Change, w world, g grants, before []string) {
	if ch.Action != Create && ch.Action != Update && ch.Action != Replace {
		return
	}
	had := policy.PrivilegedHeld(w.privilegedNames(), before, nil)
	roles := w.rolesAfter(g)
	for _, p := range w.privilegedAfter(g) {
		if slices.Contains(had, p) {
			continue
		}
		ch.flag(High, Privilege, "privileged scope %s is granted %s: check that the token needs it, and who answers for it", code(p), grantedHow(p, g.scopesAfter, g.rolesAfter, roles))
	}
}

// rolesAfter returns the scopes of each role the token holds after the
// change, those whose scopes the plan shows.
func (w world) rolesAfter(g grants) map[string][]string {
	roles := map[string][]string{}
	for _, name := range g.rolesAfter {
		if rl, ok := w.roles[name]; ok && !rl.hidden {
			roles[name] = rl.scopes
		}
	}
	return roles
}

// privilegedAfter returns the privileged scopes the token holds after the
// change, directly, through a wildcard or through a role, sorted.
func (w world) privilegedAfter(g grants) []string {
	return policy.PrivilegedHeld(w.privilegedNames(), g.scopesAfter, w.rolesAfter(g))
}

// grantedHow says how scopes and roles grant privileged scope p.
func grantedHow(p string, scopes, roleNames []string, roles map[string][]string) string {
	var ways []string
	for _, s := range scopes {
		switch {
		case s == p:
			ways = append(ways, "directly")
		case policy.Covers(s, p):
			ways = append(ways, "through wildcard scope "+code(s))
		}
	}
	for _, name := range roleNames {
		for _, s := range roles[name] {
			switch {
			case s == p:
				ways = append(ways, "through role "+code(name))
			case policy.Covers(s, p):
				ways = append(ways, "through role "+code(name)+"'s wildcard scope "+code(s))
			}
		}
	}
	return strings.Join(uniq(ways), " and ")
}

// rolePrivileged flags each privileged scope a role grants after the change
// and did not before: high when tokens other than honeytokens hold the role,
// since each of them gains it; warn when none does yet, since any token given
// the role will.
func rolePrivileged(ch *Change, w world, name string, before, after, holding []string) {
	names := w.privilegedNames()
	had := policy.PrivilegedHeld(names, before, nil)
	var real []string
	for _, t := range w.tokens {
		if slices.Contains(holding, t.name) && !t.honeytoken {
			real = append(real, t.name)
		}
	}
	for _, p := range policy.PrivilegedHeld(names, after, nil) {
		if slices.Contains(had, p) {
			continue
		}
		how := ""
		if !slices.Contains(after, p) {
			how = " (through wildcard scope " + code(wildcardOver(after, p)) + ")"
		}
		switch {
		case len(real) == 0 && len(holding) > 0:
			ch.flag(Warn, Privilege, "role %s grants privileged scope %s%s: only honeytokens hold the role, whose scopes grant nothing; any other token given it will hold the scope",
				name, code(p), how)
			continue
		case len(real) == 0:
			ch.flag(Warn, Privilege, "role %s grants privileged scope %s%s: no token in this configuration holds the role yet; any token given it will hold the scope",
				name, code(p), how)
			continue
		}
		ch.flag(High, Privilege, "role %s grants privileged scope %s%s%s: each of them gains it", name, code(p), how, heldByText(real))
	}
}

// wildcardOver returns the first scope of scopes that covers p.
func wildcardOver(scopes []string, p string) string {
	for _, s := range scopes {
		if policy.Covers(s, p) {
			return s
		}
	}
	return ""
}

// scopePrivilegedChange details and flags a scope's privileged flag.
//
// A scope that becomes privileged while tokens hold it is a warn, not high:
// nothing is granted anew, the holders keep what they had, and the change
// tightens the review (their next grants are high, the policy's
// max_privileged_scopes and require_owner_for_privileged count it). A
// reviewer should still agree to it and check the holders it names, which
// the policy now judges. A scope that stops being privileged while tokens
// or roles of the plan hold it is high: it opens the gate for every later
// grant, and the holders, those granted it in this plan among them (still
// judged as privileged here), keep it outside the policy's limits. With no
// holder it is a warn: it only loosens the gate for later grants.
func scopePrivilegedChange(ch *Change, r resource, w world) {
	before, after := r.boolOn(false, "privileged"), r.boolOn(true, "privileged")
	name := r.nameOn(true, "name")
	switch {
	case r.after == nil:
		if before {
			ch.Details = append(ch.Details, "privileged: yes")
		}
	case r.before == nil || ch.Action == Replace:
		if after {
			ch.Details = append(ch.Details, "privileged: yes")
			ch.flag(Info, Privilege, "scope %s is privileged: granting it to a token is raised as high", label(name))
		}
	case !before && after:
		ch.Details = append(ch.Details, "privileged: no → yes")
		tokens, roles := w.holdingScope(name)
		if len(tokens)+len(roles) == 0 || name == sensitiveText {
			ch.flag(Info, Privilege, "scope %s becomes privileged: granting it is raised as high from now on", label(name))
			break
		}
		ch.flag(Warn, Privilege, "scope %s becomes privileged while %s %s it: nothing is granted anew, but the policy's privileged limits now count it for them; check they still need it",
			code(name), holders(tokens, roles), plural(len(tokens)+len(roles), "holds", "hold"))
	case before && !after:
		ch.Details = append(ch.Details, "privileged: yes → no")
		tokens, roles := w.holdingScope(name)
		if len(tokens)+len(roles) == 0 || name == sensitiveText {
			ch.flag(Warn, Privilege, "scope %s stops being privileged: it opens the gate for later grants, which are no longer raised as high, nor counted by the policy", label(name))
			break
		}
		ch.flag(High, Privilege, "scope %s stops being privileged while %s %s it: it opens the gate for later grants, which are no longer raised as high, "+
			"and its holders keep it outside the policy's privileged limits; grants in this plan are still judged as privileged",
			code(name), holders(tokens, roles), plural(len(tokens)+len(roles), "holds", "hold"))
	case after:
		ch.Details = append(ch.Details, "privileged: yes")
	}
}
