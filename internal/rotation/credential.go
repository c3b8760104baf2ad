package rotation

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Opener connects to the system that issues a credential, as its issuer
// configuration names it.
type Opener func(ctx context.Context, c issuer.Config) (issuer.Issuer, error)

// openIssuer is the default Opener: the real issuers, with the admin
// credential read from the environment variable the configuration names.
func openIssuer(ctx context.Context, c issuer.Config) (issuer.Issuer, error) {
	return issuer.Open(ctx, c, os.Getenv)
}

// WithIssuers sets how the engine connects to the issuers of credentials;
// the default is issuer.Open with the process's environment. Tests pass a
// fake's.
func WithIssuers(o Opener) Option { return func(e *Engine) { e.open = o } }

// openFor connects to the issuer of a credential.
func (e *Engine) openFor(ctx context.Context, tk store.Token) (issuer.Issuer, error) {
	cfg, err := registry.IssuerOf(tk)
	if err != nil {
		return nil, err
	}
	is, err := e.open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open the %s issuer of %s: %w", registry.IssuerKind(cfg), tk.Name, err)
	}
	return is, nil
}

// retire takes a version away at its issuer, then marks it revoked: in
// that order, so that a version the store calls revoked never still logs
// in, and a failure leaves it for the next attempt.
func (e *Engine) retire(ctx context.Context, is issuer.Issuer, name string, v *store.Version, reason string) error {
	if err := is.Retire(ctx, issuer.Retired{Username: v.User, PasswordHash: v.Hash}); err != nil {
		return fmt.Errorf("retire %s of %s at its %s issuer (user %s): %w", v.Fingerprint, name, is.Kind(), v.User, err)
	}
	return e.reg.RetireVersion(ctx, name, v.ID, reason)
}

// rotateCredential runs the four steps for a credential whose lock the
// caller holds: create (a pending version with a new password on the
// issuer's idle user, then staged at the issuer), deliver the field each
// destination asks for, test a login with it at the issuer, and finish.
// Each step is idempotent: a rerun resumes the same pending password on the
// same user, and the current credential keeps working until finish.
func (e *Engine) rotateCredential(ctx context.Context, ti registry.TokenInfo, res Result) (Result, error) {
	name := ti.Name
	if cfg, err := registry.IssuerOf(ti.Token); err == nil {
		res.Issuer = registry.IssuerKind(cfg) // named even when the issuer cannot be reached
	}
	is, err := e.openFor(ctx, ti.Token)
	if err != nil {
		return res, fmt.Errorf("rotate %s: %w", name, err)
	}
	defer is.Close()
	res.Issuer = is.Kind()
	res, err = e.credentialSteps(ctx, is, ti, res)
	if w, ok := is.(issuer.Warner); ok {
		res.Warnings = append(res.Warnings, w.Warnings()...)
	}
	return res, err
}

// credentialSteps runs rotateCredential's steps at the open issuer is.
func (e *Engine) credentialSteps(ctx context.Context, is issuer.Issuer, ti registry.TokenInfo, res Result) (Result, error) {
	name := ti.Name

	// 1. create. The previous version holds the idle slot the new password
	// goes to (the other user, or one of Redis's two passwords): its
	// overlap has ended when the rotation is due, since the overlap is no
	// longer than the rotation interval; it is retired first.
	if ti.Previous != nil {
		if err := e.retire(ctx, is, name, ti.Previous, "rotation: its slot is reused"); err != nil {
			return res, fmt.Errorf("rotate %s: %w", name, err)
		}
	}
	p, resumed, err := e.reg.BeginCredentialRotation(ctx, name, is.NextUser)
	if err != nil {
		return res, err
	}
	res.Resumed, res.To, res.User = resumed, p.Fingerprint, p.User
	c := issuer.Credential{Username: p.User, Password: p.Value}
	if err := is.Stage(ctx, c); err != nil {
		return res, fmt.Errorf("rotate %s: stage the new password of user %s at the %s issuer (the current credential stays valid; the next run retries): %w", name, p.User, is.Kind(), err)
	}
	if err := e.at(ctx, AfterCreate, name); err != nil {
		return res, err
	}

	// 2. deliver each destination's field.
	field := func(d store.Destination) (string, error) {
		f := registry.FieldOf(d)
		if f == "" {
			f = is.MainField()
		}
		return is.Field(c, f)
	}
	if err := e.deliver(ctx, ti, p, resumed, field, &res); err != nil {
		return res, err
	}
	if err := e.at(ctx, AfterDeliver, name); err != nil {
		return res, err
	}

	// 3. test: the new credential logs in.
	if err := is.Test(ctx, c); err != nil {
		return res, fmt.Errorf("rotate %s: test: user %s cannot log in with the new password %s (the current credential stays valid; the next run retries): %w", name, p.User, p.Fingerprint, err)
	}
	if err := e.at(ctx, AfterTest, name); err != nil {
		return res, err
	}

	// 4. finish: the old current becomes previous and keeps logging in
	// until its overlap ends, when a run retires it.
	f, err := e.reg.FinishRotation(ctx, name, p.VersionID)
	if err != nil {
		return res, err
	}
	res.ExpiresAt = f.Current.ExpiresAt
	res.NextRotationAt = f.Current.ExpiresAt.Add(-ti.Lifetime.RotateBefore)
	return res, e.at(ctx, AfterFinish, name)
}

// retireExpired retires, at their issuers, the previous versions of
// credentials whose overlap has ended, each under its credential's lock so
// that it never races a rotation reusing the slot. It returns how many it
// retired and what failed; a failure leaves that version for the next run.
func (e *Engine) retireExpired(ctx context.Context) (int, error) {
	tokens, err := e.reg.Tokens(ctx)
	if err != nil {
		return 0, fmt.Errorf("retire expired credentials: %w", err)
	}
	n := 0
	var errs []error
	for _, ti := range tokens {
		if ti.Kind != store.KindCredential || ti.Previous == nil || e.reg.Now().Before(ti.Previous.ExpiresAt) {
			continue
		}
		retired, err := e.retireExpiredOne(ctx, ti)
		if err != nil {
			errs = append(errs, err)
		}
		if retired {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (e *Engine) retireExpiredOne(ctx context.Context, ti registry.TokenInfo) (bool, error) {
	holder := fmt.Sprintf("%s/%d", e.holder, e.seq.Add(1))
	l, ctx, err := acquire(ctx, e.reg.Store(), store.TokenLock(ti.ID), holder, e.lockTTL, e.lockWait, e.poll, e.noticeFor(ti.Name))
	if err != nil {
		return false, fmt.Errorf("retire the previous version of %s: %w", ti.Name, err)
	}
	if l == nil {
		return false, fmt.Errorf("retire the previous version of %s: %w", ti.Name, ErrLocked)
	}
	defer l.release()
	// Read again under the lock: a rotation may have retired it meanwhile.
	if ti, err = e.reg.Credential(ctx, ti.Name); err != nil {
		return false, fmt.Errorf("retire the previous version of %s: %w", ti.Name, err)
	}
	if ti.Previous == nil || e.reg.Now().Before(ti.Previous.ExpiresAt) {
		return false, nil
	}
	is, err := e.openFor(ctx, ti.Token)
	if err != nil {
		return false, fmt.Errorf("retire the previous version of %s: %w", ti.Name, err)
	}
	defer is.Close()
	if err := e.retire(ctx, is, ti.Name, ti.Previous, "overlap ended"); err != nil {
		return false, err
	}
	return true, nil
}

// IssueCredential declares a credential, rotates it for the first time at
// its issuer and delivers it, as Issue does for a token. When the rotation
// fails it undoes all of it: what was staged is retired at the issuer, the
// credential is deleted and what was delivered is withdrawn; the error is
// an *UndoError.
func (e *Engine) IssueCredential(ctx context.Context, spec registry.CredentialSpec) (Result, error) {
	if _, err := e.reg.CreateCredential(ctx, spec); err != nil {
		return Result{Token: spec.Name}, err
	}
	res, err := e.Rotate(ctx, spec.Name)
	if err != nil {
		ue := &UndoError{Err: err}
		ue.Restore = e.DeleteCredential(ctx, spec.Name, false)
		ue.Withdraw = e.Withdraw(ctx, delivered(spec.Destinations, res.Delivered))
		return res, ue
	}
	return res, nil
}

// CredentialRedeclaration is a change to a credential's declaration, as
// RedeclareCredential takes it; its fields mean what Redeclaration's do.
type CredentialRedeclaration struct {
	registry.CredentialSpec
	Before []store.Destination
	Rotate bool
}

// RedeclareCredential updates a credential's declaration and, as Redeclare
// does for a token, rotates it when its destinations changed or the change
// asks for it, withdrawing it from the destinations it dropped; a failed
// rotation puts the previous destinations back and takes the new value back
// from those it added (an *UndoError).
func (e *Engine) RedeclareCredential(ctx context.Context, spec CredentialRedeclaration) (Redeclared, error) {
	return e.redeclare(ctx, spec.Name, spec.Before, spec.Destinations, spec.Rotate, func(ds []store.Destination) error {
		s := spec.CredentialSpec
		s.Destinations = ds
		_, err := e.reg.UpdateCredential(ctx, s)
		return err
	})
}

// DeleteCredential retires every live version of a credential at its
// issuer (both users' logins, or every password), then, with withdraw,
// deletes it from its destinations, and deletes the credential. A failure
// at the issuer stops before anything is deleted, so the next attempt
// retries all of it.
func (e *Engine) DeleteCredential(ctx context.Context, name string, withdraw bool) error {
	ti, err := e.reg.Credential(ctx, name)
	if err != nil {
		return err
	}
	holder := fmt.Sprintf("%s/%d", e.holder, e.seq.Add(1))
	l, ctx, err := acquire(ctx, e.reg.Store(), store.TokenLock(ti.ID), holder, e.lockTTL, e.lockWait, e.poll, e.noticeFor(name))
	if err != nil {
		return fmt.Errorf("delete credential %s: %w", name, err)
	}
	if l == nil {
		return fmt.Errorf("delete credential %s: %w", name, ErrLocked)
	}
	defer l.release()
	if ti, err = e.reg.Credential(ctx, name); err != nil {
		return err
	}
	var live []*store.Version
	for _, v := range []*store.Version{ti.Pending, ti.Previous, ti.Current} {
		if v != nil && v.State != token.StateRevoked && v.User != "" {
			live = append(live, v)
		}
	}
	// With nothing staged (a first rotation that could not reach its
	// issuer) there is nothing to retire, and no need to reach it now.
	if len(live) > 0 {
		is, err := e.openFor(ctx, ti.Token)
		if err != nil {
			return fmt.Errorf("delete credential %s: %w", name, err)
		}
		defer is.Close()
		for _, v := range live {
			if err := e.retire(ctx, is, name, v, "credential deleted"); err != nil {
				return fmt.Errorf("delete credential %s: %w", name, err)
			}
		}
	}
	if withdraw {
		if err := e.Withdraw(ctx, ti.Destinations); err != nil {
			return fmt.Errorf("delete credential %s: %w", name, err)
		}
	}
	return e.reg.DeleteToken(ctx, name)
}
