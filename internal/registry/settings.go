package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Setting types.
const (
	TypeString = "string"
	TypeNumber = "number"
	TypeBool   = "bool"
	TypeList   = "list" // a list of strings
	TypeJSON   = "json" // any JSON value
)

// Sources of an effective value.
const (
	SourceDefault  = "default"  // the setting's default; the user has no value
	SourceUser     = "user"     // the user's own value
	SourceEnforced = "enforced" // the default, because users may not override it
)

var settingKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// SettingSpec is what a caller declares about a setting. Default is JSON.
type SettingSpec struct {
	Key          string
	Type         string
	Default      json.RawMessage
	Description  string
	Constraints  store.Constraints
	Sensitive    bool
	UserEditable bool
}

// CheckSetting reports whether a setting is well formed: a dotted key, a
// known type, constraints that fit the type and agree with each other, and a
// default that satisfies them. Errors never hold a sensitive default.
func CheckSetting(spec SettingSpec) error {
	if len(spec.Key) > maxNameLength {
		return tooLong("key", "a setting key", spec.Key)
	}
	if !settingKeyPattern.MatchString(spec.Key) {
		return invalid("key", "%q must be dotted lower-case words (letters, digits, _), such as session.timeout_minutes", spec.Key)
	}
	c := spec.Constraints
	switch spec.Type {
	case TypeString, TypeList:
		if c.Min != nil {
			return invalid("min", "applies only to number settings, not %s", spec.Type)
		}
		if c.Max != nil {
			return invalid("max", "applies only to number settings, not %s", spec.Type)
		}
	case TypeNumber:
		if c.Pattern != "" {
			return invalid("pattern", "applies only to string and list settings, not number")
		}
		if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
			return invalid("max", "%s is below min %s", fmtNum(*c.Max), fmtNum(*c.Min))
		}
	case TypeBool, TypeJSON:
		if c.Min != nil || c.Max != nil || c.Pattern != "" || len(c.AllowedValues) > 0 {
			return invalid("type", "%s settings take no allowed_values, min, max or pattern", spec.Type)
		}
	default:
		return invalid("type", "%s is not a setting type: use string, number, bool, list or json", quoted(spec.Type))
	}
	if c.Pattern != "" {
		if _, err := regexp.Compile(c.Pattern); err != nil {
			return invalid("pattern", "is not a regular expression: %v", err)
		}
	}
	if spec.Sensitive && len(c.AllowedValues) > 0 {
		// Errors, plans and reviews list the allowed values.
		return invalid("allowed_values", "a sensitive setting cannot list its allowed values, which would be shown in errors and plans; use pattern instead")
	}
	for i, v := range c.AllowedValues {
		if err := checkType(itemType(spec.Type), v); err != nil {
			return invalid("allowed_values", "value %d: %s", i+1, err)
		}
	}
	return refield(CheckValue(spec, spec.Default), "default")
}

// refield moves a value error onto the field it is about.
func refield(err error, field string) error {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return invalid(field, "%s", ie.Reason)
	}
	return err
}

// CheckValue reports whether v is a valid value of the setting: its type and
// constraints. The error never quotes v, which may be sensitive.
func CheckValue(spec SettingSpec, v json.RawMessage) error {
	if len(bytes.TrimSpace(v)) == 0 {
		return invalid("value", "is missing: give a %s", spec.Type)
	}
	if err := checkType(spec.Type, v); err != nil {
		return invalid("value", "%s", err)
	}
	c := spec.Constraints
	if len(c.AllowedValues) > 0 {
		// The allowed values of a list setting are those of its items.
		items := []json.RawMessage{v}
		if spec.Type == TypeList {
			_ = json.Unmarshal(v, &items)
		}
		for i, item := range items {
			if allowed(item, c.AllowedValues) {
				continue
			}
			shown := make([]string, len(c.AllowedValues))
			for i, a := range c.AllowedValues {
				shown[i] = string(compact(a))
			}
			if spec.Type == TypeList {
				return invalid("value", "item %d must be one of %s", i+1, strings.Join(shown, ", "))
			}
			return invalid("value", "must be one of %s", strings.Join(shown, ", "))
		}
	}
	if spec.Type == TypeNumber {
		var n float64
		_ = json.Unmarshal(v, &n)
		if c.Min != nil && n < *c.Min {
			return invalid("value", "must be at least %s", fmtNum(*c.Min))
		}
		if c.Max != nil && n > *c.Max {
			return invalid("value", "must be at most %s", fmtNum(*c.Max))
		}
	}
	if c.Pattern != "" {
		re, err := regexp.Compile(`^(?:` + c.Pattern + `)$`)
		if err != nil {
			return invalid("pattern", "is not a regular expression: %v", err)
		}
		var items []string
		if spec.Type == TypeList {
			_ = json.Unmarshal(v, &items)
		} else {
			var s string
			_ = json.Unmarshal(v, &s)
			items = []string{s}
		}
		for i, s := range items {
			if !re.MatchString(s) {
				if spec.Type == TypeList {
					return invalid("value", "item %d does not match the pattern %s", i+1, c.Pattern)
				}
				return invalid("value", "does not match the pattern %s", c.Pattern)
			}
		}
	}
	return nil
}

// checkType reports whether v is JSON of the setting type.
func checkType(typ string, v json.RawMessage) error {
	if !json.Valid(v) {
		return fmt.Errorf("is not valid JSON")
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return fmt.Errorf("is not valid JSON")
	}
	ok := true
	switch typ {
	case TypeString:
		_, ok = x.(string)
	case TypeNumber:
		n, isNum := x.(json.Number)
		ok = isNum
		if isNum {
			f, err := n.Float64()
			ok = err == nil && !math.IsInf(f, 0)
		}
	case TypeBool:
		_, ok = x.(bool)
	case TypeList:
		items, isList := x.([]any)
		ok = isList
		for _, it := range items {
			if _, isStr := it.(string); !isStr {
				ok = false
			}
		}
	case TypeJSON:
	}
	if !ok {
		return fmt.Errorf("must be a %s", describeType(typ))
	}
	return nil
}

// itemType is the type of one allowed value: a string for list settings,
// whose allowed values are those of their items.
func itemType(typ string) string {
	if typ == TypeList {
		return TypeString
	}
	return typ
}

func describeType(typ string) string {
	switch typ {
	case TypeList:
		return "list of strings"
	case TypeBool:
		return "bool (true or false)"
	}
	return typ
}

func allowed(v json.RawMessage, set []json.RawMessage) bool {
	var x any
	_ = json.Unmarshal(v, &x)
	for _, a := range set {
		var y any
		if json.Unmarshal(a, &y) == nil && reflect.DeepEqual(x, y) {
			return true
		}
	}
	return false
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// compact returns v in its compact JSON form, so equal values are stored alike.
func compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return v
	}
	return b.Bytes()
}

func defaultAAD(key string) string { return "setting_default\x00" + key }

func userValueAAD(user, key string) string { return "user_value\x00" + user + "\x00" + key }

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

func (r *Registry) toStored(spec SettingSpec) (store.Setting, error) {
	def, sealed, err := r.sealValue(spec.Default, spec.Sensitive, defaultAAD(spec.Key))
	if err != nil {
		return store.Setting{}, fmt.Errorf("setting %s: %w", spec.Key, err)
	}
	return store.Setting{
		Key: spec.Key, Type: spec.Type, Default: def, SealedDefault: sealed, Description: spec.Description,
		Constraints: spec.Constraints, Sensitive: spec.Sensitive, UserEditable: spec.UserEditable,
	}, nil
}

func (r *Registry) fromStored(s store.Setting) (SettingSpec, error) {
	def, err := r.openValue(s.Default, s.SealedDefault, defaultAAD(s.Key))
	if err != nil {
		return SettingSpec{}, fmt.Errorf("setting %s: default: %w", s.Key, err)
	}
	return SettingSpec{
		Key: s.Key, Type: s.Type, Default: def, Description: s.Description,
		Constraints: s.Constraints, Sensitive: s.Sensitive, UserEditable: s.UserEditable,
	}, nil
}

func settingDetails(d map[string]string, spec SettingSpec) {
	d["type"] = spec.Type
	d["sensitive"] = strconv.FormatBool(spec.Sensitive)
	d["user_editable"] = strconv.FormatBool(spec.UserEditable)
	if !spec.Sensitive {
		d["default"] = string(compact(spec.Default))
	}
}

// CreateSetting declares a setting; a sensitive default is sealed.
func (r *Registry) CreateSetting(ctx context.Context, spec SettingSpec) error {
	if err := CheckSetting(spec); err != nil {
		return err
	}
	s, err := r.toStored(spec)
	if err != nil {
		return err
	}
	s.CreatedAt = r.clock()
	s.UpdatedAt = s.CreatedAt
	return r.change(ctx, "setting.create", "setting/"+spec.Key, func(tx store.Tx, d map[string]string) error {
		settingDetails(d, spec)
		return tx.CreateSetting(ctx, s)
	})
}

// UpdateSetting changes a setting. Every user value of the setting must
// still be valid under the new type and constraints, or the update fails and
// names the users; values are resealed or unsealed when sensitivity changes.
func (r *Registry) UpdateSetting(ctx context.Context, spec SettingSpec) error {
	if err := CheckSetting(spec); err != nil {
		return err
	}
	return r.change(ctx, "setting.update", "setting/"+spec.Key, func(tx store.Tx, d map[string]string) error {
		old, err := tx.GetSetting(ctx, spec.Key)
		if err != nil {
			return err
		}
		s, err := r.toStored(spec)
		if err != nil {
			return err
		}
		s.CreatedAt, s.UpdatedAt = old.CreatedAt, r.clock()
		settingDetails(d, spec)
		if old.Sensitive || spec.Sensitive {
			d["default"] = "changed"
			if oldSpec, err := r.fromStored(old); err == nil && bytes.Equal(compact(oldSpec.Default), compact(spec.Default)) {
				d["default"] = "unchanged"
			}
		}
		if err := tx.UpdateSetting(ctx, s); err != nil {
			return err
		}
		users, err := tx.SettingUsers(ctx, spec.Key)
		if err != nil {
			return err
		}
		var broken []string
		for _, u := range users {
			v, err := r.userValue(ctx, tx, u, spec.Key)
			if err != nil {
				return err
			}
			if CheckValue(spec, v) != nil {
				broken = append(broken, u)
				continue
			}
			plain, sealed, err := r.sealValue(v, spec.Sensitive, userValueAAD(u, spec.Key))
			if err != nil {
				return err
			}
			if err := tx.PutUserValue(ctx, store.UserValue{User: u, Key: spec.Key, Value: plain, Sealed: sealed, UpdatedAt: r.clock()}); err != nil {
				return err
			}
		}
		if len(broken) > 0 {
			return invalid("default", "the change would make the values of users %s invalid for %s; change their values first", strings.Join(broken, ", "), spec.Key)
		}
		return nil
	})
}

// userValue reads and opens one stored user value.
func (r *Registry) userValue(ctx context.Context, tx store.Tx, user, key string) (json.RawMessage, error) {
	vals, err := tx.ListUserValues(ctx, user)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if v.Key == key {
			return r.openValue(v.Value, v.Sealed, userValueAAD(user, key))
		}
	}
	return nil, fmt.Errorf("value of %s for user %s: %w", key, user, ErrNotFound)
}

// Setting returns a setting with its default opened.
func (r *Registry) Setting(ctx context.Context, key string) (SettingSpec, error) {
	var spec SettingSpec
	err := r.st.View(ctx, func(tx store.Tx) error {
		s, err := tx.GetSetting(ctx, key)
		if err != nil {
			return err
		}
		spec, err = r.fromStored(s)
		return err
	})
	return spec, err
}

// Settings returns every setting, sorted by key, defaults opened.
func (r *Registry) Settings(ctx context.Context) ([]SettingSpec, error) {
	var out []SettingSpec
	err := r.st.View(ctx, func(tx store.Tx) error {
		all, err := tx.ListSettings(ctx)
		if err != nil {
			return err
		}
		for _, s := range all {
			spec, err := r.fromStored(s)
			if err != nil {
				return err
			}
			out = append(out, spec)
		}
		return nil
	})
	return out, err
}

// DeleteSetting removes a setting no user holds a value for; otherwise the
// error names the users.
func (r *Registry) DeleteSetting(ctx context.Context, key string) error {
	return r.change(ctx, "setting.delete", "setting/"+key, func(tx store.Tx, _ map[string]string) error {
		users, err := tx.SettingUsers(ctx, key)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("delete setting %s: %w: users %s hold values for it; remove them first", key, ErrInUse, strings.Join(users, ", "))
		}
		return tx.DeleteSetting(ctx, key)
	})
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
		for _, key := range keys {
			if err := r.putUserValue(ctx, tx, user, key, set[key]); err != nil {
				return err
			}
		}
		held := map[string]bool{}
		for _, v := range existing {
			held[v.Key] = true
		}
		drop := map[string]bool{}
		for _, k := range unset {
			if !held[k] {
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
		return nil
	})
}

// putUserValue checks one value against its setting and stores it, sealed
// when the setting is sensitive.
func (r *Registry) putUserValue(ctx context.Context, tx store.Tx, user, key string, value json.RawMessage) error {
	if len(key) > maxNameLength {
		return tooLong("values", "a setting key", key)
	}
	s, err := tx.GetSetting(ctx, key)
	if notFound(err) {
		return invalid("values."+key, "there is no setting %s: declare it first", key)
	}
	if err != nil {
		return err
	}
	if !s.UserEditable {
		return invalid("values."+key, "setting %s is not user_editable: its default is enforced for everyone", key)
	}
	spec, err := r.fromStored(s)
	if err != nil {
		return err
	}
	if err := CheckValue(spec, value); err != nil {
		return refield(err, "values."+key)
	}
	plain, sealed, err := r.sealValue(value, s.Sensitive, userValueAAD(user, key))
	if err != nil {
		return err
	}
	return tx.PutUserValue(ctx, store.UserValue{User: user, Key: key, Value: plain, Sealed: sealed, UpdatedAt: r.clock()})
}

// UserValues returns a user's own values, opened.
func (r *Registry) UserValues(ctx context.Context, user string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := r.st.View(ctx, func(tx store.Tx) error {
		vals, err := tx.ListUserValues(ctx, user)
		if err != nil {
			return err
		}
		for _, v := range vals {
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
