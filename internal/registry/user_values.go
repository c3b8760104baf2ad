package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// userValue reads and opens one stored user value; the record comes too.
func (r *Registry) userValue(ctx context.Context, tx store.Tx, user, key string) (json.RawMessage, store.UserValue, error) {
	vals, err := tx.ListUserValues(ctx, user)
	if err != nil {
		return nil, store.UserValue{}, err
	}
	for _, v := range vals {
		if v.Key == key {
			opened, err := r.openValue(v.Value, v.Sealed, userValueAAD(user, key))
			return opened, v, err
		}
	}
	return nil, store.UserValue{}, fmt.Errorf("value of %s for user %s: %w", key, user, ErrNotFound)
}

// CheckUser reports whether a user id is usable: 1 to 256 printable characters.
func CheckUser(user string) error {
	if user == "" || len(user) > 256 {
		return invalid("user", "must be 1 to 256 characters")
	}
	for _, r := range user {
		if !unicode.IsPrint(r) {
			return invalid("user", "must hold printable characters only")
		}
	}
	return nil
}

// SetUserValues replaces a user's values with values, all or nothing: each
// key must name a setting that users may edit, and each value must be valid
// for it; the error names the key at fault. Keys left out are removed.
func (r *Registry) SetUserValues(ctx context.Context, user string, values map[string]json.RawMessage) error {
	return r.writeUserValues(ctx, user, values, nil, true)
}

// UpdateUserValues sets the given values and removes the keys in unset,
// leaving the user's other values as they are, all or nothing and checked
// as SetUserValues checks them.
func (r *Registry) UpdateUserValues(ctx context.Context, user string, set map[string]json.RawMessage, unset []string) error {
	return r.writeUserValues(ctx, user, set, unset, false)
}

func (r *Registry) writeUserValues(ctx context.Context, user string, set map[string]json.RawMessage, unset []string, replace bool) error {
	if err := CheckUser(user); err != nil {
		return err
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return r.change(ctx, "user_config.set", "user/"+user, func(tx store.Tx, d map[string]string) error {
		existing, err := tx.ListUserValues(ctx, user)
		if err != nil {
			return err
		}
		own := make(map[string]store.UserValue, len(existing))
		for _, v := range existing {
			own[v.Key] = v
		}
		var changed []string
		for _, key := range keys {
			// A value a tokenward_user_config resource declares stays
			// managed: the next apply sets it back.
			old, had := own[key]
			moved, err := r.putUserValue(ctx, tx, user, key, set[key], old.Managed, old, had)
			if err != nil {
				return err
			}
			if moved {
				changed = append(changed, key)
			}
		}
		drop := map[string]bool{}
		for _, k := range unset {
			if _, held := own[k]; !held {
				return invalid("values."+k, "user %s has no value for %s to remove", user, k)
			}
			drop[k] = true
		}
		var removed []string
		for _, v := range existing {
			_, kept := set[v.Key]
			if (replace && !kept) || drop[v.Key] {
				if err := tx.DeleteUserValue(ctx, user, v.Key); err != nil {
					return err
				}
				removed = append(removed, v.Key)
			}
		}
		d["set"] = strings.Join(keys, ",")
		d["removed"] = strings.Join(removed, ",")
		if all := append(changed, removed...); len(all) > 0 {
			return r.recordConfigChange(ctx, tx, user, all)
		}
		return nil
	})
}

// putUserValue checks one value against its setting and stores it, sealed
// when the setting is sensitive, managed or not; old is what the user held
// (when had). It tells whether the stored value changed.
func (r *Registry) putUserValue(ctx context.Context, tx store.Tx, user, key string, value json.RawMessage, managed bool, old store.UserValue, had bool) (bool, error) {
	if len(key) > maxNameLength {
		return false, tooLong("values", "a setting key", key)
	}
	s, err := tx.GetSetting(ctx, key)
	if notFound(err) {
		return false, invalid("values."+key, "there is no setting %s: declare it first", key)
	}
	if err != nil {
		return false, err
	}
	if !s.UserEditable {
		return false, invalid("values."+key, "setting %s is not user_editable: its default is enforced for everyone", key)
	}
	if err := CheckValue(specOf(s), value); err != nil {
		return false, refield(err, "values."+key)
	}
	return r.storeUserValue(ctx, tx, s, user, value, managed, old, had)
}

// UserValues returns a user's own values, opened.
func (r *Registry) UserValues(ctx context.Context, user string) (map[string]json.RawMessage, error) {
	return r.userValues(ctx, user, false)
}

// userValues returns a user's own values, opened: all of them, or only
// the managed ones.
func (r *Registry) userValues(ctx context.Context, user string, onlyManaged bool) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := r.st.View(ctx, func(tx store.Tx) error {
		vals, err := tx.ListUserValues(ctx, user)
		if err != nil {
			return err
		}
		for _, v := range vals {
			if onlyManaged && !v.Managed {
				continue
			}
			if out[v.Key], err = r.openValue(v.Value, v.Sealed, userValueAAD(user, v.Key)); err != nil {
				return fmt.Errorf("value of %s for user %s: %w", v.Key, user, err)
			}
		}
		return nil
	})
	return out, err
}

// Effective is one key of a user's effective configuration.
type Effective struct {
	Key       string
	Value     json.RawMessage
	Source    string // SourceDefault, SourceUser or SourceEnforced
	Sensitive bool
}

// EffectiveConfig returns a user's effective configuration, sorted by key:
// every setting's default, replaced by the user's value where the setting
// allows it.
func (r *Registry) EffectiveConfig(ctx context.Context, user string) ([]Effective, error) {
	settings, err := r.Settings(ctx)
	if err != nil {
		return nil, err
	}
	own, err := r.UserValues(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]Effective, 0, len(settings))
	for _, s := range settings {
		e := Effective{Key: s.Key, Value: s.Default, Source: SourceDefault, Sensitive: s.Sensitive}
		v, has := own[s.Key]
		switch {
		case !s.UserEditable:
			e.Source = SourceEnforced
		case has && CheckValue(s, v) == nil:
			e.Value, e.Source = v, SourceUser
		}
		out = append(out, e)
	}
	return out, nil
}

// ValueProblem is a stored user value that no longer holds: its setting is
// gone, or the setting's current type or constraints refuse it. It never
// holds the value.
type ValueProblem struct {
	User, Key string
	// Orphan: no setting has the key any more.
	Orphan bool
	// Reason is what the setting's rules refuse, in CheckValue's words,
	// which never quote the value; empty for an orphan.
	Reason string
	// Sensitive: the setting is sensitive (the value was opened to check it).
	Sensitive bool
}

// ValueCheck is the outcome of CheckAllUserValues.
type ValueCheck struct {
	Checked  int            // values checked against their setting
	Problems []ValueProblem // by user, then key
	// Unchecked counts the sensitive values left sealed for want of a
	// master key, by setting key.
	Unchecked map[string]int
}

// CheckAllUserValues checks every user's stored values against the
// current settings, in one read: the values of settings that no longer
// exist, and those the setting's current rules refuse. Sensitive values
// are opened to be checked only when the registry has the master key;
// otherwise they are counted as unchecked.
func (r *Registry) CheckAllUserValues(ctx context.Context) (ValueCheck, error) {
	out := ValueCheck{Unchecked: map[string]int{}}
	err := r.st.View(ctx, func(tx store.Tx) error {
		settings, err := tx.ListSettings(ctx)
		if err != nil {
			return err
		}
		byKey := make(map[string]store.Setting, len(settings))
		for _, s := range settings {
			byKey[s.Key] = s
		}
		vals, err := tx.ListAllUserValues(ctx)
		if err != nil {
			return err
		}
		for _, v := range vals {
			s, ok := byKey[v.Key]
			if !ok {
				out.Problems = append(out.Problems, ValueProblem{User: v.User, Key: v.Key, Orphan: true})
				continue
			}
			if v.Value == nil && len(v.Sealed) > 0 && r.keys == nil {
				out.Unchecked[v.Key]++
				continue
			}
			opened, err := r.openValue(v.Value, v.Sealed, userValueAAD(v.User, v.Key))
			if err != nil {
				return fmt.Errorf("value of %s for user %s: %w", v.Key, v.User, err)
			}
			out.Checked++
			if err := CheckValue(specOf(s), opened); err != nil {
				reason := err.Error()
				var ie *InvalidError
				if errors.As(err, &ie) {
					reason = ie.Field + " " + ie.Reason
				}
				out.Problems = append(out.Problems, ValueProblem{User: v.User, Key: v.Key, Reason: reason, Sensitive: s.Sensitive})
			}
		}
		return nil
	})
	return out, err
}
