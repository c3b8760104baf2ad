// Package policy holds an organisation's limits on tokens and checks a
// token's declaration against them: the longest lifetime, the shortest
// overlap, whether an owner is required, the scopes no token may hold, how
// many privileged scopes one may hold, and the repositories and files
// tokens may be delivered to.
//
// It is pure: no I/O and no Terraform types, so the provider checks plans
// with it and `tokenward review` checks plan JSON with the same rules. Each
// violation names the attribute at fault by its path in the token resource
// ("ttl", "scopes", "github_secrets[0].repository").
package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
)

// Policy is an organisation's limits on tokens. The zero Policy allows
// everything.
type Policy struct {
	MaxTTL       time.Duration // longest ttl a token may have; 0 for no limit
	MinOverlap   time.Duration // shortest overlap a token may have; 0 for no limit
	RequireOwner bool          // every token must name an owner
	// ForbiddenScopes are scopes no token may hold, directly or through a
	// role: "*" (every scope), "resource:*" (every action of a resource) or
	// an exact scope such as "admin:write".
	ForbiddenScopes []string
	// MaxPrivilegedScopes is how many privileged scopes one token may
	// hold, directly or through its roles; 0 for no limit.
	MaxPrivilegedScopes int
	// RequireOwnerForPrivileged requires every token that holds a
	// privileged scope to name an owner, even when RequireOwner is off.
	RequireOwnerForPrivileged bool
	// AllowedRepositories are globs (path.Match syntax, such as "acme/*")
	// of the owner/name repositories GitHub destinations may deliver to.
	// Empty allows every repository.
	AllowedRepositories []string
	// AllowedPaths are globs of the absolute files file destinations may
	// write: path.Match syntax, where * stays within one folder ("/etc/app/*"),
	// and a trailing "/**" for anything under a folder ("/srv/app/**"). A
	// path is checked cleaned, so "/srv/app/../../root/x" is /root/x. Empty
	// allows every path.
	AllowedPaths []string
	// OnRevokedVersionUsed is what `tokenward serve` does when a revoked
	// or rotated-out version is presented: "alert" (also the empty
	// value) raises revoked_version_used; "revoke" also revokes every
	// version of the token. The provider cannot reach a server: serve reads
	// it from the same policy file review takes (serve --policy FILE).
	OnRevokedVersionUsed string
}

// Responses on_revoked_version_used takes.
const (
	OnRevokedAlert  = "alert"
	OnRevokedRevoke = "revoke"
)

// Token is what the policy checks about a token's declaration.
type Token struct {
	Name         string
	Owner        string
	Scopes       []string            // the token's own scopes
	Roles        map[string][]string // role name → the role's scopes, for the roles the token holds
	TTL          time.Duration
	RotateBefore time.Duration
	Overlap      time.Duration
	Destinations []Destination
	// Honeytoken marks a decoy, whose values never verify: its scopes and
	// roles grant nothing, so forbidden_scopes does not apply to them (bait
	// may look as valuable as it likes). Every other rule does: an owner
	// answers its alerts, and where it is written is as real as any
	// token's destination.
	Honeytoken bool
	// Privileged lists the privileged scopes the token holds, directly or
	// through its roles, each once and sorted; a wildcard it holds
	// (billing:*) holds every privileged scope it covers. PrivilegedHeld
	// computes it. A honeytoken's scopes grant nothing, so max_privileged_scopes
	// and require_owner_for_privileged do not apply to it.
	Privileged []string
}

// PrivilegedHeld returns the scopes of privileged that scopes, or the
// scopes of roles, grant: exactly, or through a wildcard (resource:*
// grants every action of resource, * every scope). Each once, sorted.
func PrivilegedHeld(privileged, scopes []string, roles map[string][]string) []string {
	held := slices.Clone(scopes)
	for _, rs := range roles {
		held = append(held, rs...)
	}
	var out []string
	for _, p := range privileged {
		if slices.ContainsFunc(held, func(h string) bool { return Covers(h, p) }) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Covers reports whether holding scope held grants scope s: the same
// scope, or a wildcard over it ("*", or "billing:*" over "billing:admin").
func Covers(held, s string) bool {
	if held == s || held == "*" {
		return true
	}
	res, action, ok := strings.Cut(held, ":")
	return ok && action == "*" && strings.HasPrefix(s, res+":")
}

// Destination is one destination of a token with the attribute path it was
// declared at, such as "github_secrets[0]".
type Destination struct {
	Path   string
	Kind   string // destination.Kind*
	Config destination.Config
}

// Violation is one way a token breaks the policy.
type Violation struct {
	Field   string // attribute path, such as "ttl" or "github_secrets[0].repository"
	Message string // what is wrong and what the policy allows; never a value of a secret
}

func (v Violation) String() string { return v.Field + ": " + v.Message }

// Empty reports whether the policy allows everything: no limit is set.
func (p Policy) Empty() bool {
	return p.MaxTTL == 0 && p.MinOverlap == 0 && !p.RequireOwner && len(p.ForbiddenScopes) == 0 && len(p.AllowedRepositories) == 0 &&
		len(p.AllowedPaths) == 0 && p.MaxPrivilegedScopes == 0 && !p.RequireOwnerForPrivileged
}

// Check reports whether the policy itself is usable: durations not negative
// and every pattern well formed. Field names the policy attribute at fault.
func (p Policy) Check() []Violation {
	var out []Violation
	if p.MaxTTL < 0 {
		out = append(out, Violation{"max_ttl", "must not be negative"})
	}
	if p.MinOverlap < 0 {
		out = append(out, Violation{"min_overlap", "must not be negative"})
	}
	if p.MaxPrivilegedScopes < 0 {
		out = append(out, Violation{"max_privileged_scopes", "must not be negative: give how many privileged scopes one token may hold, or 0 for no limit"})
	}
	for i, s := range p.ForbiddenScopes {
		if err := checkScopePattern(s); err != nil {
			out = append(out, Violation{fmt.Sprintf("forbidden_scopes[%d]", i), err.Error()})
		}
	}
	for i, g := range p.AllowedRepositories {
		if err := checkRepositoryGlob(g); err != nil {
			out = append(out, Violation{fmt.Sprintf("allowed_repositories[%d]", i), err.Error()})
		}
	}
	for i, g := range p.AllowedPaths {
		if err := checkPathGlob(g); err != nil {
			out = append(out, Violation{fmt.Sprintf("allowed_paths[%d]", i), err.Error()})
		}
	}
	switch p.OnRevokedVersionUsed {
	case "", OnRevokedAlert, OnRevokedRevoke:
	default:
		out = append(out, Violation{"on_revoked_version_used", fmt.Sprintf("must be %q or %q", OnRevokedAlert, OnRevokedRevoke)})
	}
	return out
}

// checkPathGlob reports whether g is an absolute, clean path glob, with
// "**" only as a trailing "/**": elsewhere path.Match would read it as *,
// which stays within one folder, and not what it seems to promise.
func checkPathGlob(g string) error {
	dir, under := strings.CutSuffix(g, "/**")
	switch {
	case !strings.HasPrefix(g, "/"):
		return fmt.Errorf("%q must be an absolute path glob, such as /etc/app/* or /srv/app/**", g)
	case strings.Contains(dir, "**"):
		return fmt.Errorf("%q may use ** only at its end, as /srv/app/** for anything under /srv/app", g)
	case dir != "" && path.Clean(dir) != dir:
		clean := path.Clean(dir)
		if under {
			clean += "/**"
		}
		return fmt.Errorf("%q must be a clean path, without . or .. or a trailing /, such as %s", g, clean)
	}
	if _, err := path.Match(dir, ""); err != nil {
		return fmt.Errorf("%q is not a valid glob: %v", g, err)
	}
	return nil
}

func checkScopePattern(s string) error {
	if s == "*" {
		return nil
	}
	res, action, ok := strings.Cut(s, ":")
	if !ok || res == "" || action == "" || strings.ContainsAny(s, " \t") || strings.Contains(res, "*") ||
		(strings.Contains(action, "*") && action != "*") {
		return fmt.Errorf("%q must be *, resource:* or resource:action, such as admin:* or billing:delete", s)
	}
	return nil
}

func checkRepositoryGlob(g string) error {
	o, n, ok := strings.Cut(g, "/")
	if !ok || o == "" || n == "" || strings.Contains(n, "/") {
		return fmt.Errorf("%q must be an owner/name glob, such as acme/* or acme/api-*", g)
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("%q is not a valid glob: %v", g, err)
	}
	return nil
}

// CheckToken returns every way t breaks the policy, in attribute order; none
// when it complies.
func (p Policy) CheckToken(t Token) []Violation {
	var out []Violation
	add := func(field, format string, args ...any) {
		out = append(out, Violation{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	noOwner := strings.TrimSpace(t.Owner) == ""
	if p.RequireOwner && noOwner {
		add("owner", "the policy requires every token to name an owner, such as a team or an email address")
	} else if p.RequireOwnerForPrivileged && noOwner && len(t.Privileged) > 0 && !t.Honeytoken {
		add("owner", "the token holds privileged scopes (%s) and the policy requires such a token to name an owner (require_owner_for_privileged); set owner to the team or person who answers for it",
			strings.Join(t.Privileged, ", "))
	}
	if p.MaxPrivilegedScopes > 0 && len(t.Privileged) > p.MaxPrivilegedScopes && !t.Honeytoken {
		add("scopes", "the token holds %d privileged scopes (%s), directly or through its roles, more than the policy allows (max_privileged_scopes %d); remove some, or split the token so each holds fewer",
			len(t.Privileged), strings.Join(t.Privileged, ", "), p.MaxPrivilegedScopes)
	}
	for _, s := range t.Scopes {
		if f, ok := p.forbidden(s); ok && !t.Honeytoken {
			add("scopes", "%q is forbidden by the policy (forbidden scope %q)", s, f)
		}
	}
	roles := make([]string, 0, len(t.Roles))
	for r := range t.Roles {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	for _, r := range roles {
		for _, s := range t.Roles[r] {
			if f, ok := p.forbidden(s); ok && !t.Honeytoken {
				add("roles", "role %q grants %q, which the policy forbids (forbidden scope %q)", r, s, f)
			}
		}
	}
	if p.MaxTTL > 0 && t.TTL > p.MaxTTL {
		add("ttl", "%s is longer than the policy allows (max_ttl %s)", duration.Format(t.TTL), duration.Format(p.MaxTTL))
	}
	if p.MinOverlap > 0 && t.Overlap < p.MinOverlap {
		add("overlap", "%s is shorter than the policy requires (min_overlap %s), so consumers may not pick up a rotated value in time",
			duration.Format(t.Overlap), duration.Format(p.MinOverlap))
	}
	if len(p.AllowedRepositories) > 0 {
		for _, d := range t.Destinations {
			for _, r := range repositories(d) {
				switch {
				case p.repositoryAllowed(r.name):
				case r.field == "visibility":
					add(d.Path+".visibility", "%q makes the secret visible to every repository of %s, but the policy allows only some (allowed_repositories: %s); use visibility \"selected\" with allowed repositories",
						d.Config.Visibility, d.Config.Organization, strings.Join(p.AllowedRepositories, ", "))
				default:
					add(d.Path+"."+r.field, "repository %q is not allowed by the policy (allowed_repositories: %s)",
						r.name, strings.Join(p.AllowedRepositories, ", "))
				}
			}
		}
	}
	if len(p.AllowedPaths) > 0 {
		for _, d := range t.Destinations {
			if d.Kind != destination.KindFile {
				continue
			}
			file := d.Config.Path
			switch {
			case !path.IsAbs(file):
				add(d.Path+".path", "%q is relative, so it cannot be checked against the policy's allowed_paths (%s); give an absolute path",
					file, strings.Join(p.AllowedPaths, ", "))
			case !p.PathAllowed(file):
				add(d.Path+".path", "%s is not allowed by the policy (allowed_paths: %s)", shownPath(file), strings.Join(p.AllowedPaths, ", "))
			}
		}
	}
	return out
}

// shownPath is file cleaned, quoted, with the spelling it was given when
// cleaning changed it: "/root/x" (as "/srv/../root/x").
func shownPath(file string) string {
	if c := path.Clean(file); c != file {
		return fmt.Sprintf("%q (as %q)", c, file)
	}
	return fmt.Sprintf("%q", file)
}

// PathAllowed reports whether the policy allows a file destination at
// file, an absolute path, which it checks cleaned.
func (p Policy) PathAllowed(file string) bool {
	if len(p.AllowedPaths) == 0 {
		return true
	}
	file = path.Clean(file)
	for _, g := range p.AllowedPaths {
		dir, under := strings.CutSuffix(g, "/**")
		if !under {
			if ok, err := path.Match(g, file); err == nil && ok {
				return true
			}
			continue
		}
		if dir == "" {
			return true // "/**": every path
		}
		// Under dir: some folder above file matches dir.
		for i := len(file) - 1; i > 0; i-- {
			if file[i] != '/' {
				continue
			}
			if ok, err := path.Match(dir, file[:i]); err == nil && ok {
				return true
			}
		}
	}
	return false
}

// CheckRole returns the scopes of a role the policy forbids: no token may
// hold them, so no role may grant them either.
func (p Policy) CheckRole(scopes []string) []Violation {
	var out []Violation
	for _, s := range scopes {
		if f, ok := p.forbidden(s); ok {
			out = append(out, Violation{Field: "scopes", Message: fmt.Sprintf("%q is forbidden by the policy (forbidden scope %q), so no role may grant it", s, f)})
		}
	}
	return out
}

// forbidden reports the first forbidden pattern that scope s falls under. A
// wildcard scope (billing:*) falls under an exact forbidden scope of its
// resource (billing:delete) too, since it grants it.
func (p Policy) forbidden(s string) (string, bool) {
	res, action, _ := strings.Cut(s, ":")
	for _, f := range p.ForbiddenScopes {
		fres, faction, _ := strings.Cut(f, ":")
		switch {
		case f == "*", f == s:
			return f, true
		case fres == res && (faction == "*" || action == "*"):
			return f, true
		}
	}
	return "", false
}

func (p Policy) repositoryAllowed(repo string) bool {
	for _, g := range p.AllowedRepositories {
		if ok, err := path.Match(g, repo); err == nil && ok {
			return true
		}
	}
	return false
}

type repoRef struct{ field, name string }

// repositories lists the repositories a destination delivers to, with the
// attribute each is declared at. An organization secret with selected
// visibility names its repositories as owner/name or as name, which means
// a repository of that organization.
func repositories(d Destination) []repoRef {
	switch d.Kind {
	case destination.KindRepositorySecret, destination.KindDependabotSecret:
		return []repoRef{{"repository", d.Config.Repository}}
	case destination.KindOrganizationSecret:
		var out []repoRef
		for i, r := range d.Config.Repositories {
			if !strings.Contains(r, "/") {
				r = d.Config.Organization + "/" + r
			}
			out = append(out, repoRef{fmt.Sprintf("repositories[%d]", i), r})
		}
		if d.Config.Visibility != destination.VisibilitySelected {
			// Visible to every (private) repository of the organization:
			// allowed only when the policy allows the whole organization.
			out = append(out, repoRef{"visibility", d.Config.Organization + "/*"})
		}
		return out
	}
	return nil
}
