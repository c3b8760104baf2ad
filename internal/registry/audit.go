package registry

import (
	"context"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// AuditReader reads a store's audit chain and its checkpoints, for the
// auditor and for a witness of the head. The chain and its checkpoints hold
// no sealed value, so it needs no master key, and it opens the store
// read-only, so an auditor can change nothing.
type AuditReader struct {
	st store.Store
}

// OpenAuditReader opens the store a Config names read-only, as an audit
// reader: it runs no migration, writes nothing and never creates a store;
// a store that does not exist is an error saying how to create one.
func OpenAuditReader(ctx context.Context, cfg Config) (*AuditReader, error) {
	st, err := OpenStore(ctx, cfg, store.ReadOnly())
	if err != nil {
		return nil, err
	}
	return &AuditReader{st: st}, nil
}

// Head returns the head of the audit chain: the SEQ:HASH a workflow keeps
// outside the store as a witness.
func (a *AuditReader) Head(ctx context.Context) (audit.Head, error) { return a.st.AuditHead(ctx) }

// Verify walks the whole chain in constant memory and checks it as
// audit.VerifySource does: a broken chain returns a *audit.ChainError (see
// audit.IsChainError), any other error means the store could not be read.
func (a *AuditReader) Verify(ctx context.Context, opts audit.Options) (audit.Report, error) {
	return audit.VerifySource(ctx, a.st, opts)
}

// Close closes the store.
func (a *AuditReader) Close() error { return a.st.Close() }

// AuditHead returns the head of the audit chain without signing it, as a
// command that changed nothing reports it; Checkpoint signs it first.
func (r *Registry) AuditHead(ctx context.Context) (audit.Head, error) { return r.st.AuditHead(ctx) }
