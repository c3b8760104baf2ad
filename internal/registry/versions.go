package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Issued is a freshly issued or resumed token value. Value is the plaintext:
// deliver it and drop it; tokenward keeps only its hash.
type Issued struct {
	TokenName   string
	VersionID   string
	Value       string
	Fingerprint string
	State       token.State
	ExpiresAt   time.Time
	User        string // a credential's: the login user the value belongs to
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
	return Issued{TokenName: name, VersionID: v.ID, Value: value, Fingerprint: v.Fingerprint, State: v.State, ExpiresAt: v.ExpiresAt, User: v.User}
}

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

// RevokeExpired revokes every previous version of a token whose overlap has
// ended and returns how many it revoked. A credential's previous version is
// left to the rotation engine, which retires it at its issuer first.
func (r *Registry) RevokeExpired(ctx context.Context) (int, error) {
	n := 0
	err := r.st.Update(ctx, func(tx store.Tx) error {
		tks, err := tx.ListTokens(ctx)
		if err != nil {
			return err
		}
		now := r.clock()
		for _, tk := range tks {
			if tk.Kind == store.KindCredential {
				continue
			}
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
