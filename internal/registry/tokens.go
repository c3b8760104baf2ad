package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TokenSpec is what a caller declares about a token.
type TokenSpec struct {
	Name         string
	Owner        string
	Description  string
	Scopes       []string
	Roles        []string
	Lifetime     store.Lifetime
	Destinations []store.Destination // Key and Kind set; Config optional
	// AllowedCIDRs are the networks the token may be used from, canonical
	// CIDRs (CheckCIDR) such as 10.0.0.0/8; none allows any source.
	AllowedCIDRs []string
	// RateLimit caps the token's uses per server instance; zero is none.
	RateLimit store.RateLimit
	// Honeytoken makes the token a decoy: issued and delivered like any
	// other, never valid (see store.Token.Honeytoken). It is fixed when the
	// token is created: UpdateToken refuses to change it.
	Honeytoken bool
}

// CheckLifetime reports whether a lifetime policy is usable:
// 0 < rotate_before < ttl and 0 <= overlap <= rotate_before.
func CheckLifetime(l store.Lifetime) error {
	switch {
	case l.TTL <= 0:
		return invalid("ttl", "must be longer than zero, such as 90d")
	case l.RotateBefore <= 0:
		return invalid("rotate_before", "must be longer than zero, such as 14d")
	case l.RotateBefore >= l.TTL:
		return invalid("rotate_before", "must be shorter than ttl (rotate_before is %s, ttl is %s), or every version is due for rotation as soon as it is issued; shorten rotate_before or lengthen ttl",
			duration.Format(l.RotateBefore), duration.Format(l.TTL))
	case l.Overlap < 0:
		return invalid("overlap", "must not be negative")
	case l.Overlap > l.RotateBefore:
		return invalid("overlap", "must not be longer than rotate_before (overlap is %s, rotate_before is %s), so the previous version never outlives its rotation window; shorten overlap or lengthen rotate_before",
			duration.Format(l.Overlap), duration.Format(l.RotateBefore))
	}
	return nil
}

func checkToken(spec TokenSpec) error {
	if err := CheckName("name", spec.Name); err != nil {
		return err
	}
	if err := checkScopeList("scopes", spec.Scopes); err != nil {
		return err
	}
	for _, role := range spec.Roles {
		if err := CheckName("roles", role); err != nil {
			return err
		}
	}
	if err := checkDestinations(spec.Destinations); err != nil {
		return err
	}
	if err := checkRestrictions(spec); err != nil {
		return err
	}
	return CheckLifetime(spec.Lifetime)
}

// CreateToken declares a token. It issues no value: see IssueFirst.
func (r *Registry) CreateToken(ctx context.Context, spec TokenSpec) (store.Token, error) {
	if err := checkToken(spec); err != nil {
		return store.Token{}, err
	}
	id, err := token.NewID(r.rand)
	if err != nil {
		return store.Token{}, fmt.Errorf("create token %s: %w", spec.Name, err)
	}
	now := r.clock()
	tk := store.Token{
		ID: id, Name: spec.Name, Owner: spec.Owner, Description: spec.Description,
		Scopes: sortedSet(spec.Scopes), Roles: sortedSet(spec.Roles), Lifetime: spec.Lifetime,
		AllowedCIDRs: optionalSet(spec.AllowedCIDRs), RateLimit: spec.RateLimit,
		CreatedAt: now, UpdatedAt: now, Honeytoken: spec.Honeytoken,
	}
	err = r.change(ctx, "token.create", "token/"+spec.Name, func(tx store.Tx, d map[string]string) error {
		return saveToken(ctx, tx, d, tk, spec.Destinations, tx.CreateToken)
	})
	return tk, err
}

// checkOwners refuses destinations another live token delivers to already:
// two tokens writing one secret would overwrite each other's value, and
// destroying one would remove the other's.
func checkOwners(ctx context.Context, tx store.Tx, tokenID string, ds []store.Destination) error {
	for _, d := range ds {
		owners, err := tx.DestinationOwners(ctx, d.Key)
		if err != nil {
			return err
		}
		for _, id := range owners {
			if id == tokenID {
				continue
			}
			other, err := tx.GetTokenByID(ctx, id)
			if err != nil {
				return err
			}
			return invalid("destinations", "%s is delivered to by token %q already; a destination belongs to one token, so give this one another secret name, key or file", d.Key, other.Name)
		}
	}
	return checkFiles(ctx, tx, tokenID, ds)
}

// checkFiles refuses destinations that name one file and would overwrite
// each other, however the path is spelled: a raw destination replaces the
// whole file, so no other destination, of this token or another, may name
// it; dotenv destinations of one file each own a line, and differ by key.
func checkFiles(ctx context.Context, tx store.Tx, tokenID string, ds []store.Destination) error {
	clash := func(a, b destination.File) bool { return a.Path == b.Path && (a.Key == "" || b.Key == "") }
	for i, d := range ds {
		f, ok := destination.FileOf(d)
		if !ok {
			continue
		}
		for _, e := range ds[:i] {
			if g, ok := destination.FileOf(e); ok && clash(f, g) {
				return invalid("destinations", "%s and %s both write the file %s, and a raw destination replaces the whole file: keep one of them, or make both dotenv lines with different keys", e.Key, d.Key, f.Path)
			}
		}
		others, err := tx.DestinationsWithKeyPrefix(ctx, destination.FileKeyPrefix(f.Path))
		if err != nil {
			return err
		}
		for _, e := range others {
			g, ok := destination.FileOf(e)
			if e.TokenID == tokenID || !ok || !clash(f, g) {
				continue
			}
			other, err := tx.GetTokenByID(ctx, e.TokenID)
			if err != nil {
				return err
			}
			return invalid("destinations", "%s writes the file %s, which token %q delivers to already (%s), and a raw destination replaces the whole file; a file belongs to one token unless each owns a dotenv line of it, so give this one another file, or make both dotenv lines with different keys", d.Key, f.Path, other.Name, e.Key)
		}
	}
	return nil
}

// saveToken writes a token with write (create or update) and replaces its
// destinations, refusing destinations another token delivers to; d gets the
// audit details.
func saveToken(ctx context.Context, tx store.Tx, d map[string]string, tk store.Token, ds []store.Destination,
	write func(context.Context, store.Token) error) error {
	tokenDetails(d, tk, ds)
	if err := checkOwners(ctx, tx, tk.ID, ds); err != nil {
		return err
	}
	if err := write(ctx, tk); err != nil {
		return err
	}
	return tx.SetDestinations(ctx, tk.ID, withToken(ds, tk.ID))
}

func withToken(ds []store.Destination, id string) []store.Destination {
	out := make([]store.Destination, len(ds))
	for i, d := range ds {
		d.TokenID = id
		out[i] = d
	}
	return out
}

func tokenDetails(d map[string]string, tk store.Token, ds []store.Destination) {
	d["id"] = tk.ID // names are reused after a delete; ids are not
	d["owner"] = tk.Owner
	d["scopes"] = strings.Join(tk.Scopes, ",")
	d["roles"] = strings.Join(tk.Roles, ",")
	d["ttl"] = tk.Lifetime.TTL.String()
	d["rotate_before"] = tk.Lifetime.RotateBefore.String()
	d["overlap"] = tk.Lifetime.Overlap.String()
	restrictionDetails(d, "", tk)
	if tk.Honeytoken {
		d["honeytoken"] = "true"
	}
	keys := make([]string, len(ds))
	for i, x := range ds {
		keys[i] = x.Key
	}
	d["destinations"] = strings.Join(keys, ",")
}

// UpdateToken changes a token in place: owner, description, scopes, roles,
// lifetime, restrictions (allowed networks, rate limit) and destinations.
// Scope, role and restriction changes apply to every live version at once;
// nothing is rotated here.
func (r *Registry) UpdateToken(ctx context.Context, spec TokenSpec) (store.Token, error) {
	if err := checkToken(spec); err != nil {
		return store.Token{}, err
	}
	var tk store.Token
	err := r.change(ctx, "token.update", "token/"+spec.Name, func(tx store.Tx, d map[string]string) error {
		var err error
		if tk, err = tx.GetToken(ctx, spec.Name); err != nil {
			return err
		}
		if err := NotACredential(tk); err != nil {
			return err
		}
		if spec.Honeytoken != tk.Honeytoken {
			return honeytokenFixed(tk)
		}
		d["scopes_before"] = strings.Join(tk.Scopes, ",")
		d["roles_before"] = strings.Join(tk.Roles, ",")
		restrictionDetails(d, "_before", tk)
		tk.Owner, tk.Description = spec.Owner, spec.Description
		tk.Scopes, tk.Roles, tk.Lifetime = sortedSet(spec.Scopes), sortedSet(spec.Roles), spec.Lifetime
		tk.AllowedCIDRs, tk.RateLimit = optionalSet(spec.AllowedCIDRs), spec.RateLimit
		tk.UpdatedAt = r.clock()
		return saveToken(ctx, tx, d, tk, spec.Destinations, tx.UpdateToken)
	})
	return tk, err
}

// honeytokenFixed is UpdateToken's refusal to turn a token into a
// honeytoken or back. In place, either way would be a hole: a decoy's value,
// planted where an intruder may have read it, would start to verify; or the
// value every consumer of a real token holds would stop verifying and raise
// honeytoken alerts. A new token issues new values.
func honeytokenFixed(tk store.Token) error {
	if tk.Honeytoken {
		return invalid("honeytoken", "token %s is a honeytoken and stays one: its planted value must never verify; replace the token (a new name, or destroy and create it) to get a real one with new values", tk.Name)
	}
	return invalid("honeytoken", "token %s is not a honeytoken and cannot become one in place: its consumers hold its value; replace the token (destroy and create it) to issue a decoy with new values", tk.Name)
}

// TokenInfo is a token with its effective scopes, destinations and live
// versions. It never holds a value.
type TokenInfo struct {
	store.Token
	EffectiveScopes []string
	Destinations    []store.Destination
	Pending         *store.Version
	Current         *store.Version
	Previous        *store.Version
}

// NextRotationAt is when the current version is due for rotation; zero when
// there is no current version.
func (ti TokenInfo) NextRotationAt() time.Time {
	if ti.Current == nil {
		return time.Time{}
	}
	return ti.Current.ExpiresAt.Add(-ti.Lifetime.RotateBefore)
}

// Token returns a token by name with its versions and destinations.
func (r *Registry) Token(ctx context.Context, name string) (TokenInfo, error) {
	var ti TokenInfo
	err := r.st.View(ctx, func(tx store.Tx) error {
		tk, err := tx.GetToken(ctx, name)
		if err != nil {
			return err
		}
		ti, err = describe(ctx, tx, tk)
		return err
	})
	return ti, err
}

// Tokens returns every token, sorted by name.
func (r *Registry) Tokens(ctx context.Context) ([]TokenInfo, error) {
	var out []TokenInfo
	err := r.st.View(ctx, func(tx store.Tx) error {
		tds, err := tx.ListTokenDetails(ctx)
		if err != nil {
			return err
		}
		for _, td := range tds {
			out = append(out, described(td))
		}
		return nil
	})
	return out, err
}

func describe(ctx context.Context, tx store.Tx, tk store.Token) (TokenInfo, error) {
	td := store.TokenDetails{Token: tk}
	var err error
	if td.EffectiveScopes, err = tx.EffectiveScopes(ctx, tk.ID); err != nil {
		return TokenInfo{}, err
	}
	if td.Destinations, err = tx.ListDestinations(ctx, tk.ID); err != nil {
		return TokenInfo{}, err
	}
	if td.Versions, err = tx.ListVersions(ctx, tk.ID); err != nil {
		return TokenInfo{}, err
	}
	return described(td), nil
}

// described is the TokenInfo of a token read with its details.
func described(td store.TokenDetails) TokenInfo {
	ti := TokenInfo{Token: td.Token, EffectiveScopes: td.EffectiveScopes, Destinations: td.Destinations}
	for i := range td.Versions {
		v := &td.Versions[i]
		switch v.State {
		case token.StatePending:
			ti.Pending = v
		case token.StateCurrent:
			ti.Current = v
		case token.StatePrevious:
			ti.Previous = v
		}
	}
	return ti
}

// DeleteToken revokes every version of a token and deletes it: its values
// stop verifying at once (as revoked), its name is free again, and its
// history stays in the store and the audit log.
func (r *Registry) DeleteToken(ctx context.Context, name string) error {
	return r.change(ctx, "token.delete", "token/"+name, func(tx store.Tx, d map[string]string) error {
		tk, err := tx.GetToken(ctx, name)
		if err != nil {
			return err
		}
		versions, err := tx.ListVersions(ctx, tk.ID)
		if err != nil {
			return err
		}
		now := r.clock()
		var revoked []string
		for _, v := range versions {
			if v.State == token.StateRevoked {
				continue
			}
			v.State, v.RevokedAt, v.Sealed = token.StateRevoked, now, nil
			if err := tx.UpdateVersion(ctx, v); err != nil {
				return err
			}
			revoked = append(revoked, v.Fingerprint)
		}
		d["id"] = tk.ID
		d["revoked"] = strings.Join(revoked, ",")
		return tx.RetireToken(ctx, tk.ID, now)
	})
}

// NotACredential returns an error wrapping ErrConflict when tk is a
// credential: tokens and credentials share one name space, and a token's
// paths (its update, the token resource's read, import and destroy) must
// not change or drop a credential, whose users only its own destroy takes
// away at the issuer.
func NotACredential(tk store.Token) error {
	if tk.Kind == store.KindCredential {
		return fmt.Errorf("%s is a credential, not a token: declare or import it as a tokenward_credential: %w", Quote(tk.Name), store.ErrConflict)
	}
	return nil
}

// checkDestinations checks what every token's and credential's destinations
// need: a key and a kind, and no key twice.
func checkDestinations(ds []store.Destination) error {
	seen := map[string]bool{}
	for _, d := range ds {
		if d.Key == "" || d.Kind == "" {
			return invalid("destinations", "each destination needs a key and a kind")
		}
		if seen[d.Key] {
			return invalid("destinations", "%s is listed twice", d.Key)
		}
		seen[d.Key] = true
	}
	return nil
}
