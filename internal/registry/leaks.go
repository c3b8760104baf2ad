package registry

import (
	"context"
	"crypto/subtle"
	"fmt"
	"maps"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Leak is the version a reported token value belongs to. It never holds
// the value.
type Leak struct {
	TokenID     string
	TokenName   string
	Kind        string // the token's kind: "" or store.KindCredential
	Honeytoken  bool   // the token is a decoy: a report of it is evidence, not a loss
	VersionID   string
	Fingerprint string
	// State is the version's state when the report arrived.
	State token.State
	// Revoked: this call revoked the version. False when it was revoked
	// already, or when the call only matched.
	Revoked bool
}

// MatchLeak finds the version a reported value belongs to, without
// changing anything: ok is false when the value does not parse or no
// version has its secret. A known version id with another secret (a forged
// report) is no match.
func (r *Registry) MatchLeak(ctx context.Context, value string) (l Leak, ok bool, err error) {
	err = r.st.View(ctx, func(tx store.Tx) error {
		l, ok, err = matchLeak(ctx, tx, value)
		return err
	})
	return l, ok, err
}

// RevokeLeaked revokes, at once and without overlap, the version a value
// reported leaked belongs to, in one transaction that checks its secret
// again; evidence (where the report came from, never the value) goes into
// the audit event. It revokes nothing when no version has the value's
// secret (ok false), when the version is revoked already, and for a
// credential: revoking its version here would not take its password away at
// its issuer, which only a rotation does (Leak.Kind tells the caller); nor
// for a honeytoken, which is never valid and must stay in place so that
// every use of it keeps raising an alert.
func (r *Registry) RevokeLeaked(ctx context.Context, value string, evidence map[string]string) (l Leak, ok bool, err error) {
	err = r.st.Update(ctx, func(tx store.Tx) error {
		l, ok, err = matchLeak(ctx, tx, value)
		if err != nil || !ok || l.Kind == store.KindCredential || l.Honeytoken || l.State == token.StateRevoked {
			return err
		}
		v, err := tx.GetVersion(ctx, l.VersionID)
		if err != nil {
			return err
		}
		v.State, v.RevokedAt, v.Sealed = token.StateRevoked, r.clock(), nil
		if err := tx.UpdateVersion(ctx, v); err != nil {
			return err
		}
		d := maps.Clone(evidence)
		if d == nil {
			d = map[string]string{}
		}
		d["version"], d["fingerprint"], d["state"], d["reason"] = v.ID, v.Fingerprint, string(l.State), "reported leaked"
		l.Revoked = true
		return r.record(ctx, tx, "version.revoke", "token/"+l.TokenName, audit.Success, d)
	})
	if err != nil {
		return Leak{}, false, fmt.Errorf("revoke leaked version: %w", err)
	}
	return l, ok, nil
}

// matchLeak looks the value's version up and compares its secret's hash in
// constant time.
func matchLeak(ctx context.Context, tx store.Tx, value string) (Leak, bool, error) {
	p, err := token.Parse(value)
	if err != nil {
		return Leak{}, false, nil
	}
	v, err := tx.GetVersion(ctx, p.ID)
	if notFound(err) {
		return Leak{}, false, nil
	}
	if err != nil {
		return Leak{}, false, err
	}
	h := token.HashSecret(p.Secret)
	if subtle.ConstantTimeCompare(h[:], v.Hash[:]) != 1 {
		return Leak{}, false, nil
	}
	tk, err := tx.GetTokenByID(ctx, v.TokenID)
	if err != nil {
		return Leak{}, false, err
	}
	return Leak{TokenID: tk.ID, TokenName: tk.Name, Kind: tk.Kind, Honeytoken: tk.Honeytoken, VersionID: v.ID,
		Fingerprint: v.Fingerprint, State: v.State}, true, nil
}
