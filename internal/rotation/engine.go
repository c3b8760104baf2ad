// Package rotation is a TEMPORARY stand-in for the lead's engine on main,
// with exactly its API, so the provider compiles and its tests run until
// main's "rotation: engine" is merged. It is removed before that merge.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Engine rotates tokens.
type Engine struct {
	reg *registry.Registry
	w   destination.Writer
}

// Option configures an Engine.
type Option func(*Engine)

// Result is the outcome of one rotation.
type Result struct {
	Token, From, To           string
	ExpiresAt, NextRotationAt time.Time
	Delivered                 []string
}

// New returns an engine.
func New(reg *registry.Registry, w destination.Writer, opts ...Option) *Engine {
	e := &Engine{reg: reg, w: w}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Rotate rotates one token now.
func (e *Engine) Rotate(ctx context.Context, name string) (Result, error) {
	ti, err := e.reg.Token(ctx, name)
	if err != nil {
		return Result{}, err
	}
	res := Result{Token: name}
	if ti.Current != nil {
		res.From = ti.Current.Fingerprint
	}
	p, _, err := e.reg.BeginRotation(ctx, name)
	if err != nil {
		return res, err
	}
	var failed []string
	var errs []error
	for _, d := range ti.Destinations {
		werr := e.w.Write(ctx, d, p.Value)
		if rerr := e.reg.RecordDelivery(ctx, name, p.VersionID, d.Key, werr); rerr != nil {
			return res, rerr
		}
		if werr != nil {
			failed = append(failed, d.Key)
			errs = append(errs, werr)
			continue
		}
		res.Delivered = append(res.Delivered, d.Key)
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("rotate %s: delivery failed to %s: %w", name, strings.Join(failed, ", "), errors.Join(errs...))
	}
	if r, err := e.reg.Verify(ctx, p.Value, nil); err != nil || !r.Valid() {
		return res, fmt.Errorf("rotate %s: pending version %s does not verify (%v, %v)", name, p.Fingerprint, r.Code, err)
	}
	fin, err := e.reg.FinishRotation(ctx, name, p.VersionID)
	if err != nil {
		return res, err
	}
	res.To, res.ExpiresAt = fin.Current.Fingerprint, fin.Current.ExpiresAt
	res.NextRotationAt = fin.Current.ExpiresAt.Add(-ti.Lifetime.RotateBefore)
	return res, nil
}

// Withdraw deletes what tokenward wrote at each destination.
func (e *Engine) Withdraw(ctx context.Context, ds []store.Destination) error {
	var errs []error
	for _, d := range ds {
		if err := e.w.Delete(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
