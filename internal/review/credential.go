package review

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
)

// issuerOf is a credential's issuer on one side of the change: its kind,
// its users and the name of the variable holding its admin credential (a
// name, never a value); ok is false when it is hidden or absent.
func issuerOf(r resource, after bool) (kind string, users []string, adminEnv string, ok bool) {
	if r.hidden("issuer") {
		return "", nil, "", false
	}
	block, _ := r.side(after)["issuer"].(map[string]any)
	for _, k := range []string{"postgres", "mysql", "redis"} {
		o, isSet := block[k].(map[string]any)
		if !isSet || o == nil {
			continue
		}
		users = strs(o["users"])
		if u := str(o["user"]); u != "" {
			users = []string{u}
		}
		adminEnv = str(o["admin_dsn_env"]) + str(o["admin_url_env"])
		return k, users, adminEnv, true
	}
	return "", nil, "", false
}

func describeIssuer(kind string, users []string, adminEnv string) string {
	return fmt.Sprintf("%s, users %s, admin credential from %s", kind, codes(users), code("$"+adminEnv))
}

// reviewCredential reviews a tokenward_credential: a password another
// system issues, which tokenward changes there with an admin credential.
// Its flags: the issuer tokenward gets to change passwords at, where each
// field is delivered, an overlap of 0, what a destroy takes away.
func reviewCredential(ch *Change, r resource) {
	ch.Name = r.name("name")
	name := label(ch.Name)
	was, will := targets(r, false), targets(r, true)
	if r.after == nil {
		will = nil
	}
	kindBefore, usersBefore, envBefore, hadIssuer := issuerOf(r, false)
	kind, users, env, hasIssuer := issuerOf(r, true)
	ch.Details = append(ch.Details, "owner: "+r.showChange("owner"))
	switch {
	case r.after != nil && r.unknown("issuer"):
		ch.Details = append(ch.Details, "issuer: "+unknownText)
	case hasIssuer:
		ch.Details = append(ch.Details, "issuer: "+describeIssuer(kind, users, env))
	}
	ch.Details = append(ch.Details, fmt.Sprintf("lifetime: ttl %s, rotate_before %s, overlap %s",
		r.showChange("ttl"), r.showChange("rotate_before"), r.showChange("overlap")))

	newIssuer := hasIssuer && (!hadIssuer || kind != kindBefore || !slices.Equal(users, usersBefore) || env != envBefore)
	switch ch.Action {
	case Create:
		ch.Rotates = true
		ch.flag(Info, Privilege, "a new credential %s is issued and delivered to %s", name, count(len(will), "destination"))
	case Replace:
		ch.Rotates = true
		ch.flag(High, Breakage, "credential %s is replaced: every password of its users is retired at the issuer and a new one is issued; consumers lose their login until they read the new one", name)
	case Delete:
		ch.flag(High, Breakage, "credential %s is retired at its %s issuer (its users' logins are locked or their passwords removed) and removed from %s: consumers lose their login",
			name, kindBefore, count(len(was), "destination"))
	case Forget:
		ch.flag(Info, Breakage, "credential %s leaves Terraform's management; its password keeps working and is no longer rotated by apply", name)
	case Import:
		ch.flag(Info, Ownership, "credential %s is imported into Terraform as it is", name)
	}
	if newIssuer && (ch.Action == Create || ch.Action == Replace || ch.Action == Update) {
		ch.flag(Warn, Privilege, "a new issuer: tokenward sets the passwords of %s at %s, with the admin credential it reads from %s; check that admin role grants no more than that",
			codes(users), code(kind), code("$"+env))
	}

	// Destinations, as a token's, with the field each receives.
	start, detailStart := len(ch.Flags), len(ch.Details)
	added, removed := tokenDestinations(ch, r, was, will)
	for i := start; i < len(ch.Flags); i++ {
		ch.Flags[i].Message = strings.ReplaceAll(ch.Flags[i].Message, "the token", "the credential")
	}
	for i := detailStart; i < len(ch.Details); i++ { // a default key or Vault field comes from the credential's name
		ch.Details[i] = strings.ReplaceAll(ch.Details[i], "from the token name", "from the credential's name")
	}
	for _, t := range will {
		field := t.config.Field
		if field == "" {
			field = "password"
		}
		ch.Details = append(ch.Details, fmt.Sprintf("%s receives: %s", t.path, code(field)))
		if !slices.ContainsFunc(was, func(o target) bool { return o.key == t.key }) && ch.Action == Update && field != "password" && field != "username" {
			ch.flag(Info, Reach, "%s receives the whole connection string (%s): user, password and host", t.describe(), code(field))
		}
	}
	if ch.Action == Update && (r.changed("rotation_triggers") || len(added)+len(removed) > 0 || r.unknown("current_version")) {
		ch.Rotates = true
		ch.flag(Info, Lifetime, "a new password is staged at the issuer and delivered to %s; the previous one keeps working for %s",
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
	tokenLifetime(ch, r)
}
