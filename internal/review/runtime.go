package review

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// What the store's usage log says about the tokens a plan changes
// (review --store): each one's last use and the scopes it was asked for,
// and the consumers a change would break. The facts are gathered by the
// caller and handed in as Options.Runtime, so the review stays a function
// of its inputs.

// RecentUse is how recent a use must be for losing it to be high
// breakage, counted in UTC days: a consumer that used a scope this week
// will use it again.
const RecentUse = 7 * duration.Day

// Runtime is what the store's usage log says about the plan's tokens.
type Runtime struct {
	// Now is when the facts were read; ages are counted from it.
	Now time.Time
	// Window is how far back Tokens' Scopes count, such as 30 days.
	Window time.Duration
	// Tokens holds the facts of each changed token found in the store, by
	// name; a changed token that is not in it is not in the store.
	Tokens map[string]TokenUsage
	// Unavailable says, when it is set, why there are no facts (the store
	// could not be read, its usage log is empty); the review says so in
	// one line and judges nothing by use.
	Unavailable string
}

// TokenUsage is one token's use, as the usage log has it.
type TokenUsage struct {
	// LastUsedAt is the token's last verification of any outcome; zero
	// when it was never used.
	LastUsedAt time.Time
	// LastUsedNetwork is the /24 (IPv4) or /48 (IPv6) the last use came
	// from; "" when unknown. The report never shows a whole address (it
	// may be a comment on a public pull request): an address or a longer
	// prefix given here is shown as its /24 or /48.
	LastUsedNetwork string
	// Scopes are the scopes the token's valid verifications required over
	// the window, by scope.
	Scopes map[string]ScopeUse
}

// ScopeUse is how often, and how lately, a token used one scope.
type ScopeUse struct {
	Uses   int64
	LastAt time.Time
}

// StoreTokens names the tokens whose use the review reads: those the plan
// changes that exist in the store already (every action but a create), by
// their name in the store (before the change), and those it leaves as they
// are that hold a role it changes or deletes; sorted.
func StoreTokens(plan *tfjson.Plan) []string {
	var out []string
	changed := changedRoles(plan)
	for _, h := range unchangedTokens(plan) {
		if slices.ContainsFunc(h.roles, func(r string) bool { return changed[r] }) {
			out = append(out, h.name)
		}
	}
	for _, rc := range plan.ResourceChanges {
		if !managed(rc) || rc.Type != "tokenward_token" {
			continue
		}
		action, ok := actionOf(rc)
		if !ok || action == Create {
			continue
		}
		r := resource{rc: rc, before: asObject(rc.Change.Before), after: asObject(rc.Change.After)}
		if name := r.nameOn(false, "name"); r.before != nil && name != "" && name != sensitiveText && name != unknownText {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// changedRoles are the roles a plan updates, replaces or deletes, by
// their name before the change.
func changedRoles(plan *tfjson.Plan) map[string]bool {
	out := map[string]bool{}
	for _, rc := range plan.ResourceChanges {
		if !managed(rc) || rc.Type != "tokenward_role" {
			continue
		}
		if action, ok := actionOf(rc); ok && (action == Update || action == Replace || action == Delete) {
			r := resource{rc: rc, before: asObject(rc.Change.Before), after: asObject(rc.Change.After)}
			if name := r.nameOn(false, "name"); name != sensitiveText {
				out[name] = true
			}
		}
	}
	return out
}

// unchangedTokens are the tokens the plan leaves as they are, with their
// scopes and roles; those hidden are left out.
func unchangedTokens(plan *tfjson.Plan) []holder {
	var out []holder
	for _, rc := range plan.ResourceChanges {
		if !managed(rc) || rc.Type != "tokenward_token" || !rc.Change.Actions.NoOp() {
			continue
		}
		r := resource{rc: rc, before: asObject(rc.Change.Before), after: asObject(rc.Change.After)}
		name := r.nameOn(false, "name")
		if r.before == nil || name == sensitiveText || r.hidden("scopes") || r.hidden("roles") {
			continue
		}
		out = append(out, holder{name: name, scopes: r.list(false, "scopes"), roles: r.list(false, "roles")})
	}
	slices.SortFunc(out, func(a, b holder) int { return strings.Compare(a.name, b.name) })
	return out
}

// runtime is the facts with the plan's roles on both sides, which a
// token's effective scopes before and after the change are read from.
type runtime struct {
	facts *Runtime
	// roles before and after the change, by name; nil scopes for a role
	// whose scopes are hidden, and for one deleted after it.
	before, after map[string]role
	// unchanged are the tokens the plan leaves as they are, which lose
	// what a role they hold loses.
	unchanged []holder
}

func newRuntime(plan *tfjson.Plan, facts *Runtime) runtime {
	rt := runtime{facts: facts, before: map[string]role{}, after: map[string]role{}}
	if facts == nil || facts.Unavailable != "" {
		return rt
	}
	for _, rc := range plan.ResourceChanges {
		if !managed(rc) || rc.Type != "tokenward_role" {
			continue
		}
		r := resource{rc: rc, before: asObject(rc.Change.Before), after: asObject(rc.Change.After)}
		for _, side := range []bool{false, true} {
			name := r.nameOn(side, "name")
			if r.side(side) == nil || name == sensitiveText || name == unknownText {
				continue
			}
			m := rt.before
			if side {
				m = rt.after
			}
			m[name] = role{scopes: r.list(side, "scopes"), hidden: r.hidden("scopes")}
		}
		if name := r.nameOn(false, "name"); r.before != nil && r.after == nil && name != sensitiveText {
			rt.after[name] = role{} // deleted: it grants nothing after
		}
	}
	rt.unchanged = unchangedTokens(plan)
	return rt
}

// line is the report's one line about the facts; "" without --store.
func (rt runtime) line() string {
	switch {
	case rt.facts == nil:
		return ""
	case rt.facts.Unavailable != "":
		return "Usage: not shown, " + rt.facts.Unavailable + "."
	}
	return fmt.Sprintf("Usage (the store, %s to %s): each changed token's last use, the scopes it used, and the consumers a change would break.",
		day(rt.facts.Now.Add(-rt.facts.Window)), day(rt.facts.Now))
}

// review adds to a token's change its use and the breakage the change
// causes: a scope it loses that was used, its deletion while it is used.
func (rt runtime) review(ch *Change, r resource) {
	if rt.facts == nil || rt.facts.Unavailable != "" || ch.Action == Create {
		return
	}
	switch r.rc.Type {
	case "tokenward_role":
		rt.reviewRole(ch, r)
		return
	case "tokenward_token":
	default:
		return
	}
	name := r.nameOn(false, "name")
	if name == sensitiveText || name == unknownText {
		return
	}
	u, ok := rt.facts.Tokens[name]
	if !ok {
		ch.Details = append(ch.Details, "usage: "+code(name)+" is not in the store given with --store")
		return
	}
	window := duration.Format(rt.facts.Window)
	what := "last use: "
	if ch.Honeytoken {
		// Whoever presents a decoy is no consumer: nothing of it breaks.
		what = "last presented (by whoever holds the decoy): "
	}
	if u.LastUsedAt.IsZero() {
		ch.Details = append(ch.Details, what+"never")
	} else {
		from := ""
		if n := network(u.LastUsedNetwork); n != "" {
			from = ", from network " + code(n)
		}
		ch.Details = append(ch.Details, what+code(day(u.LastUsedAt))+" ("+rt.ago(u.LastUsedAt)+")"+from)
	}
	if ch.Honeytoken {
		return
	}
	used := sortedScopes(u.Scopes)
	if len(used) == 0 {
		ch.Details = append(ch.Details, "scopes used in the last "+window+": none")
	} else {
		parts := make([]string, len(used))
		for i, s := range used {
			su := u.Scopes[s]
			parts[i] = fmt.Sprintf("%s (%s, last %s)", code(s), count(int(su.Uses), "use"), code(day(su.LastAt)))
		}
		ch.Details = append(ch.Details, "scopes used in the last "+window+": "+strings.Join(parts, ", "))
	}

	ownBefore, ownAfter := r.list(false, "scopes"), r.list(true, "scopes")
	rolesBefore, rolesAfter := r.list(false, "roles"), r.list(true, "roles")
	held, heldKnown := rt.effective(true, ownAfter, rolesAfter)
	if r.after == nil {
		held, heldKnown = rt.effective(false, ownBefore, rolesBefore)
	}
	if heldKnown && !r.hidden("scopes") && !r.hidden("roles") {
		var unused []string
		for _, s := range held {
			if !slices.ContainsFunc(used, func(u string) bool { return token.Grants([]string{s}, u) }) {
				unused = append(unused, s)
			}
		}
		if len(unused) > 0 {
			ch.Details = append(ch.Details, "held but not used in the last "+window+": "+codes(unused))
		}
	}

	switch ch.Action {
	case Delete:
		rt.deleted(ch, name, u)
	case Update, Replace:
		if r.hidden("scopes") || r.hidden("roles") {
			return
		}
		before, knownBefore := rt.effective(false, ownBefore, rolesBefore)
		after, knownAfter := rt.effective(true, ownAfter, rolesAfter)
		if !knownBefore || !knownAfter {
			ch.Details = append(ch.Details, "usage: the scopes of a role are not in the plan, so what the change takes away from consumers is not judged")
			return
		}
		for _, s := range used {
			if token.Grants(before, s) && !token.Grants(after, s) {
				rt.lost(ch, s, u.Scopes[s], rt.via(s, ownBefore, rolesBefore, rolesAfter))
			}
		}
	}
}

// reviewRole flags the used scopes that the tokens the plan leaves as they
// are lose with a role they hold; a changed token's own change says what
// it loses.
func (rt runtime) reviewRole(ch *Change, r resource) {
	name := r.nameOn(false, "name")
	if r.before == nil || name == sensitiveText || (ch.Action != Update && ch.Action != Replace && ch.Action != Delete) {
		return
	}
	for _, h := range rt.unchanged {
		u, ok := rt.facts.Tokens[h.name]
		if !ok || !slices.Contains(h.roles, name) {
			continue
		}
		before, knownBefore := rt.effective(false, h.scopes, h.roles)
		after, knownAfter := rt.effective(true, h.scopes, h.roles)
		if !knownBefore || !knownAfter {
			continue
		}
		for _, s := range sortedScopes(u.Scopes) {
			if token.Grants(before, s) && !token.Grants(after, s) {
				rt.lost(ch, s, u.Scopes[s], " to token "+code(h.name))
			}
		}
	}
}

// deleted flags deleting a token that is still used.
func (rt runtime) deleted(ch *Change, name string, u TokenUsage) {
	if u.LastUsedAt.IsZero() || rt.facts.Now.Sub(u.LastUsedAt) > rt.facts.Window {
		return
	}
	from := ""
	if n := network(u.LastUsedNetwork); n != "" {
		from = " from network " + code(n)
	}
	if rt.recent(u.LastUsedAt) {
		ch.flag(High, Breakage, "token %s is deleted but was used on %s (%s)%s: a consumer still uses it and will start failing",
			code(name), code(day(u.LastUsedAt)), rt.ago(u.LastUsedAt), from)
		return
	}
	ch.flag(Warn, Breakage, "token %s is deleted and was last used on %s (%s)%s: a consumer that runs rarely would fail",
		code(name), code(day(u.LastUsedAt)), rt.ago(u.LastUsedAt), from)
}

// lost flags a used scope the change takes away.
func (rt runtime) lost(ch *Change, scope string, su ScopeUse, via string) {
	window := duration.Format(rt.facts.Window)
	if rt.recent(su.LastAt) {
		ch.flag(High, Breakage, "scope %s is no longer granted%s but was used %s in the last %s, last on %s (%s): a consumer will start failing",
			code(scope), via, count(int(su.Uses), "time"), window, code(day(su.LastAt)), rt.ago(su.LastAt))
		return
	}
	ch.flag(Warn, Breakage, "scope %s is no longer granted%s and was used %s in the last %s, last on %s (%s): a consumer that runs rarely would fail",
		code(scope), via, count(int(su.Uses), "time"), window, code(day(su.LastAt)), rt.ago(su.LastAt))
}

// via says how a token held a scope it loses, when that was through roles.
func (rt runtime) via(scope string, own, rolesBefore, rolesAfter []string) string {
	if token.Grants(own, scope) {
		return ""
	}
	var removed, shrunk []string
	for _, name := range rolesBefore {
		if !token.Grants(rt.before[name].scopes, scope) {
			continue
		}
		if slices.Contains(rolesAfter, name) {
			shrunk = append(shrunk, name)
		} else {
			removed = append(removed, name)
		}
	}
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, "it came through "+roleNames(removed)+", removed from the token")
	}
	if len(shrunk) > 0 {
		parts = append(parts, plural(len(shrunk), "role", "roles")+" "+codes(shrunk)+" no longer "+plural(len(shrunk), "grants", "grant")+" it")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// effective is a token's own scopes with those of its roles on one side of
// the change, and whether every role's scopes are known.
func (rt runtime) effective(after bool, scopes, roles []string) ([]string, bool) {
	defs := rt.before
	if after {
		defs = rt.after
	}
	out := slices.Clone(scopes)
	known := true
	for _, name := range roles {
		rl, ok := defs[name]
		if !ok || rl.hidden {
			known = false
			continue
		}
		out = append(out, rl.scopes...)
	}
	slices.Sort(out)
	return slices.Compact(out), known
}

// days counts the UTC days from t's to the day the facts were read.
func (rt runtime) days(t time.Time) int {
	y, m, d := t.UTC().Date()
	ny, nm, nd := rt.facts.Now.UTC().Date()
	return int(time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC).Sub(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) / duration.Day)
}

// recent reports whether t is within RecentUse days of the facts.
func (rt runtime) recent(t time.Time) bool { return rt.days(t) <= int(RecentUse/duration.Day) }

// ago says how long before the facts were read t is, in UTC days.
func (rt runtime) ago(t time.Time) string {
	days := rt.days(t)
	switch {
	case days <= 0:
		return "today"
	case days == 1:
		return "yesterday"
	}
	return fmt.Sprintf("%d days ago", days)
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// network is s as the report may show it: a /24 (IPv4) or /48 (IPv6) at
// most, or a shorter prefix; "" for anything else.
func network(s string) string {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return ""
		}
		a = a.WithZone("")
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() {
		a, bits = a.Unmap(), max(bits-96, 0)
	}
	most := 48
	if a.Is4() {
		most = 24
	}
	return netip.PrefixFrom(a, min(bits, most)).Masked().String()
}

func sortedScopes(m map[string]ScopeUse) []string {
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
