package registry

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

var (
	scopeNamePattern = store.ScopeNamePattern // the usage rollup's, too
	namePattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

// MaxNameLength is the longest name of a scope, role or token, and the
// longest setting key, in bytes.
const MaxNameLength = 128

const maxNameLength = MaxNameLength

// maxQuoted is how much of a bad name an error quotes back: enough to find
// it, where a 5,000-character name would bury the message.
const maxQuoted = 64

// Quote is s as %q quotes it, cut to its first maxQuoted characters and
// "…" when it is longer: how an error echoes a name or value it refuses.
func Quote(s string) string {
	if utf8.RuneCountInString(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…", string([]rune(s)[:maxQuoted]))
}

// tooLong is the error about a name longer than maxNameLength bytes: it
// quotes the start of the name and states the limit.
func tooLong(field, what, name string) error {
	return invalid(field, "%s is %d characters long; %s is at most %d", Quote(name), len(name), what, maxNameLength)
}

// CheckScopeName reports whether name is a valid scope: resource:action in
// lower case, or resource:* for every action of one resource.
func CheckScopeName(name string) error {
	if len(name) > maxNameLength {
		return tooLong("name", "a scope", name)
	}
	if !scopeNamePattern.MatchString(name) {
		return invalid("name", "scope %q must be resource:action in lower case (letters, digits, _ . -), such as billing:read, or resource:* for every action of a resource", name)
	}
	return nil
}

// MaxRequiredScopes is how many scopes one verification may require (a
// request to /v1/verify or /v1/authz, or tokenward verify --scope). A real
// check needs a few; the cap is there because every required scope is kept
// in the usage log and rolled up into usage_daily, one row a scope a token
// a day, and a wildcard such as billing:* grants billing:<anything>, so an
// unbounded list of made-up scopes would grow the log, the rollup and the
// report without limit.
const MaxRequiredScopes = 32

// CheckRequiredScopes reports whether scopes may be required of a token:
// at most MaxRequiredScopes, each a valid scope name (CheckScopeName). The
// error names the first bad one by its position; it quotes it cut short,
// and not at all when it looks like a token value, pasted by mistake.
func CheckRequiredScopes(scopes []string) error {
	if len(scopes) > MaxRequiredScopes {
		return invalid("scopes", "%d scopes are required; a verification requires at most %d", len(scopes), MaxRequiredScopes)
	}
	for i, s := range scopes {
		if len(s) <= maxNameLength && scopeNamePattern.MatchString(s) {
			continue
		}
		shown := Quote(s)
		if strings.Contains(s, token.Prefix) {
			shown = "(not quoted: it looks like a token value)"
		}
		return invalid("scopes", "scope %d, %s, is not a scope name: write resource:action in lower case (letters, digits, _ . -), such as billing:read, at most %d characters", i+1, shown, maxNameLength)
	}
	return nil
}

// CheckName reports whether name is a valid name for a role or a token:
// letters, digits, '_', '.' and '-', starting with a letter or digit.
func CheckName(field, name string) error {
	if len(name) > maxNameLength {
		return tooLong(field, "a name", name)
	}
	if len(name) == 0 || !namePattern.MatchString(name) {
		return invalid(field, "%q must be 1 to %d letters, digits, '_', '.' or '-', starting with a letter or digit", name, maxNameLength)
	}
	return nil
}

// ScopeOption sets what CreateScope and UpdateScope record about a scope
// besides its name and description.
type ScopeOption func(*scopeOptions)

type scopeOptions struct {
	privileged *bool
}

// WithPrivileged marks the scope privileged (or not): the pull-request
// review raises its grant as high and the policy may cap how many a token
// holds. CreateScope without it declares a scope that is not privileged;
// UpdateScope without it keeps the scope's flag as it is.
func WithPrivileged(privileged bool) ScopeOption {
	return func(o *scopeOptions) { o.privileged = &privileged }
}

func applyScopeOptions(opts []ScopeOption) scopeOptions {
	var o scopeOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// CreateScope declares a scope. A name under BuiltInPrefix is refused:
// those scopes are tokenward's.
func (r *Registry) CreateScope(ctx context.Context, name, description string, opts ...ScopeOption) (store.Scope, error) {
	if err := CheckDeclaredScope(name); err != nil {
		return store.Scope{}, err
	}
	o := applyScopeOptions(opts)
	now := r.clock()
	s := store.Scope{Name: name, Description: description, Privileged: o.privileged != nil && *o.privileged, CreatedAt: now, UpdatedAt: now}
	err := r.change(ctx, "scope.create", "scope/"+name, func(tx store.Tx, d map[string]string) error {
		if s.Privileged {
			d["privileged"] = "true"
		}
		return tx.CreateScope(ctx, s)
	})
	return s, err
}

// UpdateScope changes the description of a scope, and whether it is
// privileged when WithPrivileged says, unless it is built in. The audit
// event's details say privileged and privileged_before when the flag
// changes.
func (r *Registry) UpdateScope(ctx context.Context, name, description string, opts ...ScopeOption) (store.Scope, error) {
	if err := checkNotBuiltIn(name, "changed"); err != nil {
		return store.Scope{}, err
	}
	o := applyScopeOptions(opts)
	var s store.Scope
	err := r.change(ctx, "scope.update", "scope/"+name, func(tx store.Tx, d map[string]string) error {
		var err error
		if s, err = tx.GetScope(ctx, name); err != nil {
			return err
		}
		if o.privileged != nil && *o.privileged != s.Privileged {
			d["privileged_before"] = strconv.FormatBool(s.Privileged)
			d["privileged"] = strconv.FormatBool(*o.privileged)
			s.Privileged = *o.privileged
		}
		s.Description, s.UpdatedAt = description, r.clock()
		return tx.UpdateScope(ctx, s)
	})
	return s, err
}

// PrivilegedBuiltInScopes returns the names of the built-in scopes that
// are privileged, sorted. They are in every store and never in a plan, so
// the review knows them by name.
func PrivilegedBuiltInScopes() []string {
	var out []string
	for _, s := range BuiltInScopes() {
		if s.Privileged {
			out = append(out, s.Name)
		}
	}
	return out
}

// Scope returns one scope.
func (r *Registry) Scope(ctx context.Context, name string) (s store.Scope, err error) {
	err = r.st.View(ctx, func(tx store.Tx) error { s, err = tx.GetScope(ctx, name); return err })
	return s, err
}

// Scopes returns every scope, sorted by name.
func (r *Registry) Scopes(ctx context.Context) (out []store.Scope, err error) {
	err = r.st.View(ctx, func(tx store.Tx) error { out, err = tx.ListScopes(ctx); return err })
	return out, err
}

// DeleteScope removes a scope that no token or role grants; otherwise the
// error names them. A built-in scope is never deleted.
func (r *Registry) DeleteScope(ctx context.Context, name string) error {
	if err := checkNotBuiltIn(name, "deleted"); err != nil {
		return err
	}
	return r.change(ctx, "scope.delete", "scope/"+name, func(tx store.Tx, _ map[string]string) error {
		tokens, roles, err := tx.ScopeUsers(ctx, name)
		if err != nil {
			return err
		}
		if len(tokens)+len(roles) > 0 {
			return fmt.Errorf("delete scope %s: %w: %s; remove it from them first", name, ErrInUse, users(tokens, roles))
		}
		return tx.DeleteScope(ctx, name)
	})
}

func users(tokens, roles []string) string {
	var parts []string
	if len(tokens) > 0 {
		parts = append(parts, "granted to tokens "+strings.Join(tokens, ", "))
	}
	if len(roles) > 0 {
		parts = append(parts, "part of roles "+strings.Join(roles, ", "))
	}
	return strings.Join(parts, " and ")
}

func checkScopeList(field string, scopes []string) error {
	for _, s := range scopes {
		if err := CheckScopeName(s); err != nil {
			if len(s) > maxNameLength {
				return tooLong(field, "a scope", s)
			}
			return invalid(field, "%q is not a scope: use resource:action, such as billing:read", s)
		}
		if err := checkBuiltInGrant(field, s); err != nil {
			return err
		}
	}
	return nil
}

// sortedSet returns the distinct values of in, sorted.
func sortedSet(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
