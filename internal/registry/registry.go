// Package registry holds tokenward's domain operations: scopes, roles, tokens
// and their versions, settings and user values. The Terraform provider and
// the rotation engine call it; neither touches the store directly for a
// change.
//
// It guarantees that every change is validated before it is stored, that
// every change appends an audit event in the same transaction (so a change is
// never stored without its event, nor an event without its change), that a
// token value leaves it only where an operation documents it, and that
// sensitive values reach the store sealed under the keyring. A registry with
// a master key also signs the head of the audit chain (checkpoint.go).
package registry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Registry performs tokenward's domain operations on a store.
type Registry struct {
	st    store.Store
	keys  *seal.Keyring
	now   func() time.Time
	actor string
	rand  io.Reader
	// signer signs audit checkpoints, nil without a master key; see checkpoint.go.
	signer          *seal.SigningKey
	checkpointEvery int64
	loc             string // where the store is, for messages; set by the openers
}

// Option configures a Registry.
type Option func(*Registry)

// WithClock sets the clock; the default is the wall clock.
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// WithActor names who makes the changes in the audit log; the default is "tokenward".
func WithActor(actor string) Option { return func(r *Registry) { r.actor = actor } }

// WithRandom sets the source of token ids and secrets; the default is
// crypto/rand. Only tests pass anything else.
func WithRandom(rd io.Reader) Option { return func(r *Registry) { r.rand = rd } }

// New returns a registry over st that seals with keys.
func New(st store.Store, keys *seal.Keyring, opts ...Option) *Registry {
	r := &Registry{st: st, keys: keys, now: time.Now, actor: "tokenward", rand: rand.Reader, checkpointEvery: 1}
	for _, o := range opts {
		o(r)
	}
	r.withSigning()
	return r
}

// Store returns the store the registry works on, for readers such as the
// audit verifier and the rotation planner.
func (r *Registry) Store() store.Store { return r.st }

// clock returns now as the store keeps it: UTC, microseconds.
func (r *Registry) clock() time.Time { return audit.Normalize(r.now()) }

// InvalidError says which field of a request is wrong and how to fix it. It
// never holds a secret or a sensitive value.
type InvalidError struct {
	Field  string // the attribute at fault, such as "name" or "values.session.timeout"
	Reason string
}

func (e *InvalidError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ErrInUse is wrapped by errors about records that others still depend on;
// the message names them.
var ErrInUse = store.ErrInUse

// ErrNotFound is wrapped by errors about records that do not exist.
var ErrNotFound = store.ErrNotFound

// ErrExists is wrapped by errors about records that exist already.
var ErrExists = store.ErrExists

// change runs fn in one transaction and appends its audit event there. fn
// may add details; they must never hold a secret.
func (r *Registry) change(ctx context.Context, action, subject string, fn func(tx store.Tx, details map[string]string) error) error {
	return r.st.Update(ctx, func(tx store.Tx) error {
		details := map[string]string{}
		if err := fn(tx, details); err != nil {
			return err
		}
		return r.record(ctx, tx, action, subject, audit.Success, details)
	})
}

func (r *Registry) record(ctx context.Context, tx store.Tx, action, subject, outcome string, details map[string]string) error {
	_, err := tx.AppendAudit(ctx, audit.Event{
		Time: r.clock(), Actor: r.actor, Action: action, Subject: subject, Outcome: outcome, Details: details,
	})
	return err
}

// notFound tells whether err says a record is missing.
func notFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// Now returns the registry's clock reading, as it stamps records: callers
// that decide what is due use it so they agree with the store.
func (r *Registry) Now() time.Time { return r.clock() }
