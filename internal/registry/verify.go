package registry

import (
	"context"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

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
