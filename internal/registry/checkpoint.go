package registry

import (
	"context"
	"fmt"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Checkpoints. A registry with a master key signs the head of the audit
// chain with the key's signing key (see seal.SigningKey) in the same
// transaction as a change, once checkpointEvery events are not yet covered
// by a checkpoint of that key: by default every change, so each change of
// the provider and each command of the binary ends signed; a batch writer
// such as a rotation run signs every N events and calls Checkpoint at its
// end. A registry without a key (a verifier, the coming server) appends
// events unsigned, and the next checkpoint of a keyed registry covers them,
// since signing an event's hash vouches for every event before it.

// WithCheckpointEvery makes the registry sign the audit head only once n
// events are unsigned, rather than at every change; the caller then calls
// Checkpoint when its command ends. n below 1 counts as 1.
func WithCheckpointEvery(n int) Option {
	return func(r *Registry) { r.checkpointEvery = max(1, int64(n)) }
}

// signingStore is the store as the registry uses it: a write transaction
// that appended audit events ends by signing the head when a checkpoint is
// due.
type signingStore struct {
	store.Store
	r *Registry
}

func (s signingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error {
		t := &appendTracker{Tx: tx}
		if err := fn(t); err != nil {
			return err
		}
		if t.last.Seq == 0 {
			return nil
		}
		return s.r.signIfDue(ctx, tx, t.last)
	})
}

// appendTracker notes the last audit event a transaction appended: the
// head of the chain when it commits, since writers take turns.
type appendTracker struct {
	store.Tx
	last audit.Head
}

func (t *appendTracker) AppendAudit(ctx context.Context, e audit.Event) (audit.Event, error) {
	e, err := t.Tx.AppendAudit(ctx, e)
	if err == nil {
		t.last = audit.Head{Seq: e.Seq, Hash: e.Hash}
	}
	return e, err
}

// withSigning wires the signing key of the keyring's primary master key
// into the registry; without a key the registry signs nothing.
func (r *Registry) withSigning() {
	sk, err := r.keys.SigningKey()
	if err != nil {
		return // no master key: events stay unsigned until a keyed registry signs
	}
	r.signer = &sk
	r.st = signingStore{Store: r.st, r: r}
}

// signIfDue signs head inside tx when checkpointEvery events or more are
// not covered by a checkpoint of this registry's key.
func (r *Registry) signIfDue(ctx context.Context, tx store.Tx, head audit.Head) error {
	var last int64
	switch c, err := tx.LastCheckpoint(ctx, r.signer.ID()); {
	case err == nil:
		last = c.Seq
	case !notFound(err):
		return err
	}
	if head.Seq-last < r.checkpointEvery {
		return nil
	}
	return r.sign(ctx, tx, head)
}

func (r *Registry) sign(ctx context.Context, tx store.Tx, head audit.Head) error {
	c := audit.Checkpoint{Seq: head.Seq, Hash: head.Hash, Time: r.clock(), KeyID: r.signer.ID()}
	c.Signature = r.signer.Sign(c.SignedBytes())
	return tx.AppendCheckpoint(ctx, c)
}

// Checkpoint signs the head of the audit chain unless this registry's key
// signed it already, and returns the head: the SEQ:HASH a workflow keeps
// outside the store as a witness. A command that changed the store calls it
// at its end. Without a master key it only returns the head.
func (r *Registry) Checkpoint(ctx context.Context) (audit.Head, error) {
	if r.signer == nil {
		head, err := r.st.AuditHead(ctx)
		if err != nil {
			return audit.Head{}, fmt.Errorf("checkpoint: %w", err)
		}
		return head, nil
	}
	var head audit.Head
	err := r.st.Update(ctx, func(tx store.Tx) (err error) {
		if head, err = tx.AuditHead(ctx); err != nil || head.Seq == 0 {
			return err
		}
		switch c, err := tx.LastCheckpoint(ctx, r.signer.ID()); {
		case err == nil && c.Seq == head.Seq && c.Hash == head.Hash:
			return nil
		case err != nil && !notFound(err):
			return err
		}
		return r.sign(ctx, tx, head)
	})
	if err != nil {
		return audit.Head{}, fmt.Errorf("checkpoint: %w", err)
	}
	return head, nil
}

// Keyring reads only the master keys a Config names, as Open does, for
// commands that need the keys and no store, such as tokenward audit pubkey.
func Keyring(cfg Config) (*seal.Keyring, error) {
	keys, err := seal.FromEnv(cfg.keyEnv())
	if err != nil {
		return nil, fmt.Errorf("master key: %w (generate one with: openssl rand -base64 32)", err)
	}
	return keys, nil
}
