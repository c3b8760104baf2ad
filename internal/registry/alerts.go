package registry

import (
	"context"
	"fmt"
	"maps"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// RecordAlert appends an alert to the audit chain as an "alert.raise"
// event: its id, detector, severity, source and evidence. The subject is
// the token, or the source network when no token is known. An alert holds
// no value (store.Alert says so), so neither does the event.
func (r *Registry) RecordAlert(ctx context.Context, a store.Alert) error {
	subject := "token/" + a.TokenName
	if a.TokenName == "" {
		subject = "network/" + a.Network
	}
	d := map[string]string{}
	// Evidence first, so the alert's own fields win over a key that
	// happens to share a name.
	for k, v := range a.Evidence {
		d["evidence."+k] = v
	}
	maps.Copy(d, map[string]string{"id": a.ID, "detector": a.Detector, "severity": a.Severity,
		"source_ip": a.SourceIP, "network": a.Network, "detail": a.Detail})
	if err := r.st.Update(ctx, func(tx store.Tx) error {
		return r.record(ctx, tx, "alert.raise", subject, audit.Success, d)
	}); err != nil {
		return fmt.Errorf("record alert %s: %w", a.ID, err)
	}
	return nil
}

// RevokeTokenVersions revokes every version of a token that still verifies
// (pending, current, previous), in one transaction with one "version.revoke"
// audit event per version giving reason, and returns how many it revoked.
// The token stays declared: the next rotation issues a new value.
func (r *Registry) RevokeTokenVersions(ctx context.Context, name, reason string) (int, error) {
	n := 0
	err := r.st.Update(ctx, func(tx store.Tx) error {
		tk, err := tx.GetToken(ctx, name)
		if err != nil {
			return err
		}
		versions, err := tx.ListVersions(ctx, tk.ID)
		if err != nil {
			return err
		}
		now := r.clock()
		for _, v := range versions {
			if v.State == token.StateRevoked {
				continue
			}
			v.State, v.RevokedAt = token.StateRevoked, now
			if err := tx.UpdateVersion(ctx, v); err != nil {
				return err
			}
			if err := r.record(ctx, tx, "version.revoke", "token/"+name, audit.Success, map[string]string{
				"version": v.ID, "fingerprint": v.Fingerprint, "reason": reason,
			}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("revoke the versions of %s: %w", name, err)
	}
	return n, nil
}
