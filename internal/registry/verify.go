package registry

import (
	"context"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Verify checks a presented token value against the store and the required
// scopes. The result's code says why a value is refused, never which part of
// a secret was wrong. A honeytoken's value answers not_found, as an unknown
// token's does.
func (r *Registry) Verify(ctx context.Context, value string, required []string) (token.Result, error) {
	res, _, err := r.VerifyUse(ctx, value, required)
	return res, err
}

// VerifyUse is Verify, and also reports whether the presented version id
// is a honeytoken's (whatever the secret), for the usage log and the
// honeytoken_used alert: the result is then exactly an unknown token's,
// since a honeytoken's version is handed to token.Verify as not found,
// which hashes the secret and compares it with the dummy hash as it does for
// an unknown id.
func (r *Registry) VerifyUse(ctx context.Context, value string, required []string) (res token.Result, honeytoken bool, err error) {
	return r.verify(ctx, value, required, false)
}

// CheckIssued is the rotation's test of a value it just delivered: Verify,
// except that a honeytoken's value is checked as if it were a real token's,
// so that a decoy is proven to hold a value its version would accept. Its
// result must never answer a presenter.
func (r *Registry) CheckIssued(ctx context.Context, value string, required []string) (token.Result, error) {
	res, _, err := r.verify(ctx, value, required, true)
	return res, err
}

func (r *Registry) verify(ctx context.Context, value string, required []string, decoys bool) (res token.Result, honeytoken bool, err error) {
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
			if tk.Honeytoken && !decoys {
				honeytoken = true
				return nil
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
	res, err = token.Verify(ctx, value, required, r.clock(), lookup)
	return res, honeytoken && err == nil, err
}
