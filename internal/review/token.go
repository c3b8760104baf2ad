package review

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
)

// destinationAttrs are the token attributes that list destinations, with
// the kind of destination each holds.
var destinationAttrs = []struct{ attr, kind string }{
	{"github_secrets", destination.KindRepositorySecret},
	{"github_organization_secrets", destination.KindOrganizationSecret},
	{"github_dependabot_secrets", destination.KindDependabotSecret},
	{"files", destination.KindFile},
}

// target is one destination of a token on one side of the change.
type target struct {
	path   string // attribute path, such as "github_secrets[0]"
	kind   string
	config destination.Config
	key    string // the place it writes to, spelled one way
}

// targets reads a token's destinations on one side. Lists marked sensitive
// or unknown are left out and named in hidden.
func targets(r resource, after bool) (out []target, hidden []string) {
	obj := r.side(after)
	for _, d := range destinationAttrs {
		if r.sensitive(d.attr) || (after && r.unknown(d.attr)) {
			if len(objects(obj[d.attr])) > 0 || obj[d.attr] == nil && after {
				hidden = append(hidden, d.attr)
			}
			continue
		}
		for i, o := range objects(obj[d.attr]) {
			c := destination.Config{
				Path: str(o["path"]), Key: str(o["key"]), Format: str(o["format"]),
				Repository: str(o["repository"]), Environment: str(o["environment"]),
				Organization: str(o["organization"]), Name: str(o["name"]),
				Visibility: str(o["visibility"]), Repositories: strs(o["repositories"]),
			}
			key := d.kind + ":" + describe(d.kind, c)
			if sd, err := destination.New(d.kind, c); err == nil {
				key = sd.Key
			}
			out = append(out, target{path: fmt.Sprintf("%s[%d]", d.attr, i), kind: d.kind, config: c, key: key})
		}
	}
	return out, hidden
}

// describe says where a destination writes, for a reviewer.
func describe(kind string, c destination.Config) string {
	switch kind {
	case destination.KindRepositorySecret:
		if c.Environment != "" {
			return "environment secret " + code(c.Name) + " of " + code(c.Repository) + ", environment " + code(c.Environment)
		}
		return "repository secret " + code(c.Name) + " of " + code(c.Repository)
	case destination.KindDependabotSecret:
		return "Dependabot secret " + code(c.Name) + " of " + code(c.Repository)
	case destination.KindOrganizationSecret:
		return "organization secret " + code(c.Name) + " of " + code(c.Organization) + ", " + visibleTo(c)
	case destination.KindFile:
		if c.Format == destination.FormatRaw {
			return "file " + code(c.Path) + " (raw)"
		}
		if c.Key == "" {
			return "file " + code(c.Path) + " (dotenv, key from the token name)"
		}
		return "file " + code(c.Path) + " (dotenv " + code(c.Key) + ")"
	}
	return kind
}

func visibleTo(c destination.Config) string {
	switch c.Visibility {
	case destination.VisibilityAll:
		return "visible to every repository"
	case destination.VisibilityPrivate:
		return "visible to every private repository"
	case destination.VisibilitySelected:
		if len(c.Repositories) == 0 {
			return "visible to no repository yet"
		}
		return "visible to " + codes(c.Repositories)
	}
	return "visibility " + code(c.Visibility)
}

func reviewToken(ch *Change, r resource, w world, pol policy.Policy) {
	ch.Name = r.name("name")
	name := code(ch.Name)
	if r.sensitive("name") {
		name = sensitiveText
	}
	before, after := r.before, r.after
	var flags []Flag
	add := func(l Level, c Category, format string, args ...any) {
		flags = append(flags, Flag{Level: l, Category: c, Message: fmt.Sprintf(format, args...)})
	}

	// Who and what.
	ch.Details = append(ch.Details, "owner: "+r.showChange("owner"))
	scopesBefore, scopesAfter := strs(before["scopes"]), strs(after["scopes"])
	rolesBefore, rolesAfter := strs(before["roles"]), strs(after["roles"])
	if after == nil {
		scopesAfter, rolesAfter = nil, nil
	}
	ch.Details = append(ch.Details, "scopes: "+listChange(r, "scopes", scopesBefore, scopesAfter))
	ch.Details = append(ch.Details, "roles: "+listChange(r, "roles", rolesBefore, rolesAfter))
	if after != nil && len(rolesAfter) > 0 && !r.sensitive("roles") && !r.sensitive("scopes") {
		if eff, known := w.effective(scopesAfter, rolesAfter); known {
			ch.Details = append(ch.Details, "grants, with its roles: "+codes(eff))
		}
	}
	ch.Details = append(ch.Details, fmt.Sprintf("lifetime: ttl %s, rotate_before %s, overlap %s",
		r.showChange("ttl"), r.showChange("rotate_before"), r.showChange("overlap")))

	// Where.
	was, hiddenBefore := targets(r, false)
	will, hiddenAfter := targets(r, true)
	if after == nil {
		will, hiddenAfter = nil, nil
	}
	for _, attr := range uniq(append(hiddenBefore, hiddenAfter...)) {
		ch.Details = append(ch.Details, attr+": "+sensitiveOrUnknown(r, attr))
	}
	hadKey := func(ts []target, key string) (target, bool) {
		i := slices.IndexFunc(ts, func(t target) bool { return t.key == key })
		if i < 0 {
			return target{}, false
		}
		return ts[i], true
	}
	var addedDest, removedDest []target
	for _, t := range will {
		old, had := hadKey(was, t.key)
		switch {
		case !had && r.before != nil:
			addedDest = append(addedDest, t)
			ch.Details = append(ch.Details, "delivered to: +"+describe(t.kind, t.config))
		case had && old.config.Visibility != t.config.Visibility:
			ch.Details = append(ch.Details, "delivered to: "+describe(t.kind, t.config)+" (was "+visibleTo(old.config)+")")
			if t.config.Visibility == destination.VisibilityAll {
				add(High, Reach, "organization secret %s of %s is widened to every repository of the organization (was %s)",
					code(t.config.Name), code(t.config.Organization), visibleTo(old.config))
			}
		default:
			ch.Details = append(ch.Details, "delivered to: "+describe(t.kind, t.config))
		}
		if t.kind == destination.KindOrganizationSecret && t.config.Visibility == destination.VisibilityAll && (!had || r.before == nil) {
			add(High, Reach, "organization secret %s makes the token readable by every repository of %s",
				code(t.config.Name), code(t.config.Organization))
		}
	}
	for _, t := range was {
		if _, kept := hadKey(will, t.key); !kept {
			removedDest = append(removedDest, t)
			ch.Details = append(ch.Details, "delivered to: -"+describe(t.kind, t.config))
		}
	}

	switch ch.Action {
	case Create:
		ch.Rotates = true
		add(Info, Privilege, "a new token %s is issued with %s and %s and delivered to %s",
			name, count(len(scopesAfter), "scope"), count(len(rolesAfter), "role"), count(len(will), "destination"))
	case Replace:
		ch.Rotates = true
		old, now := str(r.before["name"]), str(r.after["name"])
		if old != now && !r.sensitive("name") {
			add(High, Breakage, "token %s is renamed to %s: the old token is revoked and the secrets it wrote are removed; consumers of %s lose their value until they read the new token's",
				code(old), code(now), code(old))
		} else {
			add(High, Breakage, "token %s is replaced: every value is revoked and a new token issued", name)
		}
	case Delete:
		add(High, Breakage, "token %s is revoked and removed from %s: consumers lose their secret", name, count(len(was), "destination"))
	case Forget:
		add(Info, Breakage, "token %s leaves Terraform's management; it stays valid and is no longer rotated by apply", name)
	case Import:
		add(Info, Ownership, "token %s is imported into Terraform as it is", name)
	case Update:
		switch {
		case r.changed("rotation_triggers"):
			ch.Rotates = true
			ch.Details = append(ch.Details, "rotates: rotation_triggers changed")
		case len(addedDest) > 0 || len(removedDest) > 0:
			ch.Rotates = true
			ch.Details = append(ch.Details, "rotates: its destinations changed")
		case r.unknown("current_version"):
			ch.Rotates = true
			ch.Details = append(ch.Details, "rotates")
		}
		for _, t := range addedDest {
			add(Warn, Reach, "the token is now delivered to %s", describe(t.kind, t.config))
		}
		for _, t := range removedDest {
			add(Warn, Breakage, "%s is removed: whatever reads it loses the token", describe(t.kind, t.config))
		}
	}

	// Privilege: what the token may do now that it could not before.
	if after != nil && !r.sensitive("scopes") {
		added := scopesAfter
		if r.before != nil && ch.Action != Replace {
			added, _ = diff(scopesBefore, scopesAfter)
		}
		for _, s := range added {
			if isWildcard(s) {
				add(High, Privilege, "wildcard scope %s grants every action on %s", code(s), code(resourceOf(s)))
			} else if ch.Action == Update {
				add(Warn, Privilege, "scope %s is granted", code(s))
			}
		}
	}
	if after != nil && !r.sensitive("roles") && ch.Action == Update {
		added, _ := diff(rolesBefore, rolesAfter)
		for _, role := range added {
			if rs, ok := w.roles[role]; ok {
				add(Warn, Privilege, "role %s is granted, with scopes %s", code(role), codes(rs))
			} else {
				add(Warn, Privilege, "role %s is granted", code(role))
			}
		}
	}

	// Lifetime.
	if after != nil {
		ttlBefore, okBefore := durationOf(r, false, "ttl")
		ttlAfter, okAfter := durationOf(r, true, "ttl")
		if okBefore && okAfter && ttlAfter > ttlBefore && ch.Action == Update {
			add(Warn, Lifetime, "ttl grows from %s to %s: each value lives longer", code(duration.Format(ttlBefore)), code(duration.Format(ttlAfter)))
		}
		overlapBefore, okBefore := durationOf(r, false, "overlap")
		overlapAfter, okAfter := durationOf(r, true, "overlap")
		if okAfter && overlapAfter == 0 && (!okBefore || overlapBefore != 0) {
			add(Warn, Lifetime, "overlap is 0: the previous value stops working the moment a rotation finishes, before consumers can pick up the new one")
		}
	}

	// Policy.
	if after != nil && !pol.Empty() {
		for _, v := range pol.CheckToken(policyToken(r, w, will)) {
			flags = append(flags, Flag{Level: High, Category: categoryOf(v.Field), Message: "policy: " + code(v.Field) + ": " + v.Message, Policy: true})
		}
	}
	if ch.Rotates && (ch.Action == Update) {
		overlap := r.show(true, "overlap")
		add(Info, Lifetime, "a new value is issued and delivered to %s; the previous value stays valid for %s", count(len(will), "destination"), overlap)
	}
	ch.Flags = append(ch.Flags, flags...)
}

// listChange renders a list attribute with its changes marked.
func listChange(r resource, attr string, before, after []string) string {
	switch {
	case r.sensitive(attr) || (r.after != nil && r.unknown(attr)):
		return sensitiveOrUnknown(r, attr)
	case r.before == nil || r.after == nil:
		if len(before)+len(after) == 0 {
			return "none"
		}
		return codes(append(before, after...))
	}
	return marks(before, after)
}

func sensitiveOrUnknown(r resource, attr string) string {
	if r.sensitive(attr) {
		return sensitiveText
	}
	return unknownText
}

func uniq(ss []string) []string {
	slices.Sort(ss)
	return slices.Compact(ss)
}

func isWildcard(scope string) bool { return scope == "*" || strings.HasSuffix(scope, ":*") }

func resourceOf(scope string) string {
	res, _, _ := strings.Cut(scope, ":")
	return res
}

// durationOf reads a duration attribute; false when it is unset, unknown,
// sensitive or not a duration.
func durationOf(r resource, after bool, attr string) (time.Duration, bool) {
	if r.sensitive(attr) || (after && r.unknown(attr)) {
		return 0, false
	}
	s, ok := r.side(after)[attr].(string)
	if !ok {
		return 0, false
	}
	d, err := duration.Parse(s)
	return d, err == nil
}

// policyToken is what the policy checks of a token as it will be.
func policyToken(r resource, w world, will []target) policy.Token {
	t := policy.Token{Name: str(r.after["name"]), Owner: str(r.after["owner"]), Roles: map[string][]string{}}
	if !r.sensitive("scopes") {
		t.Scopes = strs(r.after["scopes"])
	}
	if !r.sensitive("roles") {
		for _, role := range strs(r.after["roles"]) {
			t.Roles[role] = w.roles[role]
		}
	}
	t.TTL, _ = durationOf(r, true, "ttl")
	t.RotateBefore, _ = durationOf(r, true, "rotate_before")
	if o, ok := durationOf(r, true, "overlap"); ok {
		t.Overlap = o
	} else {
		t.Overlap = math.MaxInt64 // unknown until apply, which checks it
	}
	for _, d := range will {
		t.Destinations = append(t.Destinations, policy.Destination{Path: d.path, Kind: d.kind, Config: d.config})
	}
	if r.sensitive("owner") || r.unknown("owner") {
		t.Owner = sensitiveText // present, and not shown
	}
	return t
}

// categoryOf files a policy violation under the risk it is about.
func categoryOf(field string) Category {
	switch {
	case field == "owner":
		return Ownership
	case field == "scopes" || field == "roles":
		return Privilege
	case field == "ttl" || field == "overlap" || field == "rotate_before":
		return Lifetime
	}
	return Reach
}
