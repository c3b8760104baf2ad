package review

import (
	"fmt"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

func reviewScope(ch *Change, r resource, w world) {
	ch.Name = r.name("name")
	if r.nameOn(r.after != nil, "description") != "" || r.changed("description") {
		ch.Details = append(ch.Details, "description: "+r.showChange("description"))
	}
	scopePrivilegedChange(ch, r, w)
	switch ch.Action {
	case Create:
		ch.flag(Info, Privilege, "a new scope %s can be granted", label(ch.Name))
	case Delete, Replace:
		scopeGone(ch, w, r.nameOn(false, "name"))
	}
	if (ch.Action == Create || ch.Action == Replace) && isWildcard(ch.Name) && !r.hidden("name") {
		ch.flag(Warn, Privilege, "wildcard scope %s can grant every action on %s", code(ch.Name), code(resourceOf(ch.Name)))
	}
}

// scopeGone flags a scope that is deleted, by what still holds it.
func scopeGone(ch *Change, w world, old string) {
	if old == sensitiveText {
		ch.flag(Warn, Breakage, "a scope with a sensitive name is deleted: check in the plan that no token holds it")
		return
	}
	tokens, roles := w.holdingScope(old)
	switch n := len(tokens) + len(roles); n {
	case 0:
		ch.flag(Info, Breakage, "scope %s is deleted; no token or role in this configuration holds it", code(old))
	default:
		ch.flag(High, Breakage, "scope %s is deleted while %s still %s it: the apply fails, since tokenward refuses to delete a scope in use; remove it from them first",
			code(old), holders(tokens, roles), plural(n, "holds", "hold"))
	}
}

// holders names the tokens and roles that hold something, for a message.
func holders(tokens, roles []string) string {
	var parts []string
	if len(tokens) > 0 {
		parts = append(parts, plural(len(tokens), "token", "tokens")+" "+labels(tokens))
	}
	if len(roles) > 0 {
		parts = append(parts, plural(len(roles), "role", "roles")+" "+labels(roles))
	}
	return strings.Join(parts, " and ")
}

// count says "1 scope" or "3 scopes".
func count(n int, noun string) string {
	return fmt.Sprintf("%d %s", n, plural(n, noun, noun+"s"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func reviewRole(ch *Change, r resource, w world, pol policy.Policy) {
	ch.Name = r.name("name")
	name := label(ch.Name)
	before, after := r.list(false, "scopes"), r.list(true, "scopes")
	ch.Details = append(ch.Details, "scopes: "+listChange(r, "scopes", before, after))
	holding := w.holdingRole(ch.Name)
	if len(holding) > 0 && r.after != nil {
		ch.Details = append(ch.Details, "held by: "+labels(holding))
	}
	switch ch.Action {
	case Create:
		ch.flag(Info, Privilege, "a new role %s bundles %s", name, count(len(after), "scope"))
	case Delete, Replace:
		old := r.nameOn(false, "name")
		if tokens := w.holdingRole(old); len(tokens) > 0 && old != sensitiveText {
			ch.flag(High, Breakage, "role %s is deleted while %s still %s it: they lose its scopes %s",
				code(old), holders(tokens, nil), plural(len(tokens), "holds", "hold"), listChange(r, "scopes", before, nil))
		} else {
			ch.flag(Info, Breakage, "role %s is deleted; no token in this configuration holds it", label(old))
		}
	}
	if r.after == nil {
		return
	}
	if !pol.Empty() {
		ch.policyFlags(pol.CheckRole(strs(r.after["scopes"])), func(string) Category { return Privilege }, r.sensitive("scopes"))
	}
	if r.hidden("scopes") {
		return
	}
	added, removed := diff(before, after)
	if ch.Action == Create {
		added, removed = after, nil
	}
	for _, s := range added {
		switch {
		case isWildcard(s):
			ch.flag(High, Privilege, "role %s grants wildcard scope %s, every action on %s%s", name, code(s), code(resourceOf(s)), heldByText(holding))
		case s == registry.ScopeIntrospect:
			ch.flag(Warn, Privilege, "role %s grants built-in scope %s%s: whoever holds the role can check whether any token is valid through tokenward serve's introspection and verify endpoints",
				name, code(s), heldByText(holding))
		case ch.Action != Create && !w.isPrivileged(s): // a privileged one is flagged by rolePrivileged
			ch.flag(Warn, Privilege, "role %s grows by scope %s%s", name, code(s), heldByText(holding))
		}
	}
	if ch.Action == Create {
		before = nil
	}
	rolePrivileged(ch, w, name, before, after, holding)
	if len(removed) > 0 && len(holding) > 0 {
		ch.flag(Info, Breakage, "role %s no longer grants %s to %s", name, codes(removed), labels(holding))
	}
}

func heldByText(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	return ", held by " + plural(len(tokens), "token", "tokens") + " " + labels(tokens)
}
