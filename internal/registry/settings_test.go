package registry_test

import (
	"encoding/json"
	"errors"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func ptr(f float64) *float64 { return &f }

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestCheckSetting(t *testing.T) {
	t.Parallel()
	ok := func(s registry.SettingSpec) registry.SettingSpec { return s }
	cases := []struct {
		name  string
		spec  registry.SettingSpec
		field string // "" when valid
	}{
		{"string", ok(registry.SettingSpec{Key: "ui.theme", Type: "string", Default: raw(`"dark"`), Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`"dark"`), raw(`"light"`)}}}), ""},
		{"number in range", registry.SettingSpec{Key: "session.timeout", Type: "number", Default: raw(`15`), Constraints: store.Constraints{Min: ptr(1), Max: ptr(60)}}, ""},
		{"bool", registry.SettingSpec{Key: "mfa.required", Type: "bool", Default: raw(`true`)}, ""},
		{"list", registry.SettingSpec{Key: "notify.channels", Type: "list", Default: raw(`["email","slack"]`), Constraints: store.Constraints{Pattern: `[a-z]+`}}, ""},
		{"json", registry.SettingSpec{Key: "ui.layout", Type: "json", Default: raw(`{"cols":2}`)}, ""},
		{"bad key", registry.SettingSpec{Key: "Session Timeout", Type: "number", Default: raw(`1`)}, "key"},
		{"key with empty part", registry.SettingSpec{Key: "session..timeout", Type: "number", Default: raw(`1`)}, "key"},
		{"unknown type", registry.SettingSpec{Key: "a.b", Type: "int", Default: raw(`1`)}, "type"},
		{"missing default", registry.SettingSpec{Key: "a.b", Type: "number"}, "default"},
		{"wrong type default", registry.SettingSpec{Key: "a.b", Type: "number", Default: raw(`"15"`)}, "default"},
		{"below min", registry.SettingSpec{Key: "a.b", Type: "number", Default: raw(`0`), Constraints: store.Constraints{Min: ptr(1)}}, "default"},
		{"above max", registry.SettingSpec{Key: "a.b", Type: "number", Default: raw(`61`), Constraints: store.Constraints{Max: ptr(60)}}, "default"},
		{"min above max", registry.SettingSpec{Key: "a.b", Type: "number", Default: raw(`5`), Constraints: store.Constraints{Min: ptr(10), Max: ptr(1)}}, "max"},
		{"min on string", registry.SettingSpec{Key: "a.b", Type: "string", Default: raw(`"x"`), Constraints: store.Constraints{Min: ptr(1)}}, "min"},
		{"pattern on number", registry.SettingSpec{Key: "a.b", Type: "number", Default: raw(`1`), Constraints: store.Constraints{Pattern: "x"}}, "pattern"},
		{"bad pattern", registry.SettingSpec{Key: "a.b", Type: "string", Default: raw(`"x"`), Constraints: store.Constraints{Pattern: "("}}, "pattern"},
		{"default misses pattern", registry.SettingSpec{Key: "a.b", Type: "string", Default: raw(`"x1"`), Constraints: store.Constraints{Pattern: "[a-z]+"}}, "default"},
		{"list item misses pattern", registry.SettingSpec{Key: "a.b", Type: "list", Default: raw(`["ok","NO"]`), Constraints: store.Constraints{Pattern: "[a-z]+"}}, "default"},
		{"list of numbers", registry.SettingSpec{Key: "a.b", Type: "list", Default: raw(`[1]`)}, "default"},
		{"not allowed", registry.SettingSpec{Key: "a.b", Type: "string", Default: raw(`"blue"`), Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`"dark"`)}}}, "default"},
		{"allowed value of wrong type", registry.SettingSpec{Key: "a.b", Type: "string", Default: raw(`"x"`), Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`1`)}}}, "allowed_values"},
		{"constraints on bool", registry.SettingSpec{Key: "a.b", Type: "bool", Default: raw(`true`), Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`true`)}}}, "type"},
		{"invalid json default", registry.SettingSpec{Key: "a.b", Type: "json", Default: raw(`{`)}, "default"},
		{"max on list", registry.SettingSpec{Key: "a.b", Type: "list", Default: raw(`[]`), Constraints: store.Constraints{Max: ptr(3)}}, "max"},
		{"list items allowed", registry.SettingSpec{Key: "a.b", Type: "list", Default: raw(`["email","sms"]`), Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`"email"`), raw(`"sms"`), raw(`"slack"`)}}}, ""},
		{"list item not allowed", registry.SettingSpec{Key: "a.b", Type: "list", Default: raw(`["email","fax"]`), Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`"email"`)}}}, "default"},
		{"list allowed value not a string", registry.SettingSpec{Key: "a.b", Type: "list", Default: raw(`[]`), Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`["email"]`)}}}, "allowed_values"},
		{"sensitive with allowed values", registry.SettingSpec{Key: "a.b", Type: "string", Default: raw(`"x"`), Sensitive: true, Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`"x"`)}}}, "allowed_values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := registry.CheckSetting(tc.spec)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid setting refused: %v", err)
				}
				return
			}
			var ie *registry.InvalidError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("got %v, want an InvalidError on %s", err, tc.field)
			}
		})
	}
}

func TestSensitiveValueNeverInErrors(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-very-secret"
	spec := registry.SettingSpec{Key: "smtp.password", Type: "string", Sensitive: true, Default: raw(`"` + secret + `"`),
		Constraints: store.Constraints{Pattern: "[a-z]+"}}
	err := registry.CheckSetting(spec)
	if err == nil {
		t.Fatal("default that misses the pattern accepted")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error quotes the sensitive default: %v", err)
	}
}

func TestUserConfig(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		for _, s := range []registry.SettingSpec{
			{Key: "session.timeout", Type: "number", Default: raw(`15`), Constraints: store.Constraints{Min: ptr(1), Max: ptr(60)}, UserEditable: true},
			{Key: "ui.theme", Type: "string", Default: raw(`"dark"`), UserEditable: true},
			{Key: "mfa.required", Type: "bool", Default: raw(`true`), UserEditable: false},
			{Key: "smtp.password", Type: "string", Default: raw(`"default-secret"`), Sensitive: true, UserEditable: true},
		} {
			if err := f.reg.CreateSetting(ctx, s); err != nil {
				t.Fatalf("%s: %v", s.Key, err)
			}
		}
		if err := f.reg.CreateSetting(ctx, registry.SettingSpec{Key: "ui.theme", Type: "string", Default: raw(`"x"`)}); !errors.Is(err, registry.ErrExists) {
			t.Fatalf("duplicate setting: %v", err)
		}
		errCases := []struct {
			name   string
			values map[string]json.RawMessage
			field  string
		}{
			{"unknown key", map[string]json.RawMessage{"ghost.key": raw(`1`)}, "values.ghost.key"},
			{"not editable", map[string]json.RawMessage{"mfa.required": raw(`false`)}, "values.mfa.required"},
			{"out of range", map[string]json.RawMessage{"session.timeout": raw(`99`)}, "values.session.timeout"},
			{"wrong type", map[string]json.RawMessage{"ui.theme": raw(`7`)}, "values.ui.theme"},
		}
		for _, tc := range errCases {
			err := f.reg.SetUserValues(ctx, "alice", tc.values)
			var ie *registry.InvalidError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Errorf("%s: got %v, want an InvalidError on %s", tc.name, err, tc.field)
			}
		}
		err := f.reg.SetUserValues(ctx, "alice", map[string]json.RawMessage{
			"session.timeout": raw(`30`), "ui.theme": raw(` "light" `), "smtp.password": raw(`"alice-secret"`),
		})
		if err != nil {
			t.Fatal(err)
		}
		eff, err := f.reg.EffectiveConfig(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range eff {
			got[e.Key] = string(e.Value) + " from " + e.Source
		}
		want := map[string]string{
			"session.timeout": "30 from user", "ui.theme": `"light" from user`,
			"mfa.required": "true from enforced", "smtp.password": `"alice-secret" from user`,
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s = %s, want %s", k, got[k], w)
			}
		}
		// Replacing the set removes what is left out.
		if err := f.reg.SetUserValues(ctx, "alice", map[string]json.RawMessage{"ui.theme": raw(`"light"`)}); err != nil {
			t.Fatal(err)
		}
		own, err := f.reg.UserValues(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if len(own) != 1 || string(own["ui.theme"]) != `"light"` {
			t.Fatalf("own values = %v", own)
		}
		// A setting made non-editable enforces its default over a stored value.
		if err := f.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "ui.theme", Type: "string", Default: raw(`"dark"`), UserEditable: false}); err != nil {
			t.Fatal(err)
		}
		eff, err = f.reg.EffectiveConfig(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range eff {
			if e.Key == "ui.theme" && (e.Source != registry.SourceEnforced || string(e.Value) != `"dark"`) {
				t.Fatalf("ui.theme = %+v, want the enforced default", e)
			}
		}
		// An update that would invalidate a stored value is refused and names the user.
		err = f.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "ui.theme", Type: "string", Default: raw(`"dark"`), UserEditable: true,
			Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`"dark"`)}}})
		if err == nil || !strings.Contains(err.Error(), "alice") {
			t.Fatalf("breaking update: %v", err)
		}
		if err := f.reg.DeleteSetting(ctx, "ui.theme"); !errors.Is(err, registry.ErrInUse) || !strings.Contains(err.Error(), "alice") {
			t.Fatalf("delete setting in use: %v", err)
		}
		// Making a setting sensitive seals the values already stored.
		if err := f.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "ui.theme", Type: "string", Default: raw(`"dark"`), UserEditable: true, Sensitive: true}); err != nil {
			t.Fatal(err)
		}
		var sealed []store.UserValue
		if err := f.st.View(ctx, func(tx store.Tx) error { var err error; sealed, err = tx.ListSealedUserValues(ctx); return err }); err != nil {
			t.Fatal(err)
		}
		if len(sealed) != 1 || sealed[0].Key != "ui.theme" || sealed[0].Value != nil {
			t.Fatalf("sealed values after becoming sensitive = %+v", sealed)
		}
		own, err = f.reg.UserValues(ctx, "alice")
		if err != nil || string(own["ui.theme"]) != `"light"` {
			t.Fatalf("resealed value reads back as %v (%v)", own, err)
		}
		for _, e := range storetest.AuditChain(t, f.st) {
			for k, v := range e.Details {
				if strings.Contains(v, "secret") {
					t.Errorf("audit event %d %s detail %s holds a sensitive value", e.Seq, e.Action, k)
				}
			}
		}
	})
}

func TestUpdateUserValuesLeavesTheRest(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		for _, s := range []registry.SettingSpec{
			{Key: "ui.theme", Type: "string", Default: raw(`"dark"`), UserEditable: true},
			{Key: "ui.lang", Type: "string", Default: raw(`"en"`), UserEditable: true},
		} {
			if err := f.reg.CreateSetting(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.reg.SetUserValues(ctx, "bob", map[string]json.RawMessage{"ui.theme": raw(`"light"`), "ui.lang": raw(`"fr"`)}); err != nil {
			t.Fatal(err)
		}
		// ui.theme stops being editable; bob's stored value stays but is not
		// enforced, and does not block changes to his other values.
		if err := f.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "ui.theme", Type: "string", Default: raw(`"dark"`)}); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.UpdateUserValues(ctx, "bob", map[string]json.RawMessage{"ui.lang": raw(`"de"`)}, nil); err != nil {
			t.Fatalf("update beside a value made non-editable: %v", err)
		}
		own, err := f.reg.UserValues(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if string(own["ui.lang"]) != `"de"` || string(own["ui.theme"]) != `"light"` {
			t.Fatalf("values = %v", own)
		}
		if err := f.reg.UpdateUserValues(ctx, "bob", nil, []string{"ui.thme"}); err == nil || !strings.Contains(err.Error(), "ui.thme") {
			t.Fatalf("unset of a key bob does not hold: %v", err)
		}
		if err := f.reg.UpdateUserValues(ctx, "bob", nil, []string{"ui.theme"}); err != nil {
			t.Fatalf("unset a value made non-editable: %v", err)
		}
		own, err = f.reg.UserValues(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if _, has := own["ui.theme"]; has || len(own) != 1 {
			t.Fatalf("after unset: %v", own)
		}
	})
}
