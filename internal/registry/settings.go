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
	"strconv"
	"strings"

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
		return invalid("type", "%s is not a setting type: use string, number, bool, list or json", Quote(spec.Type))
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
		if err := tx.CreateSetting(ctx, s); err != nil {
			return err
		}
		return r.recordConfigChange(ctx, tx, "", []string{spec.Key})
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
			v, held, err := r.userValue(ctx, tx, u, spec.Key)
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
			if err := tx.PutUserValue(ctx, store.UserValue{User: u, Key: spec.Key, Value: plain, Sealed: sealed, UpdatedAt: r.clock(), Managed: held.Managed}); err != nil {
				return err
			}
		}
		if len(broken) > 0 {
			return invalid("default", "the change would make the values of users %s invalid for %s; change their values first", strings.Join(broken, ", "), spec.Key)
		}
		return r.recordConfigChange(ctx, tx, "", []string{spec.Key})
	})
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
		if err := tx.DeleteSetting(ctx, key); err != nil {
			return err
		}
		return r.recordConfigChange(ctx, tx, "", []string{key})
	})
}
