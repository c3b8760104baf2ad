package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// ServeAccess is what a server's registry may do, and why not where it may
// not. A server that lacks the grant or the key degrades visibly: it still
// verifies, and says at start, in /readyz and in its log what is off.
type ServeAccess struct {
	// Writable: the store was opened for writing (usage events, alerts,
	// configuration writes, leak responses). A PostgreSQL role may still
	// lack a grant; writers report that when a write fails.
	Writable bool
	// ReadOnlyWhy says why the store was opened read-only; empty when
	// Writable. It never holds a secret.
	ReadOnlyWhy string
	// Keys: a master key was given and matches the store, so sealed values
	// can be opened and new versions sealed.
	Keys bool
	// NoKeyWhy says why there is no master key; empty when Keys.
	NoKeyWhy string
}

// OpenServer opens the registry `tokenward serve` runs on. It opens the store
// for writing when it can, and read-only otherwise (a file the process may
// only read, say), recording why; it reads the master key when one is
// configured and goes on without one when none is. A master key that is
// configured but does not parse or does not match the store is an error:
// the operator meant to give one. A store that does not exist is an error.
func OpenServer(ctx context.Context, cfg Config, opts ...Option) (*Registry, ServeAccess, error) {
	var access ServeAccess
	now, err := ClockFromEnv(cfg.getenv())
	if err != nil {
		return nil, access, err
	}
	keys, err := seal.FromEnv(cfg.keyEnv())
	switch {
	case errors.Is(err, seal.ErrNoKey):
		access.NoKeyWhy = "no master key is configured (TOKENWARD_MASTER_KEY or TOKENWARD_MASTER_KEY_FILE)"
		keys = nil
	case err != nil:
		return nil, access, fmt.Errorf("master key: %w", err)
	}
	cfg.Create = false
	if cfg, err = cfg.resolved(); err != nil {
		return nil, access, err
	}
	st, err := OpenStore(ctx, cfg)
	if err == nil {
		access.Writable = true
	} else {
		if errors.Is(err, store.ErrMissing) {
			return nil, access, err
		}
		writeErr := err
		if st, err = OpenStore(ctx, cfg, store.ReadOnly()); err != nil {
			return nil, access, err
		}
		access.ReadOnlyWhy = fmt.Sprintf("the store could not be opened for writing: %v", writeErr)
	}
	r := New(st, keys, cfg.options(now, opts)...)
	r.loc = store.Location(cfg.dsn())
	if keys != nil {
		if !access.Writable {
			// checkKey may have to store the first key check; a read-only
			// store cannot, so the key is only compared with one stored.
			if err := r.compareKey(ctx); err != nil {
				st.Close()
				return nil, access, err
			}
		} else if err := r.checkKey(ctx); err != nil {
			st.Close()
			return nil, access, err
		}
		access.Keys = true
	}
	return r, access, nil
}

// compareKey checks the keyring against the store's key check without
// writing: a store with no check yet is accepted.
func (r *Registry) compareKey(ctx context.Context) error {
	sealed, err := r.storedKeyCheck(ctx)
	if err != nil || sealed == nil {
		return err
	}
	return r.opensKeyCheck(sealed)
}

// HasKeys reports whether the registry holds a master key, so it can open
// sealed values and seal new ones.
func (r *Registry) HasKeys() bool { return r.keys != nil }
