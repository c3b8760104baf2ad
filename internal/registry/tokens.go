package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
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
	seen := map[string]bool{}
	for _, d := range spec.Destinations {
		if d.Key == "" || d.Kind == "" {
			return invalid("destinations", "each destination needs a key and a kind")
		}
		if seen[d.Key] {
			return invalid("destinations", "%s is listed twice", d.Key)
		}
		seen[d.Key] = true
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
		CreatedAt: now, UpdatedAt: now,
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
	keys := make([]string, len(ds))
	for i, x := range ds {
		keys[i] = x.Key
	}
	d["destinations"] = strings.Join(keys, ",")
}

// UpdateToken changes a token in place: owner, description, scopes, roles,
// lifetime and destinations. Scope and role changes apply to every live
// version at once; nothing is rotated here.
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
		d["scopes_before"] = strings.Join(tk.Scopes, ",")
		d["roles_before"] = strings.Join(tk.Roles, ",")
		tk.Owner, tk.Description = spec.Owner, spec.Description
		tk.Scopes, tk.Roles, tk.Lifetime = sortedSet(spec.Scopes), sortedSet(spec.Roles), spec.Lifetime
		tk.UpdatedAt = r.clock()
		return saveToken(ctx, tx, d, tk, spec.Destinations, tx.UpdateToken)
	})
	return tk, err
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
		tks, err := tx.ListTokens(ctx)
		if err != nil {
			return err
		}
		for _, tk := range tks {
			ti, err := describe(ctx, tx, tk)
			if err != nil {
				return err
			}
			out = append(out, ti)
		}
		return nil
	})
	return out, err
}

func describe(ctx context.Context, tx store.Tx, tk store.Token) (TokenInfo, error) {
	ti := TokenInfo{Token: tk}
	var err error
	if ti.EffectiveScopes, err = tx.EffectiveScopes(ctx, tk.ID); err != nil {
		return ti, err
	}
	if ti.Destinations, err = tx.ListDestinations(ctx, tk.ID); err != nil {
		return ti, err
	}
	versions, err := tx.ListVersions(ctx, tk.ID)
	if err != nil {
		return ti, err
	}
	for i := range versions {
		v := &versions[i]
		switch v.State {
		case token.StatePending:
			ti.Pending = v
		case token.StateCurrent:
			ti.Current = v
		case token.StatePrevious:
			ti.Previous = v
		}
	}
	return ti, nil
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

// Issued is a freshly issued or resumed token value. Value is the plaintext:
// deliver it and drop it; tokenward keeps only its hash.
type Issued struct {
	TokenName   string
	VersionID   string
	Value       string
	Fingerprint string
	State       token.State
	ExpiresAt   time.Time
}

// ErrAlreadyIssued is wrapped when IssueFirst finds a live version.
var ErrAlreadyIssued = errors.New("already issued")

// IssueFirst issues the first current version of a token and returns its
// value, exactly once: the value is not kept, only its hash.
func (r *Registry) IssueFirst(ctx context.Context, name string) (Issued, error) {
	var out Issued
	err := r.change(ctx, "version.issue", "token/"+name, func(tx store.Tx, d map[string]string) error {
		tk, err := tx.GetToken(ctx, name)
		if err != nil {
			return err
		}
		versions, err := tx.ListVersions(ctx, tk.ID)
		if err != nil {
			return err
		}
		for _, v := range versions {
			if v.State != token.StateRevoked {
				return fmt.Errorf("issue first version of %s: %w: version %s is %s; rotate the token instead", name, ErrAlreadyIssued, v.Fingerprint, v.State)
			}
		}
		now := r.clock()
		v, m, err := r.mint(tk, token.StateCurrent, now)
		if err != nil {
			return err
		}
		v.ActivatedAt = now
		if err := tx.CreateVersion(ctx, v); err != nil {
			return err
		}
		d["version"], d["fingerprint"], d["expires_at"] = v.ID, v.Fingerprint, v.ExpiresAt.Format(time.RFC3339)
		out = issued(tk.Name, v, m.Value)
		return nil
	})
	return out, err
}

func (r *Registry) mint(tk store.Token, state token.State, now time.Time) (store.Version, token.Minted, error) {
	m, err := token.Generate(r.rand)
	if err != nil {
		return store.Version{}, token.Minted{}, fmt.Errorf("mint version of %s: %w", tk.Name, err)
	}
	return store.Version{
		ID: m.ID, TokenID: tk.ID, State: state, Hash: m.Hash, Fingerprint: m.Fingerprint,
		CreatedAt: now, ExpiresAt: now.Add(tk.Lifetime.TTL),
	}, m, nil
}

func issued(name string, v store.Version, value string) Issued {
	return Issued{TokenName: name, VersionID: v.ID, Value: value, Fingerprint: v.Fingerprint, State: v.State, ExpiresAt: v.ExpiresAt}
}

// versionAAD binds a sealed pending value to its version record.
func versionAAD(id string) string { return "token_version\x00" + id }

// BeginRotation is step 1 of a rotation: it returns the token's pending
// version, minting one when there is none. The pending value is kept sealed
// until FinishRotation, so a retry after a crash delivers the same value
// instead of minting another. Resumed tells whether the pending version
// existed already.
func (r *Registry) BeginRotation(ctx context.Context, name string) (out Issued, resumed bool, err error) {
	err = r.st.Update(ctx, func(tx store.Tx) error {
		tk, err := tx.GetToken(ctx, name)
		if err != nil {
			return err
		}
		ti, err := describe(ctx, tx, tk)
		if err != nil {
			return err
		}
		if p := ti.Pending; p != nil {
			value, err := r.keys.Open(p.Sealed, versionAAD(p.ID))
			if err != nil {
				return fmt.Errorf("resume rotation of %s: open pending version %s: %w", name, p.Fingerprint, err)
			}
			// A rotation that kept failing for longer than a ttl must not
			// leave its pending version expired: the destinations that took
			// it would hold a value that no longer verifies, and the test
			// step could never pass. Its life restarts with each attempt.
			now := r.clock()
			if end := now.Add(tk.Lifetime.TTL); p.ExpiresAt.Before(end) {
				p.ExpiresAt = end
				if err := tx.UpdateVersion(ctx, *p); err != nil {
					return err
				}
				if err := r.record(ctx, tx, "rotation.resume", "token/"+name, audit.Success, map[string]string{
					"version": p.ID, "fingerprint": p.Fingerprint, "expires_at": p.ExpiresAt.Format(time.RFC3339),
				}); err != nil {
					return err
				}
			}
			out, resumed = issued(name, *p, string(value)), true
			return nil
		}
		v, m, err := r.mint(tk, token.StatePending, r.clock())
		if err != nil {
			return err
		}
		if v.Sealed, err = r.keys.Seal([]byte(m.Value), versionAAD(v.ID)); err != nil {
			return fmt.Errorf("begin rotation of %s: seal pending version: %w", name, err)
		}
		if err := tx.CreateVersion(ctx, v); err != nil {
			return err
		}
		out = issued(name, v, m.Value)
		return r.record(ctx, tx, "rotation.create", "token/"+name, audit.Success, map[string]string{
			"version": v.ID, "fingerprint": v.Fingerprint, "expires_at": v.ExpiresAt.Format(time.RFC3339),
		})
	})
	return out, resumed, err
}

// RecordDelivery is step 2's record: the outcome of writing a version to one
// destination. cause is nil on success; its message must hold no value.
func (r *Registry) RecordDelivery(ctx context.Context, tokenName, versionID, destination string, cause error) error {
	outcome, detail := audit.Success, ""
	if cause != nil {
		outcome, detail = audit.Failure, cause.Error()
	}
	return r.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.RecordDelivery(ctx, store.Delivery{VersionID: versionID, Destination: destination, At: r.clock(), Outcome: outcome, Detail: detail}); err != nil {
			return err
		}
		d := map[string]string{"version": versionID, "destination": destination}
		if detail != "" {
			d["error"] = detail
		}
		return r.record(ctx, tx, "version.deliver", "token/"+tokenName, outcome, d)
	})
}

// Finished reports the versions a finished rotation moved.
type Finished struct {
	Current  store.Version
	Previous *store.Version // nil when the token had no current version
	Revoked  *store.Version // the version that was previous before, now revoked
}

// FinishRotation is step 4 of a rotation, in one transaction: the pending
// version becomes current, valid for a full ttl from now, with its sealed
// value erased; the current one
// becomes previous and stays valid for the overlap (never past its own
// expiry), and the old previous is revoked. Finishing a version that is
// current already is a no-op, so a retry after a crash is safe.
func (r *Registry) FinishRotation(ctx context.Context, name, versionID string) (Finished, error) {
	var out Finished
	err := r.st.Update(ctx, func(tx store.Tx) error {
		tk, err := tx.GetToken(ctx, name)
		if err != nil {
			return err
		}
		ti, err := describe(ctx, tx, tk)
		if err != nil {
			return err
		}
		if ti.Current != nil && ti.Current.ID == versionID {
			// Finished already, by this run before a crash or by another.
			out = Finished{Current: *ti.Current, Previous: ti.Previous}
			return nil
		}
		if ti.Pending == nil || ti.Pending.ID != versionID {
			return fmt.Errorf("finish rotation of %s: version %s is not pending: %w", name, versionID, store.ErrConflict)
		}
		now := r.clock()
		d := map[string]string{"version": versionID, "fingerprint": ti.Pending.Fingerprint}
		if p := ti.Previous; p != nil {
			p.State, p.RevokedAt = token.StateRevoked, now
			if err := tx.UpdateVersion(ctx, *p); err != nil {
				return err
			}
			out.Revoked = p
			d["revoked"] = p.Fingerprint
		}
		if c := ti.Current; c != nil {
			c.State = token.StatePrevious
			if end := now.Add(tk.Lifetime.Overlap); end.Before(c.ExpiresAt) {
				c.ExpiresAt = end
			}
			if err := tx.UpdateVersion(ctx, *c); err != nil {
				return err
			}
			out.Previous = c
			d["previous"], d["previous_expires_at"] = c.Fingerprint, c.ExpiresAt.Format(time.RFC3339)
		}
		p := ti.Pending
		// The version's life starts when it becomes current, however long
		// its delivery took.
		p.State, p.ActivatedAt, p.Sealed, p.ExpiresAt = token.StateCurrent, now, nil, now.Add(tk.Lifetime.TTL)
		if err := tx.UpdateVersion(ctx, *p); err != nil {
			return err
		}
		out.Current = *p
		d["expires_at"] = p.ExpiresAt.Format(time.RFC3339)
		return r.record(ctx, tx, "rotation.finish", "token/"+name, audit.Success, d)
	})
	return out, err
}

// RevokeExpired revokes every previous version whose overlap has ended and
// returns how many it revoked.
func (r *Registry) RevokeExpired(ctx context.Context) (int, error) {
	n := 0
	err := r.st.Update(ctx, func(tx store.Tx) error {
		tks, err := tx.ListTokens(ctx)
		if err != nil {
			return err
		}
		now := r.clock()
		for _, tk := range tks {
			versions, err := tx.ListVersions(ctx, tk.ID)
			if err != nil {
				return err
			}
			for _, v := range versions {
				if v.State != token.StatePrevious || now.Before(v.ExpiresAt) {
					continue
				}
				v.State, v.RevokedAt = token.StateRevoked, now
				if err := tx.UpdateVersion(ctx, v); err != nil {
					return err
				}
				if err := r.record(ctx, tx, "version.revoke", "token/"+tk.Name, audit.Success, map[string]string{
					"version": v.ID, "fingerprint": v.Fingerprint, "reason": "overlap ended",
				}); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// Verify checks a presented token value against the store and the required
// scopes. The result's code says why a value is refused, never which part of
// a secret was wrong.
func (r *Registry) Verify(ctx context.Context, value string, required []string) (token.Result, error) {
	lookup := func(ctx context.Context, id string) (rec *token.Record, err error) {
		err = r.st.View(ctx, func(tx store.Tx) error {
			v, err := tx.GetVersion(ctx, id)
			if notFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			tk, err := tx.GetTokenByID(ctx, v.TokenID)
			if err != nil {
				return err
			}
			scopes, err := tx.EffectiveScopes(ctx, tk.ID)
			if err != nil {
				return err
			}
			rec = &token.Record{VersionID: v.ID, TokenName: tk.Name, Hash: v.Hash, State: v.State, ExpiresAt: v.ExpiresAt, Scopes: scopes}
			return nil
		})
		return rec, err
	}
	return token.Verify(ctx, value, required, r.clock(), lookup)
}

// Rekey re-wraps every sealed value (pending token values, sensitive setting
// defaults and user values) under the keyring's primary key, in one
// transaction, and returns how many it changed.
func (r *Registry) Rekey(ctx context.Context) (int, error) {
	n := 0
	err := r.change(ctx, "store.rekey", "store", func(tx store.Tx, d map[string]string) error {
		// rewrap re-wraps one value in place and, when it moved, saves the
		// record and counts it.
		rewrap := func(sealed *[]byte, aad, what string, save func() error) error {
			out, changed, err := r.keys.Rewrap(*sealed, aad)
			if err != nil {
				return fmt.Errorf("rekey %s: %w", what, err)
			}
			if !changed {
				return nil
			}
			*sealed = out
			n++
			return save()
		}
		versions, err := tx.ListSealedVersions(ctx)
		if err != nil {
			return err
		}
		for _, v := range versions {
			if err := rewrap(&v.Sealed, versionAAD(v.ID), "version "+v.Fingerprint,
				func() error { return tx.UpdateVersion(ctx, v) }); err != nil {
				return err
			}
		}
		settings, err := tx.ListSettings(ctx)
		if err != nil {
			return err
		}
		for _, s := range settings {
			if s.SealedDefault == nil {
				continue
			}
			if err := rewrap(&s.SealedDefault, defaultAAD(s.Key), "default of setting "+s.Key,
				func() error { return tx.UpdateSetting(ctx, s) }); err != nil {
				return err
			}
		}
		values, err := tx.ListSealedUserValues(ctx)
		if err != nil {
			return err
		}
		for _, v := range values {
			if err := rewrap(&v.Sealed, userValueAAD(v.User, v.Key), "value of setting "+v.Key+" for user "+v.User,
				func() error { return tx.PutUserValue(ctx, v) }); err != nil {
				return err
			}
		}
		check, err := tx.KeyCheck(ctx)
		if err != nil {
			return err
		}
		if check != nil {
			// Bookkeeping, not a user's value: not counted.
			out, changed, err := r.keys.Rewrap(check, keyCheckAAD)
			if err != nil {
				return fmt.Errorf("rekey the key check: %w", err)
			}
			if changed {
				if err := tx.PutKeyCheck(ctx, out); err != nil {
					return err
				}
			}
		}
		d["rewrapped"] = strconv.Itoa(n)
		d["primary_key"] = r.keys.PrimaryID()
		return nil
	})
	return n, err
}

// Deliveries returns the recorded delivery attempts of a version, oldest
// first.
func (r *Registry) Deliveries(ctx context.Context, versionID string) (out []store.Delivery, err error) {
	err = r.st.View(ctx, func(tx store.Tx) error {
		out, err = tx.ListDeliveries(ctx, versionID)
		return err
	})
	return out, err
}

// RecordRun appends the audit event of one rotation run: what it rotated,
// what failed and what it left due. details must hold no value.
func (r *Registry) RecordRun(ctx context.Context, outcome string, details map[string]string) error {
	return r.st.Update(ctx, func(tx store.Tx) error {
		return r.record(ctx, tx, "rotation.run", "store", outcome, details)
	})
}
