package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// versionAAD binds a sealed pending value to its version record.
func versionAAD(id string) string { return "token_version\x00" + id }

func defaultAAD(key string) string { return "setting_default\x00" + key }

func userValueAAD(user, key string) string { return "user_value\x00" + user + "\x00" + key }

// keyCheckAAD binds the key check to its purpose.
const keyCheckAAD = "key_check"

// sealValue returns the stored form of a value: plain JSON, or sealed when
// sensitive.
func (r *Registry) sealValue(v json.RawMessage, sensitive bool, aad string) (json.RawMessage, []byte, error) {
	v = compact(v)
	if !sensitive {
		return v, nil, nil
	}
	sealed, err := r.keys.Seal(v, aad)
	if err != nil {
		return nil, nil, fmt.Errorf("seal value: %w", err)
	}
	return nil, sealed, nil
}

func (r *Registry) openValue(plain json.RawMessage, sealed []byte, aad string) (json.RawMessage, error) {
	if sealed == nil {
		return plain, nil
	}
	v, err := r.keys.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", err)
	}
	return v, nil
}

// checkKey refuses a keyring that cannot open what the store sealed: a
// wrong master key is one clear error when the store is opened, not a
// failure at the first sealed record read. A new store gets its check here.
func (r *Registry) checkKey(ctx context.Context) error {
	sealed, err := r.storedKeyCheck(ctx)
	if err != nil {
		return err
	}
	if sealed == nil {
		return r.st.Update(ctx, func(tx store.Tx) error {
			if again, err := tx.KeyCheck(ctx); err != nil || again != nil {
				return err // another process stored one first
			}
			// A store sealed values before it had a check: the keyring must
			// open one of them, or a wrong key would become the check.
			if err := r.opensExisting(ctx, tx); err != nil {
				return err
			}
			check, err := r.keys.Seal([]byte("tokenward"), keyCheckAAD)
			if err != nil {
				return fmt.Errorf("seal the key check: %w", err)
			}
			return tx.PutKeyCheck(ctx, check)
		})
	}
	return r.opensKeyCheck(sealed)
}

// storedKeyCheck reads the sealed key check, nil when none is stored.
func (r *Registry) storedKeyCheck(ctx context.Context) (sealed []byte, err error) {
	err = r.st.View(ctx, func(tx store.Tx) (err error) {
		sealed, err = tx.KeyCheck(ctx)
		return err
	})
	return sealed, err
}

// opensKeyCheck reports whether the keyring opens the sealed key check,
// with an error that says what to do when it does not.
func (r *Registry) opensKeyCheck(sealed []byte) error {
	if _, err := r.keys.Open(sealed, keyCheckAAD); err != nil {
		return r.wrongKey(sealed, err)
	}
	return nil
}

func (r *Registry) wrongKey(sealed []byte, err error) error {
	id, _ := seal.KeyID(sealed)
	return fmt.Errorf("the master key does not match the store, whose values are sealed under key id %s (this keyring holds %s): "+
		"set %s or %s to the key the store was created with; after a rekey, put the new key first and the old one after it: %w",
		id, strings.Join(r.keys.IDs(), ", "), seal.EnvKey, seal.EnvKeyFile, err)
}

// opensExisting opens one value the store sealed already, if it has any.
func (r *Registry) opensExisting(ctx context.Context, tx store.Tx) error {
	versions, err := tx.ListSealedVersions(ctx)
	if err != nil {
		return err
	}
	if len(versions) > 0 {
		if _, err := r.keys.Open(versions[0].Sealed, versionAAD(versions[0].ID)); err != nil {
			return r.wrongKey(versions[0].Sealed, err)
		}
		return nil
	}
	settings, err := tx.ListSettings(ctx)
	if err != nil {
		return err
	}
	for _, s := range settings {
		if s.SealedDefault != nil {
			if _, err := r.keys.Open(s.SealedDefault, defaultAAD(s.Key)); err != nil {
				return r.wrongKey(s.SealedDefault, err)
			}
			return nil
		}
	}
	values, err := tx.ListSealedUserValues(ctx)
	if err != nil {
		return err
	}
	if len(values) > 0 {
		if _, err := r.keys.Open(values[0].Sealed, userValueAAD(values[0].User, values[0].Key)); err != nil {
			return r.wrongKey(values[0].Sealed, err)
		}
	}
	return nil
}

// Rekey re-wraps every sealed value (pending token values, sensitive setting
// defaults and user values) under the keyring's primary key, in one
// transaction, and returns how many it changed.
func (r *Registry) Rekey(ctx context.Context) (int, error) {
	n := 0
	err := r.change(ctx, "store.rekey", "store", func(tx store.Tx, d map[string]string) error {
		// rewrap re-wraps one value in place and, when it moved, saves the
		// record and counts it.
		rewrap := func(sealed *[]byte, aad, what string, save func() error) error {
			out, changed, err := r.keys.Rewrap(*sealed, aad)
			if err != nil {
				return fmt.Errorf("rekey %s: %w", what, err)
			}
			if !changed {
				return nil
			}
			*sealed = out
			n++
			return save()
		}
		versions, err := tx.ListSealedVersions(ctx)
		if err != nil {
			return err
		}
		for _, v := range versions {
			if err := rewrap(&v.Sealed, versionAAD(v.ID), "version "+v.Fingerprint,
				func() error { return tx.UpdateVersion(ctx, v) }); err != nil {
				return err
			}
		}
		settings, err := tx.ListSettings(ctx)
		if err != nil {
			return err
		}
		for _, s := range settings {
			if s.SealedDefault == nil {
				continue
			}
			if err := rewrap(&s.SealedDefault, defaultAAD(s.Key), "default of setting "+s.Key,
				func() error { return tx.UpdateSetting(ctx, s) }); err != nil {
				return err
			}
		}
		values, err := tx.ListSealedUserValues(ctx)
		if err != nil {
			return err
		}
		for _, v := range values {
			if err := rewrap(&v.Sealed, userValueAAD(v.User, v.Key), "value of setting "+v.Key+" for user "+v.User,
				func() error { return tx.PutUserValue(ctx, v) }); err != nil {
				return err
			}
		}
		check, err := tx.KeyCheck(ctx)
		if err != nil {
			return err
		}
		if check != nil {
			// Bookkeeping, not a user's value: not counted.
			out, changed, err := r.keys.Rewrap(check, keyCheckAAD)
			if err != nil {
				return fmt.Errorf("rekey the key check: %w", err)
			}
			if changed {
				if err := tx.PutKeyCheck(ctx, out); err != nil {
					return err
				}
			}
		}
		d["rewrapped"] = strconv.Itoa(n)
		d["primary_key"] = r.keys.PrimaryID()
		return nil
	})
	return n, err
}
