package registry_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestCheckAllUserValues: values a setting's tightened constraints refuse
// are named by user, key and rule, never by value; sensitive ones are
// checked with the master key and counted as unchecked without it.
func TestCheckAllUserValues(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(f.reg.CreateSetting(ctx, registry.SettingSpec{Key: "session.timeout", Type: "number", Default: raw(`15`), UserEditable: true,
			Constraints: store.Constraints{Min: ptr(1), Max: ptr(120)}}))
		must(f.reg.CreateSetting(ctx, registry.SettingSpec{Key: "smtp.password", Type: "string", Default: raw(`"default-pass"`), UserEditable: true, Sensitive: true}))
		must(f.reg.SetUserValues(ctx, "alice", map[string]json.RawMessage{"session.timeout": raw(`90`), "smtp.password": raw(`"hunter2-sealed"`)}))
		must(f.reg.SetUserValues(ctx, "bob", map[string]json.RawMessage{"session.timeout": raw(`30`), "smtp.password": raw(`"ok"`)}))
		// Tightened behind the registry's back (UpdateSetting refuses a
		// change that breaks values): 90 and hunter2-sealed no longer pass.
		must(f.st.Update(ctx, func(tx store.Tx) error {
			for key, c := range map[string]store.Constraints{"session.timeout": {Min: ptr(1), Max: ptr(60)}, "smtp.password": {Pattern: "[a-z]{1,4}"}} {
				s, err := tx.GetSetting(ctx, key)
				if err != nil {
					return err
				}
				s.Constraints = c
				if err := tx.UpdateSetting(ctx, s); err != nil {
					return err
				}
			}
			return nil
		}))
		got, err := f.reg.CheckAllUserValues(ctx)
		must(err)
		if got.Checked != 4 || len(got.Unchecked) != 0 || len(got.Problems) != 2 {
			t.Fatalf("check = %+v", got)
		}
		p0, p1 := got.Problems[0], got.Problems[1]
		if p0.User != "alice" || p0.Key != "session.timeout" || p0.Orphan || !strings.Contains(p0.Reason, "at most 60") ||
			p1.User != "alice" || p1.Key != "smtp.password" || !p1.Sensitive || !strings.Contains(p1.Reason, "pattern") {
			t.Errorf("problems = %+v", got.Problems)
		}
		for _, p := range got.Problems {
			if strings.Contains(p.Reason, "hunter2") || strings.Contains(p.Reason, "90") {
				t.Errorf("a problem quotes the value: %+v", p)
			}
		}
		keyless := registry.New(f.st, nil)
		got, err = keyless.CheckAllUserValues(ctx)
		must(err)
		if got.Checked != 2 || got.Unchecked["smtp.password"] != 2 || len(got.Problems) != 1 || got.Problems[0].Key != "session.timeout" {
			t.Errorf("without the key: %+v", got)
		}
	})
}
