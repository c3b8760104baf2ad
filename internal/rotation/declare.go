package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// UndoError is what Issue and Redeclare return when the token's new
// declaration was stored but its new value could not be delivered. The
// change was undone: Issue removed the token, Redeclare put its previous
// destinations back. Restore and Withdraw say what undoing it could not do.
// It holds no token value.
type UndoError struct {
	Err      error // why the rotation failed
	Restore  error // removing (Issue) or restoring (Redeclare) the declaration failed
	Withdraw error // taking the new value back from where it was delivered failed
}

func (e *UndoError) Error() string {
	msg := e.Err.Error()
	if e.Restore != nil {
		msg += fmt.Sprintf("; undo: %s", e.Restore)
	}
	if e.Withdraw != nil {
		msg += fmt.Sprintf("; undo: %s", e.Withdraw)
	}
	return msg
}

func (e *UndoError) Unwrap() error { return e.Err }

// Issue declares a token, issues its first value and delivers it to every
// destination. When the declaration fails it returns the registry's error
// as it is and nothing changed. When a delivery fails it undoes all of it,
// so that the next attempt starts afresh: the token is deleted (its value
// revoked) and what was delivered is withdrawn; the error is an *UndoError.
func (e *Engine) Issue(ctx context.Context, spec registry.TokenSpec) (Result, error) {
	if _, err := e.reg.CreateToken(ctx, spec); err != nil {
		return Result{Token: spec.Name}, err
	}
	res, err := e.Rotate(ctx, spec.Name)
	if err != nil {
		// Undo, so that the next apply starts afresh: revoke what was
		// issued and remove what was delivered.
		ue := &UndoError{Err: err}
		ue.Restore = e.reg.DeleteToken(ctx, spec.Name)
		ue.Withdraw = e.Withdraw(ctx, delivered(spec.Destinations, res.Delivered))
		return res, ue
	}
	return res, nil
}

// Redeclaration is a change to a token's declaration, as Redeclare takes
// it.
type Redeclaration struct {
	registry.TokenSpec
	// Before is the destinations the token had as the caller knows them:
	// a failed rotation puts them back, and those the new declaration
	// drops are withdrawn after a rotation.
	Before []store.Destination
	// Rotate asks for a new value though the destinations stay the same,
	// such as when a caller's rotation triggers changed or the token has
	// no value yet.
	Rotate bool
}

// Redeclared is what Redeclare did.
type Redeclared struct {
	Rotated bool   // a new value was issued and delivered everywhere
	Result  Result // of the rotation, when Rotated
	// Leftover is why the token could not be withdrawn from a destination
	// it no longer names after a rotation. The change stands: what is left
	// there stops verifying after the overlap.
	Leftover error
}

// Redeclare updates a token's declaration, and rotates it when its
// destinations changed or the change asks for it, so that every
// destination holds a value; after a rotation it withdraws the token from
// the destinations it dropped. When the update fails it returns the
// registry's error as it is and nothing changed. When the rotation fails,
// it puts the previous destinations back, so that the next attempt sees the
// change again and retries it with the same pending value, and takes the
// new value back from the destinations it added; the error is an
// *UndoError. The current value stays valid where it was delivered.
func (e *Engine) Redeclare(ctx context.Context, spec Redeclaration) (Redeclared, error) {
	return e.redeclare(ctx, spec.Name, spec.Before, spec.Destinations, spec.Rotate, func(ds []store.Destination) error {
		s := spec.TokenSpec
		s.Destinations = ds
		_, err := e.reg.UpdateToken(ctx, s)
		return err
	})
}

// redeclare is Redeclare for a token or a credential: update stores the
// declaration with the given destinations (after's, then before's to undo).
func (e *Engine) redeclare(ctx context.Context, name string, before, after []store.Destination, rotate bool, update func([]store.Destination) error) (Redeclared, error) {
	var out Redeclared
	if err := update(after); err != nil {
		return out, err
	}
	if !rotate && SameDestinations(before, after) {
		return out, nil
	}
	res, err := e.Rotate(ctx, name)
	if err != nil {
		// Put the destinations back as the caller knows them, so the
		// next change shows this one again and retries the rotation
		// (with the same pending value).
		ue := &UndoError{Err: err}
		if rerr := update(before); rerr != nil {
			ue.Restore = rerr
		}
		ue.Withdraw = e.withdrawAdded(ctx, name, before, delivered(after, res.Delivered))
		out.Result = res
		return out, ue
	}
	out.Rotated, out.Result = true, res
	var removed []store.Destination
	for _, old := range before {
		if !hasKey(after, old.Key) {
			removed = append(removed, old)
		}
	}
	out.Leftover = e.Withdraw(ctx, removed)
	return out, nil
}

// withdrawAdded removes the pending value of token name from the
// destinations of got that are not in kept, after a failed rotation put
// the token's destinations back to kept: nothing would rotate or remove
// what they hold. Each one is recorded as not delivered, so the rotation,
// when it resumes with the same pending value, writes it again.
func (e *Engine) withdrawAdded(ctx context.Context, name string, kept, got []store.Destination) error {
	var added []store.Destination
	for _, d := range got {
		if !hasKey(kept, d.Key) {
			added = append(added, d)
		}
	}
	if len(added) == 0 {
		return nil
	}
	ti, err := e.reg.Token(ctx, name)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range added {
		if err := e.Withdraw(ctx, []store.Destination{d}); err != nil {
			errs = append(errs, err)
			continue
		}
		if ti.Pending != nil {
			cause := errors.New("withdrawn: the rotation failed and the destination was taken back from the token")
			if err := e.reg.RecordDelivery(ctx, name, ti.Pending.ID, d.Key, cause); err != nil {
				errs = append(errs, fmt.Errorf("record withdrawal from %s: %w", d.Key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// delivered returns the destinations of ds whose keys are in keys.
func delivered(ds []store.Destination, keys []string) []store.Destination {
	var out []store.Destination
	for _, d := range ds {
		if slices.Contains(keys, d.Key) {
			out = append(out, d)
		}
	}
	return out
}

func hasKey(ds []store.Destination, key string) bool {
	for _, d := range ds {
		if d.Key == key {
			return true
		}
	}
	return false
}

// SameDestinations reports whether a and b are the same places with the
// same configuration, in any order.
func SameDestinations(a, b []store.Destination) bool {
	if len(a) != len(b) {
		return false
	}
	count := make(map[string]int, len(a))
	id := func(d store.Destination) string { return d.Key + "\x00" + string(d.Config) }
	for _, d := range a {
		count[id(d)]++
	}
	for _, d := range b {
		if count[id(d)] == 0 {
			return false
		}
		count[id(d)]--
	}
	return true
}
