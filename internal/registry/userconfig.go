package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// This file implements the configuration API's methods (configapi.go): the
// change log, reads and writes of a user's effective configuration, and the
// values a tokenward_user_config resource manages.

// ConfigChangeKeep is how long the change log keeps an entry: the API
// promises at least 24 hours; the extra hour absorbs clock skew between
// instances sharing a PostgreSQL store.
const ConfigChangeKeep = 25 * time.Hour

// managedResource names the resource that declares a user's managed values.
func managedResource(user string) string {
	return fmt.Sprintf("the tokenward_user_config resource of user %q", user)
}

// recordConfigChange appends a change of user's effective configuration
// ("" for a setting, which changes everyone's) to the change log, in tx, and
// prunes what is older than ConfigChangeKeep.
func (r *Registry) recordConfigChange(ctx context.Context, tx store.Tx, user string, keys []string) error {
	now := r.clock()
	keys = sortedSet(keys)
	_, err := tx.AppendConfigChange(ctx, store.ConfigChange{User: user, Keys: keys, At: now}, now.Add(-ConfigChangeKeep))
	return err
}

// ConfigChanges returns up to limit entries of the change log after the
// sequence number after, oldest first.
func (r *Registry) ConfigChanges(ctx context.Context, after int64, limit int) ([]ConfigChange, error) {
	if limit <= 0 {
		return nil, invalid("limit", "must be positive")
	}
	var out []ConfigChange
	err := r.st.View(ctx, func(tx store.Tx) error {
		all, err := tx.ConfigChanges(ctx, after, limit)
		if err != nil {
			return err
		}
		out = make([]ConfigChange, len(all))
		for i, c := range all {
			out[i] = ConfigChange{Seq: c.Seq, User: c.User, Keys: c.Keys, At: c.At}
		}
		return nil
	})
	return out, err
}

// ConfigChangeWindow returns the sequence number of the oldest entry the
// change log still keeps (head+1 when it keeps none) and of the latest
// change. A reader that has seen every change up to n can replay what it
// missed from the log when n+1 >= oldest; otherwise the gap was pruned.
func (r *Registry) ConfigChangeWindow(ctx context.Context) (oldest, head int64, err error) {
	err = r.st.View(ctx, func(tx store.Tx) error {
		oldest, head, err = tx.ConfigChangeWindow(ctx)
		return err
	})
	return oldest, head, err
}

// badUser turns CheckUser's error into the API's.
func badUser(user string) error {
	err := CheckUser(user)
	var ie *InvalidError
	if errors.As(err, &ie) {
		return &ConfigError{Kind: ConfigBadUser, Rule: ie.Reason}
	}
	return err
}

// specOf is a stored setting's rules without its default, which may be
// sealed: enough to check a value without the master key.
func specOf(s store.Setting) SettingSpec {
	return SettingSpec{Key: s.Key, Type: s.Type, Description: s.Description, Constraints: s.Constraints,
		Sensitive: s.Sensitive, UserEditable: s.UserEditable}
}

// ReadUserConfig returns a user's effective configuration and its revision.
// Sensitive values are opened only when openSensitive; without a master key
// they are then Sealed. A user with no values of their own gets the defaults.
func (r *Registry) ReadUserConfig(ctx context.Context, user string, openSensitive bool) (UserConfig, error) {
	if err := badUser(user); err != nil {
		return UserConfig{}, err
	}
	var out UserConfig
	err := r.st.View(ctx, func(tx store.Tx) (err error) {
		out, err = r.readUserConfig(ctx, tx, user, openSensitive)
		return err
	})
	return out, err
}

func (r *Registry) readUserConfig(ctx context.Context, tx store.Tx, user string, openSensitive bool) (UserConfig, error) {
	settings, err := tx.ListSettings(ctx)
	if err != nil {
		return UserConfig{}, err
	}
	vals, err := tx.ListUserValues(ctx, user)
	if err != nil {
		return UserConfig{}, err
	}
	own := make(map[string]store.UserValue, len(vals))
	for _, v := range vals {
		own[v.Key] = v
	}
	rev, err := tx.ConfigRevision(ctx, user)
	if err != nil {
		return UserConfig{}, err
	}
	out := UserConfig{User: user, Revision: rev, Values: make([]ConfigValue, 0, len(settings))}
	for _, s := range settings {
		cv, err := r.effectiveValue(s, own, user, openSensitive)
		if err != nil {
			return UserConfig{}, err
		}
		out.Values = append(out.Values, cv)
	}
	return out, nil
}

// effectiveValue is one setting's key in a user's configuration, as
// EffectiveConfig decides it: the user's own value where the setting allows
// one and it is still valid, the default otherwise.
func (r *Registry) effectiveValue(s store.Setting, own map[string]store.UserValue, user string, openSensitive bool) (ConfigValue, error) {
	cv := ConfigValue{Key: s.Key, Source: SourceDefault, Sensitive: s.Sensitive}
	uv, has := own[s.Key]
	if has && uv.Managed {
		cv.ManagedBy = ManagedByTerraform
	}
	switch {
	case !s.UserEditable:
		cv.Source = SourceEnforced
	case has:
		cv.Source = SourceUser
	}
	if s.Sensitive && !openSensitive {
		return cv, nil
	}
	if s.Sensitive && r.keys == nil {
		cv.Sealed = true
		return cv, nil
	}
	def, err := r.openValue(s.Default, s.SealedDefault, defaultAAD(s.Key))
	if err != nil {
		return ConfigValue{}, fmt.Errorf("setting %s: default: %w", s.Key, err)
	}
	cv.Value = def
	if cv.Source == SourceUser {
		v, err := r.openValue(uv.Value, uv.Sealed, userValueAAD(user, s.Key))
		if err != nil {
			return ConfigValue{}, fmt.Errorf("value of %s for user %s: %w", s.Key, user, err)
		}
		if CheckValue(specOf(s), v) == nil {
			cv.Value = v
		} else {
			cv.Source = SourceDefault
		}
	}
	return cv, nil
}

// maxRefusedKeys bounds the key names the audit event of a refused write
// lists; keys_count says how many there were.
const maxRefusedKeys = 32

// WriteUserConfig applies one write of the API in one transaction: every
// key is checked first (see ConfigErrorKind), then the revision when
// IfMatch, and only then does anything change. Every write, refused or
// not, is an audit event naming the caller, the user and the keys, never a
// value. The configuration returned is the new one, sensitive values not
// opened.
func (r *Registry) WriteUserConfig(ctx context.Context, w ConfigWrite) (UserConfig, error) {
	if err := badUser(w.User); err != nil {
		return UserConfig{}, err
	}
	keys := make([]string, 0, len(w.Set)+len(w.Unset))
	for k := range w.Set {
		keys = append(keys, k)
	}
	keys = append(keys, w.Unset...)
	keys = sortedSet(keys)
	var out UserConfig
	err := r.st.Update(ctx, func(tx store.Tx) error {
		changed, err := r.applyWrite(ctx, tx, w)
		if err != nil {
			return err
		}
		if len(changed) > 0 {
			if err := r.recordConfigChange(ctx, tx, w.User, changed); err != nil {
				return err
			}
		}
		details := accessDetails(w.Access, w.User, keys)
		details["changed"] = strings.Join(changed, ",")
		if err := r.recordAccess(ctx, tx, "user_config.write", w.User, w.Access.Caller, audit.Success, details); err != nil {
			return err
		}
		out, err = r.readUserConfig(ctx, tx, w.User, false)
		return err
	})
	var ce *ConfigError
	if errors.As(err, &ce) {
		// A refusal changed nothing; its event goes in a transaction of
		// its own, so a probe of what a token may write is on record too.
		// At most maxRefusedKeys names: a refused write of thousands of
		// made-up keys must not make a huge event in a chain no one may
		// prune (the outside review's flood).
		named := keys
		if len(named) > maxRefusedKeys {
			named = named[:maxRefusedKeys]
		}
		details := accessDetails(w.Access, w.User, named)
		details["keys_count"] = strconv.Itoa(len(keys))
		details["refused"] = ce.Error() // names a key, rule or revision, never a value
		if aerr := r.st.Update(ctx, func(tx store.Tx) error {
			return r.recordAccess(ctx, tx, "user_config.write", w.User, w.Access.Caller, audit.Failure, details)
		}); aerr != nil {
			return UserConfig{}, fmt.Errorf("record the refused write: %w (the write was refused: %w)", aerr, err)
		}
	}
	if err != nil {
		return UserConfig{}, err
	}
	return out, nil
}

// applyWrite checks and applies w in tx and returns the keys whose stored
// value changed.
func (r *Registry) applyWrite(ctx context.Context, tx store.Tx, w ConfigWrite) ([]string, error) {
	vals, err := tx.ListUserValues(ctx, w.User)
	if err != nil {
		return nil, err
	}
	own := make(map[string]store.UserValue, len(vals))
	for _, v := range vals {
		own[v.Key] = v
	}
	unset := sortedSet(w.Unset)
	setKeys := make([]string, 0, len(w.Set))
	for k := range w.Set {
		setKeys = append(setKeys, k)
	}
	sort.Strings(setKeys)
	settings := map[string]store.Setting{}
	// check applies the rules every written or removed key must pass.
	check := func(key string) error {
		if len(key) > maxNameLength {
			return &ConfigError{Kind: ConfigUnknownKey, Key: Quote(key)}
		}
		s, err := tx.GetSetting(ctx, key)
		if notFound(err) {
			return &ConfigError{Kind: ConfigUnknownKey, Key: key}
		}
		if err != nil {
			return err
		}
		settings[key] = s
		switch {
		case !s.UserEditable:
			return &ConfigError{Kind: ConfigNotEditable, Key: key}
		case own[key].Managed:
			return &ConfigError{Kind: ConfigManaged, Key: key, Resource: managedResource(w.User)}
		case s.Sensitive && !w.AllowSensitive:
			return &ConfigError{Kind: ConfigSensitiveDenied, Key: key}
		}
		return nil
	}
	for _, key := range setKeys {
		if slices.Contains(unset, key) {
			return nil, &ConfigError{Kind: ConfigInvalid, Key: key, Rule: "is both set and removed in one write: do one or the other"}
		}
		if err := check(key); err != nil {
			return nil, err
		}
		s := settings[key]
		if err := CheckValue(specOf(s), w.Set[key]); err != nil {
			rule := "is not a valid value"
			var ie *InvalidError
			if errors.As(err, &ie) {
				rule = ie.Reason
			}
			return nil, &ConfigError{Kind: ConfigInvalid, Key: key, Rule: rule}
		}
		if s.Sensitive && r.keys == nil {
			return nil, &ConfigError{Kind: ConfigNoMasterKey, Key: key}
		}
	}
	for _, key := range unset {
		if err := check(key); err != nil {
			return nil, err
		}
	}
	rev, err := tx.ConfigRevision(ctx, w.User)
	if err != nil {
		return nil, err
	}
	if w.IfMatch && rev != w.IfRevision {
		return nil, &ConfigError{Kind: ConfigRevisionMoved, Revision: rev}
	}
	var changed []string
	for _, key := range setKeys {
		old, had := own[key]
		moved, err := r.storeUserValue(ctx, tx, settings[key], w.User, w.Set[key], false, old, had)
		if err != nil {
			return nil, err
		}
		if moved {
			changed = append(changed, key)
		}
	}
	for _, key := range unset {
		if _, had := own[key]; !had {
			continue // already the default
		}
		if err := tx.DeleteUserValue(ctx, w.User, key); err != nil {
			return nil, err
		}
		changed = append(changed, key)
	}
	return changed, nil
}

// storeUserValue stores a checked value, sealed when the setting is
// sensitive, and tells whether it differs from what was stored (old, when
// had): a different value or a different managed mark.
func (r *Registry) storeUserValue(ctx context.Context, tx store.Tx, s store.Setting, user string, value json.RawMessage, managed bool, old store.UserValue, had bool) (bool, error) {
	same := had && old.Managed == managed && r.sameValue(old, value)
	plain, sealed, err := r.sealValue(value, s.Sensitive, userValueAAD(user, s.Key))
	if err != nil {
		return false, err
	}
	if same && (old.Sealed == nil) == (sealed == nil) {
		return false, nil // unchanged: keep the record, and the revision, as they are
	}
	err = tx.PutUserValue(ctx, store.UserValue{User: user, Key: s.Key, Value: plain, Sealed: sealed, UpdatedAt: r.clock(), Managed: managed})
	return err == nil, err
}

// sameValue tells whether a stored value holds v; a sealed one is opened to
// compare, and one that cannot be opened counts as different.
func (r *Registry) sameValue(old store.UserValue, v json.RawMessage) bool {
	stored := old.Value
	if old.Sealed != nil {
		if r.keys == nil {
			return false
		}
		var err error
		if stored, err = r.keys.Open(old.Sealed, userValueAAD(old.User, old.Key)); err != nil {
			return false
		}
	}
	return bytes.Equal(compact(stored), compact(v))
}

// accessDetails are the audit details of an API access: who, whose, which
// keys, from where; never a value.
func accessDetails(a ConfigAccess, user string, keys []string) map[string]string {
	return map[string]string{
		"caller": a.Caller, "user": user, "keys": strings.Join(keys, ","), "source_ip": a.SourceIP,
	}
}

// recordAccess appends an audit event of the API whose actor is the
// calling token, when one is named.
func (r *Registry) recordAccess(ctx context.Context, tx store.Tx, action, user, caller, outcome string, details map[string]string) error {
	actor := r.actor
	if caller != "" {
		actor = "token/" + caller
	}
	_, err := tx.AppendAudit(ctx, audit.Event{
		Time: r.clock(), Actor: actor, Action: action, Subject: "user/" + user, Outcome: outcome, Details: details,
	})
	return err
}

// AuditConfigRead records that a caller was shown sensitive values: the
// caller, the user and the keys, never a value.
func (r *Registry) AuditConfigRead(ctx context.Context, a ConfigAccess) error {
	keys := sortedSet(a.Keys)
	return r.st.Update(ctx, func(tx store.Tx) error {
		return r.recordAccess(ctx, tx, "user_config.read_sensitive", a.User, a.Caller, audit.Success, accessDetails(a, a.User, keys))
	})
}

// SetManagedUserValues sets the values a tokenward_user_config resource
// declares for user, marked managed, and removes the managed values it no
// longer declares; the user's other values (written through the API or the
// CLI) stay as they are. Each key must name a user_editable setting and
// each value fit it, or nothing changes; the error names the key.
func (r *Registry) SetManagedUserValues(ctx context.Context, user string, values map[string]json.RawMessage) error {
	if err := CheckUser(user); err != nil {
		return err
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return r.change(ctx, "user_config.set_managed", "user/"+user, func(tx store.Tx, d map[string]string) error {
		vals, err := tx.ListUserValues(ctx, user)
		if err != nil {
			return err
		}
		own := make(map[string]store.UserValue, len(vals))
		for _, v := range vals {
			own[v.Key] = v
		}
		var changed, removed []string
		for _, key := range keys {
			old, had := own[key]
			moved, err := r.putUserValue(ctx, tx, user, key, values[key], true, old, had)
			if err != nil {
				return err
			}
			if moved {
				changed = append(changed, key)
			}
		}
		for _, v := range vals {
			if _, kept := values[v.Key]; kept || !v.Managed {
				continue
			}
			if err := tx.DeleteUserValue(ctx, user, v.Key); err != nil {
				return err
			}
			removed = append(removed, v.Key)
		}
		d["set"] = strings.Join(keys, ",")
		d["removed"] = strings.Join(removed, ",")
		if all := append(changed, removed...); len(all) > 0 {
			return r.recordConfigChange(ctx, tx, user, all)
		}
		return nil
	})
}

// ManagedUserValues returns the values of a user that a
// tokenward_user_config resource manages, opened.
func (r *Registry) ManagedUserValues(ctx context.Context, user string) (map[string]json.RawMessage, error) {
	return r.userValues(ctx, user, true)
}
