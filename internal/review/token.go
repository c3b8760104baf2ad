package review

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// destinationAttrs are the token attributes that list destinations, with
// the kind of destination each holds.
var destinationAttrs = []struct{ attr, kind string }{
	{"github_secrets", destination.KindRepositorySecret},
	{"github_organization_secrets", destination.KindOrganizationSecret},
	{"github_dependabot_secrets", destination.KindDependabotSecret},
	{"files", destination.KindFile},
	{"vault_secrets", destination.KindVaultKV},
	{"aws_secrets", destination.KindAWSSecret},
}

// target is one destination of a token on one side of the change.
type target struct {
	path   string // attribute path, such as "github_secrets[0]"
	kind   string
	config destination.Config // a file's Path is its resolved_path when the plan has one
	key    string             // the place it writes to, spelled one way
	// written is a file's path as the configuration wrote it, when the
	// plan resolved it to another (config.Path).
	written string
}

// targets reads a token's destinations on one side, leaving out the
// attributes that are hidden (sensitive or known only after apply).
func targets(r resource, after bool) []target {
	var out []target
	for _, d := range destinationAttrs {
		if r.hidden(d.attr) {
			continue
		}
		for i, o := range objects(r.side(after)[d.attr]) {
			c := destination.Config{
				Path: str(o["path"]), Key: str(o["key"]), Format: str(o["format"]),
				Mode: str(o["mode"]), Owner: str(o["owner"]), Group: str(o["group"]),
				Repository: str(o["repository"]), Environment: str(o["environment"]),
				Organization: str(o["organization"]), Name: str(o["name"]),
				Visibility: str(o["visibility"]), Repositories: strs(o["repositories"]),
				Field: str(o["field"]), // a credential's
			}
			var written string
			if rp := str(o["resolved_path"]); rp != "" && rp != c.Path {
				// The store keeps, and rotations write, the resolved path.
				written, c.Path = c.Path, rp
			}
			key := d.kind + ":" + describe(d.kind, c)
			if sd, err := destination.New(d.kind, c); err == nil {
				key = sd.Key
			}
			out = append(out, target{path: fmt.Sprintf("%s[%d]", d.attr, i), kind: d.kind, config: c, key: key, written: written})
		}
	}
	return out
}

// describe says where the target writes, for a reviewer, with a file's
// path as written when it was resolved to another.
func (t target) describe() string {
	s := describe(t.kind, t.config)
	if t.kind == destination.KindFile && t.written != "" {
		s = strings.Replace(s, "file "+code(t.config.Path), "file "+code(t.written)+", resolved to "+code(t.config.Path), 1)
	}
	return s
}

// resolvedRelative matches a file the before side holds by a relative path
// without resolved_path (stored by a provider that did not resolve paths)
// to the file the after side resolves the same path to, so that resolving
// it reads as what it is, not a new file and a removed one.
func resolvedRelative(ch *Change, was, will []target) {
	for i, w := range was {
		if w.kind != destination.KindFile || w.written != "" || path.IsAbs(w.config.Path) {
			continue
		}
		for _, n := range will {
			if n.kind == destination.KindFile && n.written != "" && path.Clean(n.written) == path.Clean(w.config.Path) &&
				n.config.Key == w.config.Key && n.config.Format == w.config.Format {
				was[i].key = n.key
				ch.Details = append(ch.Details, "resolved: "+code(w.config.Path)+" was stored relative, so each process "+
					"resolved it against its own folder; it is stored as "+code(n.config.Path)+" from now on")
			}
		}
	}
}

func find(ts []target, key string) (target, bool) {
	i := slices.IndexFunc(ts, func(t target) bool { return t.key == key })
	if i < 0 {
		return target{}, false
	}
	return ts[i], true
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
	case destination.KindVaultKV:
		if c.Key == "" {
			return "Vault KV secret " + code(c.Path) + " (field from the token name)"
		}
		return "Vault KV secret " + code(c.Path) + " field " + code(c.Key)
	case destination.KindAWSSecret:
		return "AWS Secrets Manager secret " + code(c.Name)
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

// reach ranks an organization secret's visibility: the higher, the more
// repositories can read it.
func reach(visibility string) int {
	return slices.Index([]string{destination.VisibilitySelected, destination.VisibilityPrivate, destination.VisibilityAll}, visibility)
}

// grants are a token's own scopes and roles on both sides of a change.
type grants struct {
	scopesBefore, scopesAfter []string
	rolesBefore, rolesAfter   []string
}

func reviewToken(ch *Change, r resource, w world, pol policy.Policy) {
	ch.Name = r.name("name")
	g := grants{
		scopesBefore: r.list(false, "scopes"), scopesAfter: r.list(true, "scopes"),
		rolesBefore: r.list(false, "roles"), rolesAfter: r.list(true, "roles"),
	}
	was, will := targets(r, false), targets(r, true)
	if r.after == nil {
		will = nil
	}
	honeyBefore, honeyAfter := r.boolOn(false, "honeytoken"), r.boolOn(true, "honeytoken")
	ch.Honeytoken = honeyAfter || (r.after == nil && honeyBefore)

	ch.Details = append(ch.Details, "owner: "+r.showChange("owner"),
		"scopes: "+listChange(r, "scopes", g.scopesBefore, g.scopesAfter),
		"roles: "+listChange(r, "roles", g.rolesBefore, g.rolesAfter))
	if len(g.rolesAfter) > 0 && !r.hidden("scopes") {
		if eff, known := w.effective(g.scopesAfter, g.rolesAfter); known {
			ch.Details = append(ch.Details, "grants, with its roles: "+codes(eff))
		}
	}
	ch.Details = append(ch.Details, fmt.Sprintf("lifetime: ttl %s, rotate_before %s, overlap %s",
		r.showChange("ttl"), r.showChange("rotate_before"), r.showChange("overlap")))
	honeytokenDetails(ch, r, honeyBefore, honeyAfter, w.privilegedAfter(g))
	tokenRestrictions(ch, r)

	tokenAction(ch, r, len(was), len(will))
	resolvedRelative(ch, was, will)
	added, removed := tokenDestinations(ch, r, was, will)
	if ch.Action == Update && (r.changed("rotation_triggers") || len(added)+len(removed) > 0 || r.unknown("current_version")) {
		ch.Rotates = true
		reason := "its destinations changed"
		if r.changed("rotation_triggers") {
			reason = "rotation_triggers changed"
		}
		ch.Details = append(ch.Details, "rotates: "+reason)
		ch.flag(Info, Lifetime, "a new value is issued and delivered to %s; the previous value stays valid for %s",
			count(len(will), "destination"), r.show(true, "overlap"))
	}
	if r.after == nil {
		return
	}
	for _, t := range will {
		if t.kind == destination.KindFile {
			_, had := find(was, t.key)
			fileFlags(ch, t, !had, !had || ch.Rotates)
		}
	}
	if honeyAfter {
		honeytokenPrivilege(ch, r, w, g)
	} else {
		tokenPrivilege(ch, r, w, g)
	}
	tokenLifetime(ch, r)
	if !pol.Empty() {
		pt := policyToken(r, w, g, will)
		pt.Honeytoken = honeyAfter
		ch.policyFlags(pol.CheckToken(pt), categoryOf, false)
		if r.unknown("scopes") || r.unknown("roles") || slices.ContainsFunc(destinationAttrs, func(d struct{ attr, kind string }) bool { return r.unknown(d.attr) }) {
			ch.flag(Warn, Privilege, "the policy cannot check what is known only after apply; the provider checks it again when it applies")
		}
	}
}

// tokenAction flags what the action itself does to the token's consumers.
func tokenAction(ch *Change, r resource, was, will int) {
	name := label(ch.Name)
	switch ch.Action {
	case Create:
		ch.Rotates = true
		if ch.Honeytoken {
			ch.flag(Info, Privilege, "a new honeytoken %s is issued and delivered to %s as a decoy: its values never verify, and any use raises the honeytoken_used alert",
				name, count(will, "destination"))
			break
		}
		ch.flag(Info, Privilege, "a new token %s is issued and delivered to %s", name, count(will, "destination"))
	case Replace:
		ch.Rotates = true
		old, now := r.nameOn(false, "name"), r.nameOn(true, "name")
		switch {
		case slices.Contains(r.rc.Change.Actions, tfjson.ActionForget):
			ch.flag(Warn, Breakage, "token %s is replaced by a new one, and the old one is only forgotten: it stays valid, no longer rotated, until it expires or is revoked by hand",
				label(old))
		case old != now && old != sensitiveText && now != sensitiveText:
			ch.flag(High, Breakage, "token %s is renamed to %s: the old token is revoked and the secrets it wrote are removed; consumers of %s lose their value until they read the new token's",
				label(old), label(now), label(old))
		default:
			ch.flag(High, Breakage, "token %s is replaced: every value is revoked and a new token issued", name)
		}
	case Delete:
		ch.flag(High, Breakage, "token %s is revoked and removed from %s: consumers lose their secret", name, count(was, "destination"))
	case Forget:
		ch.flag(Info, Breakage, "token %s leaves Terraform's management; it stays valid and is no longer rotated by apply", name)
	case Import:
		ch.flag(Info, Ownership, "token %s is imported into Terraform as it is", name)
	}
}

// tokenDestinations details where the token is delivered and flags what
// reaches further or goes away. It returns the destinations added and
// removed by an update or a replacement.
func tokenDestinations(ch *Change, r resource, was, will []target) (added, removed []target) {
	changing := ch.Action == Update || ch.Action == Replace
	for _, d := range destinationAttrs {
		switch {
		case r.sensitive(d.attr):
			ch.Details = append(ch.Details, d.attr+": "+sensitiveText)
		case r.after != nil && r.unknown(d.attr):
			ch.Details = append(ch.Details, d.attr+": "+unknownText)
			ch.flag(Warn, Reach, "%s is known only after apply: review where the token goes in the plan", d.attr)
		}
	}
	for _, t := range will {
		old, had := find(was, t.key)
		switch {
		case !had && changing:
			added = append(added, t)
			ch.Details = append(ch.Details, "delivered to: +"+t.describe())
			ch.flag(Warn, Reach, "the token is now delivered to %s", t.describe())
		case had && (old.config.Visibility != t.config.Visibility || !slices.Equal(old.config.Repositories, t.config.Repositories)):
			ch.Details = append(ch.Details, "delivered to: "+t.describe()+" (was "+visibleTo(old.config)+")")
			widened(ch, old, t)
		default:
			ch.Details = append(ch.Details, "delivered to: "+t.describe())
		}
		if t.kind == destination.KindOrganizationSecret && t.config.Visibility == destination.VisibilityAll && !had {
			ch.flag(High, Reach, "organization secret %s makes the token readable by every repository of %s",
				code(t.config.Name), code(t.config.Organization))
		}
	}
	for _, t := range was {
		if _, kept := find(will, t.key); !kept {
			removed = append(removed, t)
			ch.Details = append(ch.Details, "delivered to: -"+t.describe())
			if changing {
				ch.flag(Warn, Breakage, "%s is removed: whatever reads it loses the token", t.describe())
			}
		}
	}
	return added, removed
}

// fileFlags flags what writing a file destination risks: a new file, a raw
// one (it replaces whatever the file held), a file under /etc, and, each
// time the apply writes it, a path that hands over the host to whoever
// controls what is written there, whatever the policy allows.
func fileFlags(ch *Change, t target, isNew, writes bool) {
	file := path.Clean(t.config.Path)
	shown := t.describe()
	if reason, ok := hostTakeover(file); ok && writes {
		ch.flag(High, Reach, "%s %s: a token written there hands over the host", shown, reason)
	}
	if mode, err := strconv.ParseUint(t.config.Mode, 8, 32); err == nil && writes {
		switch {
		case mode&0o006 != 0:
			ch.flag(High, Reach, "%s gets mode %s: every user of the host can read or replace the value", shown, code(t.config.Mode))
		case mode&0o020 != 0:
			ch.flag(Warn, Reach, "%s gets mode %s: the file's group can replace the value", shown, code(t.config.Mode))
		}
	}
	if !isNew {
		return
	}
	if ch.Action == Create {
		ch.flag(Warn, Reach, "the token is written to a new %s: check who can read the file and who can write its folder", shown)
	}
	if t.config.Format == destination.FormatRaw {
		ch.flag(Warn, Breakage, "a raw destination replaces the whole of file %s with the value, whatever it held", code(t.config.Path))
	}
	if _, host := hostTakeover(file); !host && strings.HasPrefix(file, "/etc/") {
		ch.flag(Warn, Reach, "%s is under /etc, among the host's configuration", shown)
	}
	if !path.IsAbs(file) {
		ch.flag(Warn, Reach, "%s is relative and the plan does not resolve it: each tokenward rotate writes it relative to the folder it runs in", shown)
	}
}

// hostTakeover says why a file at the clean path file controls the host:
// who may log in, run commands as root, or what runs at boot or on a
// schedule. Writing a token value there replaces or adds to what the host
// trusts.
func hostTakeover(file string) (string, bool) {
	under := func(dir string) bool { return file == dir || strings.HasPrefix(file, dir+"/") }
	parts := strings.Split(strings.TrimPrefix(file, "/"), "/")
	switch {
	case strings.HasPrefix(path.Base(file), "authorized_keys"):
		return "is an SSH authorized_keys file, which says who may log in", true
	case slices.Contains(parts[:len(parts)-1], ".ssh"):
		return "is in an .ssh folder, which holds a user's SSH keys and login rules", true
	case under("/root"):
		return "is in root's home folder", true
	case strings.HasPrefix(file, "/etc/sudoers"):
		return "is sudo's configuration, which says who may run commands as root", true
	case strings.HasPrefix(file, "/etc/cron"):
		return "is cron's configuration, which says what runs on a schedule", true
	case under("/etc/systemd"):
		return "is systemd's configuration, which says what runs at boot", true
	case under("/etc/passwd"), under("/etc/shadow"), file == "/etc/passwd-", file == "/etc/shadow-":
		return "is the host's user database", true
	case under("/usr"), under("/bin"), under("/sbin"), under("/lib"), under("/lib32"), under("/lib64"), under("/boot"):
		return "is among the host's programs, libraries or boot files", true
	}
	return "", false
}

// widened flags an organization secret that more repositories can read.
func widened(ch *Change, old, now target) {
	name, org := code(now.config.Name), code(now.config.Organization)
	switch {
	case now.config.Visibility == destination.VisibilityAll && old.config.Visibility != destination.VisibilityAll:
		ch.flag(High, Reach, "organization secret %s of %s is widened to every repository of the organization (was %s)", name, org, visibleTo(old.config))
	case reach(now.config.Visibility) > reach(old.config.Visibility):
		ch.flag(Warn, Reach, "organization secret %s of %s is widened: %s (was %s)", name, org, visibleTo(now.config), visibleTo(old.config))
	case now.config.Visibility == destination.VisibilitySelected:
		if more, _ := diff(old.config.Repositories, now.config.Repositories); len(more) > 0 {
			ch.flag(Warn, Reach, "organization secret %s of %s becomes visible to %s too", name, org, codes(more))
		}
	}
}

// tokenPrivilege flags what the token may do after the change that it
// could not before: its own scopes, and those of its roles.
func tokenPrivilege(ch *Change, r resource, w world, g grants) {
	for _, attr := range []string{"scopes", "roles"} {
		if r.after != nil && r.unknown(attr) {
			ch.flag(Warn, Privilege, "%s are known only after apply: review what the token is granted in the plan", attr)
		}
	}
	changing := ch.Action == Update || ch.Action == Replace
	before, _ := w.effective(g.scopesBefore, g.rolesBefore)
	if !changing {
		before = nil
	}
	introspection(ch, w, g, before)
	tokenPrivileged(ch, w, g, before)
	after, _ := w.effective(g.scopesAfter, g.rolesAfter)
	for _, s := range after {
		if !isWildcard(s) || slices.Contains(before, s) {
			continue
		}
		if slices.Contains(g.scopesAfter, s) {
			ch.flag(High, Privilege, "wildcard scope %s grants every action on %s", code(s), code(resourceOf(s)))
		} else {
			ch.flag(High, Privilege, "wildcard scope %s, through %s, grants every action on %s", code(s), roleNames(w.through(s, g.rolesAfter)), code(resourceOf(s)))
		}
	}
	if !changing {
		return
	}
	scopes, _ := diff(g.scopesBefore, g.scopesAfter)
	for _, s := range scopes {
		if !isWildcard(s) && s != registry.ScopeIntrospect && !w.isPrivileged(s) { // flagged by introspection, tokenPrivileged
			ch.flag(Warn, Privilege, "scope %s is granted", code(s))
		}
	}
	roles, _ := diff(g.rolesBefore, g.rolesAfter)
	for _, name := range roles {
		if rl, ok := w.roles[name]; ok && !rl.hidden {
			ch.flag(Warn, Privilege, "role %s is granted, with scopes %s", code(name), codes(rl.scopes))
		} else {
			ch.flag(Warn, Privilege, "role %s is granted", code(name))
		}
	}
}

func roleNames(roles []string) string {
	return plural(len(roles), "role", "roles") + " " + codes(roles)
}

// tokenLifetime flags a value that lives longer, or a rotation without
// overlap.
func tokenLifetime(ch *Change, r resource) {
	if ch.Action == Update || ch.Action == Replace {
		before, okBefore := durationOf(r, false, "ttl")
		after, okAfter := durationOf(r, true, "ttl")
		if okBefore && okAfter && after > before {
			ch.flag(Warn, Lifetime, "ttl grows from %s to %s: each value lives longer", code(duration.Format(before)), code(duration.Format(after)))
		}
	}
	before, okBefore := durationOf(r, false, "overlap")
	after, okAfter := durationOf(r, true, "overlap")
	if okAfter && after == 0 && (!okBefore || before != 0) {
		ch.flag(Warn, Lifetime, "overlap is 0: the previous value stops working the moment a rotation finishes, before consumers can pick up the new one")
	}
}

// listChange renders a list attribute with its changes marked.
func listChange(r resource, attr string, before, after []string) string {
	switch {
	case r.sensitive(attr):
		return sensitiveText
	case r.after != nil && r.unknown(attr):
		return unknownText
	case r.before == nil || r.after == nil:
		if len(before)+len(after) == 0 {
			return "none"
		}
		return codes(append(before, after...))
	}
	return marks(before, after)
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

// policyToken is what the policy checks of a token as it will be. What is
// hidden is left out: the provider checks it when it applies.
func policyToken(r resource, w world, g grants, will []target) policy.Token {
	t := policy.Token{Name: r.nameOn(true, "name"), Owner: r.nameOn(true, "owner"), Scopes: g.scopesAfter, Roles: map[string][]string{}}
	for _, name := range g.rolesAfter {
		if rl := w.roles[name]; !rl.hidden {
			t.Roles[name] = rl.scopes
		}
	}
	t.Privileged = policy.PrivilegedHeld(w.privilegedNames(), t.Scopes, t.Roles)
	t.TTL, _ = durationOf(r, true, "ttl")
	t.RotateBefore, _ = durationOf(r, true, "rotate_before")
	t.Overlap = math.MaxInt64 // unknown until apply, which checks it
	if o, ok := durationOf(r, true, "overlap"); ok {
		t.Overlap = o
	}
	for _, d := range will {
		t.Destinations = append(t.Destinations, policy.Destination{Path: d.path, Kind: d.kind, Config: d.config})
	}
	return t
}

// categoryOf files a policy violation of a token under the risk it is
// about.
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

// honeytokenDetails says that a token is a honeytoken, and flags a
// replacement that turns a decoy into a real token or back (the provider
// never changes it in place: the token is replaced, with new values). The
// decoy's privileged scopes, bait until then, become real: tokenPrivileged
// does not flag them as granted (the decoy held them already), so the flag
// names them.
func honeytokenDetails(ch *Change, r resource, before, after bool, privileged []string) {
	name := label(ch.Name)
	switch {
	case before && after, before && r.after == nil, after && r.before == nil:
		ch.Details = append(ch.Details, "honeytoken: yes, a decoy: its values never verify, and any use raises the honeytoken_used alert")
	case before && !after:
		ch.Details = append(ch.Details, "honeytoken: yes → no")
		brings := ""
		if len(privileged) > 0 {
			brings = fmt.Sprintf("; its values will grant privileged %s %s", plural(len(privileged), "scope", "scopes"), codes(privileged))
		}
		ch.flag(High, Privilege, "token %s stops being a honeytoken: it is replaced by a real token whose values verify, delivered where the decoy was planted, "+
			"which an intruder may be watching%s", name, brings)
	case !before && after:
		ch.Details = append(ch.Details, "honeytoken: no → yes")
		ch.flag(Info, Privilege, "token %s becomes a honeytoken: it is replaced by a decoy whose values never verify", name)
	}
}

// honeytokenPrivilege stands for tokenPrivilege on a honeytoken: its scopes
// and roles grant nothing, since no value of it ever verifies, so they are
// said to be bait instead of flagged as grants.
func honeytokenPrivilege(ch *Change, r resource, w world, g grants) {
	eff, _ := w.effective(g.scopesAfter, g.rolesAfter)
	if len(eff) == 0 || r.hidden("scopes") || r.hidden("roles") {
		return
	}
	ch.flag(Info, Privilege, "honeytoken %s grants nothing: its scopes %s are bait, and every endpoint answers its values as unknown tokens",
		label(ch.Name), codes(eff))
}
