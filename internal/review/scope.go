package review

import (
	"fmt"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
)

func reviewScope(ch *Change, r resource, w world) {
	ch.Name = r.name("name")
	name := code(ch.Name)
	if str(r.present()["description"]) != "" || r.changed("description") {
		ch.Details = append(ch.Details, "description: "+r.showChange("description"))
	}
	add := func(l Level, c Category, format string, args ...any) {
		ch.Flags = append(ch.Flags, Flag{Level: l, Category: c, Message: fmt.Sprintf(format, args...)})
	}
	gone := func(old string) {
		tokens, roles := w.holdingScope(old)
		if len(tokens)+len(roles) == 0 {
			add(Info, Breakage, "scope %s is deleted; no token or role in this configuration holds it", code(old))
			return
		}
		verb := "hold"
		if len(tokens)+len(roles) == 1 {
			verb = "holds"
		}
		add(High, Breakage, "scope %s is deleted while %s still %s it: the apply fails, since tokenward refuses to delete a scope in use; remove it from them first",
			code(old), holders(tokens, roles), verb)
	}
	switch ch.Action {
	case Create:
		add(Info, Privilege, "a new scope %s can be granted", name)
	case Delete:
		gone(str(r.before["name"]))
	case Replace:
		gone(str(r.before["name"]))
	}
	if (ch.Action == Create || ch.Action == Replace) && isWildcard(ch.Name) && !r.sensitive("name") {
		add(Warn, Privilege, "wildcard scope %s can grant every action on %s", name, code(resourceOf(ch.Name)))
	}
}

// holders names the tokens and roles that hold something, for a message.
func holders(tokens, roles []string) string {
	var parts []string
	if len(tokens) > 0 {
		parts = append(parts, plural(len(tokens), "token", "tokens")+" "+codes(tokens))
	}
	if len(roles) > 0 {
		parts = append(parts, plural(len(roles), "role", "roles")+" "+codes(roles))
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
	name := code(ch.Name)
	var before, after []string
	if r.before != nil {
		before = strs(r.before["scopes"])
	}
	if r.after != nil {
		after = strs(r.after["scopes"])
	}
	ch.Details = append(ch.Details, "scopes: "+listChange(r, "scopes", before, after))
	holding := w.holdingRole(ch.Name)
	if len(holding) > 0 && r.after != nil {
		ch.Details = append(ch.Details, "held by: "+codes(holding))
	}
	add := func(l Level, c Category, format string, args ...any) {
		ch.Flags = append(ch.Flags, Flag{Level: l, Category: c, Message: fmt.Sprintf(format, args...)})
	}
	switch ch.Action {
	case Create:
		add(Info, Privilege, "a new role %s bundles %s", name, count(len(after), "scope"))
	case Delete, Replace:
		old := str(r.before["name"])
		if tokens := w.holdingRole(old); len(tokens) > 0 {
			add(High, Breakage, "role %s is deleted while %s still hold it: they lose its scopes %s",
				code(old), holders(tokens, nil), codes(before))
		} else {
			add(Info, Breakage, "role %s is deleted; no token in this configuration holds it", code(old))
		}
	}
	if r.after == nil || r.sensitive("scopes") {
		return
	}
	added, removed := diff(before, after)
	if ch.Action != Update {
		added, removed = after, nil
	}
	for _, s := range added {
		switch {
		case isWildcard(s):
			add(High, Privilege, "role %s grants wildcard scope %s, every action on %s%s", name, code(s), code(resourceOf(s)), heldByText(holding))
		case ch.Action == Update:
			add(Warn, Privilege, "role %s grows by scope %s%s", name, code(s), heldByText(holding))
		}
	}
	if len(removed) > 0 && len(holding) > 0 {
		add(Info, Breakage, "role %s no longer grants %s to %s", name, codes(removed), codes(holding))
	}
	if !pol.Empty() {
		for _, v := range pol.CheckRole(after) {
			ch.Flags = append(ch.Flags, Flag{Level: High, Category: Privilege, Message: "policy: " + code(v.Field) + ": " + v.Message, Policy: true})
		}
	}
}

func heldByText(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	return ", held by " + plural(len(tokens), "token", "tokens") + " " + codes(tokens)
}
