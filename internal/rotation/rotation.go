// Package rotation decides which tokens are due and rotates them in four
// steps modelled on AWS Secrets Manager: create a pending version, deliver it
// to every destination, test it, and finish.
//
// It guarantees that each step is idempotent, so a run that stops anywhere
// (a crash, a failed destination) leaves nothing the next run cannot finish;
// that every destination holds a value that verifies throughout; that one
// token is rotated by one engine at a time (a lock per token, and a lock per
// run); and that no token value appears in what it returns.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Step names a point between the steps of a rotation.
type Step string

// The hook points, in the order a rotation passes them.
const (
	AfterCreate  Step = "create"  // the pending version exists, sealed
	AfterDeliver Step = "deliver" // every destination holds the pending value
	AfterTest    Step = "test"    // the pending value verifies
	AfterFinish  Step = "finish"  // the pending version is current
)

// Steps lists the hook points in order.
var Steps = []Step{AfterCreate, AfterDeliver, AfterTest, AfterFinish}

// Hook is called at each step of every rotation; an error stops the rotation
// there, as a crash would. Tests use it to stop the engine and rerun.
type Hook func(ctx context.Context, step Step, tokenName string) error

// Engine rotates tokens through a registry and delivers their values through
// a destination writer.
type Engine struct {
	reg      *registry.Registry
	w        destination.Writer
	hook     Hook
	holder   string
	lockTTL  time.Duration
	lockWait time.Duration
	poll     time.Duration
	workers  int
	progress func(done, total int, r Result)
	notice   func(LockHeld)
	open     Opener
	seq      atomic.Int64 // numbers the rotations, for lock holders
}

// Option configures an Engine.
type Option func(*Engine)

// WithHook sets the hook called at every step.
func WithHook(h Hook) Option { return func(e *Engine) { e.hook = h } }

// WithLockWait sets how long a run waits for another run's lock, and a
// rotation for another's lock on its token; the default is five minutes.
func WithLockWait(d time.Duration) Option { return func(e *Engine) { e.lockWait = d } }

// WithWorkers sets how many tokens a run rotates at once; the default is 4.
// Deliveries to GitHub are paced by the GitHub writer whatever this is.
func WithWorkers(n int) Option {
	return func(e *Engine) {
		if n > 0 {
			e.workers = n
		}
	}
}

// WithProgress sets a function called after each rotation of a run.
func WithProgress(f func(done, total int, r Result)) Option {
	return func(e *Engine) { e.progress = f }
}

// WithLockNotice sets a function told when a run or a rotation finds its
// lock held by another holder (whom it waits for, since when, and when that
// lease lapses), and when it takes over the lock of a holder whose process
// is gone. It may be called from several workers at once.
func WithLockNotice(f func(LockHeld)) Option {
	return func(e *Engine) { e.notice = f }
}

// New returns an engine that changes tokens through reg and writes their
// values with w.
func New(reg *registry.Registry, w destination.Writer, opts ...Option) *Engine {
	e := &Engine{
		reg: reg, w: w, holder: holderID(), open: openIssuer,
		lockTTL: 2 * time.Minute, lockWait: 5 * time.Minute, poll: 200 * time.Millisecond, workers: 4,
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Result is the outcome of rotating one token. It holds fingerprints, never
// values.
type Result struct {
	Token          string
	Reason         Reason
	From, To       string    // fingerprints; From is empty when the token had no current version
	Resumed        bool      // the pending version came from an interrupted rotation
	Delivered      []string  // destination keys that hold the new value
	Failed         []Failure // destinations that could not be written
	ExpiresAt      time.Time // of the new current version
	NextRotationAt time.Time
	Skipped        string // why a planned rotation did not happen (another run did it)
	Err            error
	// Issuer and User are a credential's: the kind of system that issued
	// it ("postgres", "mysql", "redis") and the login user of the new
	// version. Both are empty for a token.
	Issuer, User string
	// Warnings are what a credential's issuer said the operator should
	// read, such as a Redis ACL change kept only in memory. No secret.
	Warnings []string
}

// Failure is one destination that could not be written.
type Failure struct {
	Destination string
	Err         error
}

// ErrDelivery is wrapped when a rotation stops because a destination failed.
var ErrDelivery = errors.New("delivery failed")

// ErrLocked is wrapped when a token or run lock stays held by another holder
// past the wait.
var ErrLocked = errors.New("locked by another rotation")

// noticeFor is the engine's lock notice for the lock of token, or of the
// run when token is empty.
func (e *Engine) noticeFor(token string) func(LockHeld) {
	if e.notice == nil {
		return nil
	}
	return func(h LockHeld) {
		h.Token = token
		e.notice(h)
	}
}

func (e *Engine) at(ctx context.Context, step Step, name string) error {
	if e.hook == nil {
		return nil
	}
	if err := e.hook(ctx, step, name); err != nil {
		return fmt.Errorf("rotate %s: stopped after %s: %w", name, step, err)
	}
	return nil
}

// Rotate rotates one token now, due or not: it creates (or resumes) a pending
// version, delivers it to every destination, tests it and finishes. It holds
// the token's lock throughout. When a destination fails, the pending version
// stays sealed for the next attempt, the current version stays valid, and the
// error names the destinations that failed. A token with no current version
// gets its first one.
func (e *Engine) Rotate(ctx context.Context, name string) (Result, error) {
	return e.rotate(ctx, Item{Token: name, Reason: ReasonForced}, false)
}

// rotate runs the four steps for one item. With recheck, it first confirms
// under the lock that the token is still due, so two runs never rotate a
// token twice.
func (e *Engine) rotate(ctx context.Context, it Item, recheck bool) (res Result, err error) {
	res = Result{Token: it.Token, Reason: it.Reason}
	defer func() { res.Err = err }()
	ti, err := e.reg.Token(ctx, it.Token)
	if err != nil {
		return res, fmt.Errorf("rotate %s: %w", it.Token, err)
	}
	lockedID := ti.ID
	// Each rotation holds the lock in its own name, so two rotations in one
	// engine (a run and a direct Rotate) exclude each other too.
	holder := fmt.Sprintf("%s/%d", e.holder, e.seq.Add(1))
	l, ctx, err := acquire(ctx, e.reg.Store(), store.TokenLock(lockedID), holder, e.lockTTL, e.lockWait, e.poll, e.noticeFor(it.Token))
	if err != nil {
		return res, fmt.Errorf("rotate %s: %w", it.Token, err)
	}
	if l == nil {
		return res, fmt.Errorf("rotate %s: %w", it.Token, ErrLocked)
	}
	// A failed unlock does not undo a rotation: the lease expires on its own.
	defer l.release()
	// Read again under the lock: another holder may have rotated it, or
	// replaced it with a new token of the same name.
	if ti, err = e.reg.Token(ctx, it.Token); err != nil {
		return res, fmt.Errorf("rotate %s: %w", it.Token, err)
	}
	if ti.ID != lockedID {
		return res, fmt.Errorf("rotate %s: the token was replaced while waiting for its lock; the next run rotates the new one: %w", it.Token, store.ErrConflict)
	}
	if recheck && it.Reason != ReasonForced {
		if _, due := classify(ti, e.reg.Now()); !due {
			res.Skipped = "rotated by another run"
			res.NextRotationAt = ti.NextRotationAt()
			return res, nil
		}
	}
	if ti.Current != nil {
		res.From = ti.Current.Fingerprint
	}
	if ti.Kind == store.KindCredential {
		return e.rotateCredential(ctx, ti, res)
	}

	// 1. create
	p, resumed, err := e.reg.BeginRotation(ctx, it.Token)
	if err != nil {
		return res, err
	}
	res.Resumed = resumed
	res.To = p.Fingerprint
	if err := e.at(ctx, AfterCreate, it.Token); err != nil {
		return res, err
	}

	// 2. deliver, skipping destinations that took this version already.
	if err := e.deliver(ctx, ti, p, resumed, func(store.Destination) (string, error) { return p.Value, nil }, &res); err != nil {
		return res, err
	}
	if err := e.at(ctx, AfterDeliver, it.Token); err != nil {
		return res, err
	}

	// 3. test: the delivered value verifies with the token's scopes.
	// A honeytoken's value is checked as its version holds it: it never
	// verifies for a presenter, but the decoy must be a real value.
	v, err := e.reg.CheckIssued(ctx, p.Value, ti.EffectiveScopes)
	if err != nil {
		return res, fmt.Errorf("rotate %s: test: %w", it.Token, err)
	}
	if !v.Valid() {
		return res, fmt.Errorf("rotate %s: test: the new version %s does not verify: %s", it.Token, p.Fingerprint, v.Code)
	}
	if err := e.at(ctx, AfterTest, it.Token); err != nil {
		return res, err
	}

	// 4. finish
	f, err := e.reg.FinishRotation(ctx, it.Token, p.VersionID)
	if err != nil {
		return res, err
	}
	res.ExpiresAt = f.Current.ExpiresAt
	res.NextRotationAt = f.Current.ExpiresAt.Add(-ti.Lifetime.RotateBefore)
	return res, e.at(ctx, AfterFinish, it.Token)
}

// deliver writes the pending version p to every destination of ti, the
// value valueOf gives for each, skipping those that took it already when
// the rotation resumed; res records what was delivered and what failed.
func (e *Engine) deliver(ctx context.Context, ti registry.TokenInfo, p registry.Issued, resumed bool,
	valueOf func(store.Destination) (string, error), res *Result) error {
	done := map[string]bool{}
	if resumed {
		ds, err := e.reg.Deliveries(ctx, p.VersionID)
		if err != nil {
			return fmt.Errorf("rotate %s: %w", ti.Name, err)
		}
		for _, d := range ds {
			done[d.Destination] = d.Outcome == audit.Success
		}
	}
	for _, d := range ti.Destinations {
		if done[d.Key] {
			res.Delivered = append(res.Delivered, d.Key)
			continue
		}
		value, werr := valueOf(d)
		if werr == nil {
			werr = e.w.Write(ctx, d, value)
		}
		if rerr := e.reg.RecordDelivery(ctx, ti.Name, p.VersionID, d.Key, werr); rerr != nil {
			return fmt.Errorf("rotate %s: %w", ti.Name, errors.Join(werr, rerr, context.Cause(ctx)))
		}
		if werr != nil {
			res.Failed = append(res.Failed, Failure{Destination: d.Key, Err: werr})
			continue
		}
		res.Delivered = append(res.Delivered, d.Key)
	}
	if len(res.Failed) > 0 {
		keys := make([]string, len(res.Failed))
		for i, f := range res.Failed {
			keys[i] = f.Destination
		}
		return fmt.Errorf("rotate %s: %w: %s (the current version stays valid; the next run retries): %w",
			ti.Name, ErrDelivery, strings.Join(keys, ", "), res.Failed[0].Err)
	}
	return nil
}

// Withdraw deletes what tokenward wrote at each destination; a destination
// already empty is fine. It tries every destination and returns the errors
// of those that failed.
func (e *Engine) Withdraw(ctx context.Context, ds []store.Destination) error {
	var errs []error
	for _, d := range ds {
		if err := e.w.Delete(ctx, d); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %s: %w", d.Key, err))
		}
	}
	return errors.Join(errs...)
}
