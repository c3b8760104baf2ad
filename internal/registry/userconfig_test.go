package registry_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// configSecret is the one sensitive value the configuration tests write;
// no error, audit event or change log entry may hold it.
const configSecret = "smtp-pw-Zq81-never-shown"

// declareConfig declares the settings the configuration tests use.
func declareConfig(t *testing.T, f fixture) {
	t.Helper()
	for _, spec := range []registry.SettingSpec{
		{Key: "data.region", Type: registry.TypeString, Default: raw(`"us"`), UserEditable: true,
			Constraints: store.Constraints{AllowedValues: []json.RawMessage{raw(`"us"`), raw(`"eu"`)}}},
		{Key: "session.timeout_minutes", Type: registry.TypeNumber, Default: raw(`15`), UserEditable: true,
			Constraints: store.Constraints{Min: ptr(5), Max: ptr(120)}},
		{Key: "smtp.password", Type: registry.TypeString, Default: raw(`"default-pw-1"`), Sensitive: true, UserEditable: true,
			Constraints: store.Constraints{Pattern: ".{8,}"}},
		{Key: "ui.beta", Type: registry.TypeBool, Default: raw(`false`)},
	} {
		if err := f.reg.CreateSetting(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
	}
}

func configErr(err error) *registry.ConfigError {
	var ce *registry.ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

func valueOf(t *testing.T, uc registry.UserConfig, key string) registry.ConfigValue {
	t.Helper()
	for _, v := range uc.Values {
		if v.Key == key {
			return v
		}
	}
	t.Fatalf("no key %s in the configuration of %s", key, uc.User)
	return registry.ConfigValue{}
}

func revision(t *testing.T, f fixture, user string) int64 {
	t.Helper()
	uc, err := f.reg.ReadUserConfig(t.Context(), user, false)
	if err != nil {
		t.Fatal(err)
	}
	return uc.Revision
}

func TestWriteUserConfigRefusals(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f)
		if err := f.reg.SetManagedUserValues(ctx, "alice", map[string]json.RawMessage{"session.timeout_minutes": raw(`30`)}); err != nil {
			t.Fatal(err)
		}
		noKey := registry.New(f.st, nil, registry.WithClock(f.clock.Now))
		rev := revision(t, f, "alice")
		secret := raw(`"` + configSecret + `"`)
		cases := []struct {
			name  string
			reg   *registry.Registry
			w     registry.ConfigWrite
			kind  registry.ConfigErrorKind
			check func(t *testing.T, ce *registry.ConfigError)
		}{
			{"unknown key", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"no.such": raw(`1`)}}, registry.ConfigUnknownKey,
				func(t *testing.T, ce *registry.ConfigError) { wantIn(t, ce.Error(), "no.such") }},
			{"unknown key to unset", f.reg, registry.ConfigWrite{User: "alice", Unset: []string{"no.such"}}, registry.ConfigUnknownKey, nil},
			{"key too long", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{strings.Repeat("a", 5000): raw(`1`)}}, registry.ConfigUnknownKey,
				func(t *testing.T, ce *registry.ConfigError) {
					if len(ce.Error()) > 200 {
						t.Fatalf("error quotes the whole key: %d bytes", len(ce.Error()))
					}
				}},
			{"not editable", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"ui.beta": raw(`true`)}}, registry.ConfigNotEditable,
				func(t *testing.T, ce *registry.ConfigError) { wantIn(t, ce.Error(), "ui.beta") }},
			{"wrong type", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"data.region": raw(`7`)}}, registry.ConfigInvalid,
				func(t *testing.T, ce *registry.ConfigError) { wantIn(t, ce.Error(), "data.region: must be a string") }},
			{"not allowed", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"data.region": raw(`"mars"`)}}, registry.ConfigInvalid,
				func(t *testing.T, ce *registry.ConfigError) {
					wantIn(t, ce.Rule, `must be one of "us", "eu"`)
					if strings.Contains(ce.Error(), "mars") {
						t.Fatalf("error quotes the value: %s", ce)
					}
				}},
			{"constraint on a sensitive value", f.reg, registry.ConfigWrite{User: "alice", AllowSensitive: true, Set: map[string]json.RawMessage{"smtp.password": raw(`"short"`)}}, registry.ConfigInvalid,
				func(t *testing.T, ce *registry.ConfigError) { wantIn(t, ce.Rule, "does not match the pattern .{8,}") }},
			{"set and unset", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"data.region": raw(`"eu"`)}, Unset: []string{"data.region"}}, registry.ConfigInvalid, nil},
			{"managed", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"session.timeout_minutes": raw(`60`)}}, registry.ConfigManaged,
				func(t *testing.T, ce *registry.ConfigError) {
					wantIn(t, ce.Error(), `tokenward_user_config resource of user "alice"`)
					wantIn(t, ce.Error(), "session.timeout_minutes")
				}},
			{"managed unset", f.reg, registry.ConfigWrite{User: "alice", Unset: []string{"session.timeout_minutes"}}, registry.ConfigManaged, nil},
			{"sensitive without the scope", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"smtp.password": secret}}, registry.ConfigSensitiveDenied,
				func(t *testing.T, ce *registry.ConfigError) {
					wantIn(t, ce.Error(), registry.ScopeConfigWriteSensitive)
				}},
			{"sensitive without a master key", noKey, registry.ConfigWrite{User: "alice", AllowSensitive: true, Set: map[string]json.RawMessage{"smtp.password": secret}}, registry.ConfigNoMasterKey,
				func(t *testing.T, ce *registry.ConfigError) { wantIn(t, ce.Error(), "TOKENWARD_MASTER_KEY") }},
			{"revision moved", f.reg, registry.ConfigWrite{User: "alice", IfMatch: true, IfRevision: rev - 1, Set: map[string]json.RawMessage{"data.region": raw(`"eu"`)}}, registry.ConfigRevisionMoved,
				func(t *testing.T, ce *registry.ConfigError) {
					if ce.Revision != rev {
						t.Fatalf("revision in the error = %d, want %d", ce.Revision, rev)
					}
				}},
			{"checks come before If-Match", f.reg, registry.ConfigWrite{User: "alice", IfMatch: true, IfRevision: rev - 1, Set: map[string]json.RawMessage{"ui.beta": raw(`true`)}}, registry.ConfigNotEditable, nil},
			{"one bad key refuses the whole write", f.reg, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"data.region": raw(`"eu"`), "ui.beta": raw(`true`)}}, registry.ConfigNotEditable, nil},
			{"bad user", f.reg, registry.ConfigWrite{User: "", Set: map[string]json.RawMessage{"data.region": raw(`"eu"`)}}, registry.ConfigBadUser, nil},
			{"unprintable user", f.reg, registry.ConfigWrite{User: "al\x00ice", Set: map[string]json.RawMessage{"data.region": raw(`"eu"`)}}, registry.ConfigBadUser, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				tc.w.Access = registry.ConfigAccess{Caller: "app", SourceIP: "192.0.2.7"}
				_, err := tc.reg.WriteUserConfig(ctx, tc.w)
				ce := configErr(err)
				if ce == nil || ce.Kind != tc.kind {
					t.Fatalf("got %v, want a ConfigError of kind %d", err, tc.kind)
				}
				if strings.Contains(err.Error(), configSecret) {
					t.Fatalf("error holds the sensitive value: %v", err)
				}
				if tc.check != nil {
					tc.check(t, ce)
				}
				if got := revision(t, f, "alice"); got != rev {
					t.Fatalf("a refused write moved the revision from %d to %d", rev, got)
				}
			})
		}
		uc, err := f.reg.ReadUserConfig(ctx, "alice", true)
		if err != nil {
			t.Fatal(err)
		}
		if v := valueOf(t, uc, "data.region"); v.Source != registry.SourceDefault {
			t.Fatalf("a refused write changed data.region: %+v", v)
		}
	})
}

func wantIn(t *testing.T, s, part string) {
	t.Helper()
	if !strings.Contains(s, part) {
		t.Fatalf("%q does not say %q", s, part)
	}
}

func TestReadUserConfig(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f)
		t.Run("defaults for a user without values", func(t *testing.T) {
			uc, err := f.reg.ReadUserConfig(ctx, "nobody", false)
			if err != nil {
				t.Fatal(err)
			}
			if uc.User != "nobody" || uc.Revision != 4 || len(uc.Values) != 4 {
				t.Fatalf("got %+v, want 4 defaults at revision 4 (one per setting declared)", uc)
			}
			if v := valueOf(t, uc, "data.region"); string(v.Value) != `"us"` || v.Source != registry.SourceDefault || v.ManagedBy != "" {
				t.Fatalf("data.region = %+v", v)
			}
			if v := valueOf(t, uc, "ui.beta"); v.Source != registry.SourceEnforced {
				t.Fatalf("ui.beta = %+v, want enforced", v)
			}
		})
		w, err := f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", AllowSensitive: true,
			Set: map[string]json.RawMessage{"data.region": raw(`"eu"`), "smtp.password": raw(`"` + configSecret + `"`)}})
		if err != nil {
			t.Fatal(err)
		}
		if v := valueOf(t, w, "smtp.password"); v.Value != nil || !v.Sensitive {
			t.Fatalf("the write returned the sensitive value opened: %+v", v)
		}
		if err := f.reg.SetManagedUserValues(ctx, "alice", map[string]json.RawMessage{"session.timeout_minutes": raw(`30`)}); err != nil {
			t.Fatal(err)
		}
		noKey := registry.New(f.st, nil, registry.WithClock(f.clock.Now))
		cases := []struct {
			name      string
			reg       *registry.Registry
			open      bool
			key       string
			value     string // "" for nil
			source    string
			sealed    bool
			managedBy string
			sensitive bool
		}{
			{"own value", f.reg, false, "data.region", `"eu"`, registry.SourceUser, false, "", false},
			{"managed value", f.reg, false, "session.timeout_minutes", `30`, registry.SourceUser, false, registry.ManagedByTerraform, false},
			{"sensitive hidden", f.reg, false, "smtp.password", "", registry.SourceUser, false, "", true},
			{"sensitive opened", f.reg, true, "smtp.password", `"` + configSecret + `"`, registry.SourceUser, false, "", true},
			{"sensitive without a key", noKey, true, "smtp.password", "", registry.SourceUser, true, "", true},
			{"plain without a key", noKey, true, "data.region", `"eu"`, registry.SourceUser, false, "", false},
			{"enforced", f.reg, true, "ui.beta", `false`, registry.SourceEnforced, false, "", false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				uc, err := tc.reg.ReadUserConfig(ctx, "alice", tc.open)
				if err != nil {
					t.Fatal(err)
				}
				v := valueOf(t, uc, tc.key)
				if string(v.Value) != tc.value || v.Source != tc.source || v.Sealed != tc.sealed || v.ManagedBy != tc.managedBy || v.Sensitive != tc.sensitive {
					t.Fatalf("got %+v (value %s), want value %s source %s sealed %v managed_by %q sensitive %v",
						v, v.Value, tc.value, tc.source, tc.sealed, tc.managedBy, tc.sensitive)
				}
			})
		}
		if _, err := f.reg.ReadUserConfig(ctx, "", false); configErr(err) == nil || configErr(err).Kind != registry.ConfigBadUser {
			t.Fatalf("empty user: %v, want ConfigBadUser", err)
		}
	})
}

// TestManagedUserValues: a tokenward_user_config resource changes only the
// keys it declares, and the API only the others.
func TestManagedUserValues(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f)
		managed := func(vals map[string]json.RawMessage) {
			t.Helper()
			if err := f.reg.SetManagedUserValues(ctx, "alice", vals); err != nil {
				t.Fatal(err)
			}
		}
		apiSet := func(key, v string) error {
			_, err := f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{key: raw(v)}})
			return err
		}
		state := func() string {
			t.Helper()
			uc, err := f.reg.ReadUserConfig(ctx, "alice", true)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, v := range uc.Values {
				if v.Source == registry.SourceUser {
					parts = append(parts, fmt.Sprintf("%s=%s/%s", v.Key, v.Value, v.ManagedBy))
				}
			}
			return strings.Join(parts, " ")
		}
		managed(map[string]json.RawMessage{"session.timeout_minutes": raw(`30`)})
		if err := apiSet("data.region", `"eu"`); err != nil {
			t.Fatalf("an API write to a key the resource does not declare: %v", err)
		}
		if err := apiSet("session.timeout_minutes", `60`); configErr(err) == nil || configErr(err).Kind != registry.ConfigManaged {
			t.Fatalf("an API write to a managed key: %v, want ConfigManaged", err)
		}
		if got, want := state(), `data.region="eu"/ session.timeout_minutes=30/terraform`; got != want {
			t.Fatalf("after the API write: %s, want %s", got, want)
		}
		// The resource now declares data.region too: it takes it over.
		managed(map[string]json.RawMessage{"session.timeout_minutes": raw(`45`), "data.region": raw(`"us"`)})
		if got, want := state(), `data.region="us"/terraform session.timeout_minutes=45/terraform`; got != want {
			t.Fatalf("after the resource declared data.region: %s, want %s", got, want)
		}
		// It drops session.timeout_minutes: that key goes, and is free again.
		managed(map[string]json.RawMessage{"data.region": raw(`"us"`)})
		if err := apiSet("session.timeout_minutes", `90`); err != nil {
			t.Fatalf("an API write to a key no longer managed: %v", err)
		}
		if got, want := state(), `data.region="us"/terraform session.timeout_minutes=90/`; got != want {
			t.Fatalf("after the resource dropped a key: %s, want %s", got, want)
		}
		// The CLI's write keeps a managed key managed: the next apply sets it back.
		if err := f.reg.UpdateUserValues(ctx, "alice", map[string]json.RawMessage{"data.region": raw(`"eu"`)}, nil); err != nil {
			t.Fatal(err)
		}
		got, err := f.reg.ManagedUserValues(ctx, "alice")
		if err != nil || len(got) != 1 || string(got["data.region"]) != `"eu"` {
			t.Fatalf("managed values after the CLI's write: %v %v", got, err)
		}
		// Destroying the resource removes only its keys.
		managed(nil)
		if got, want := state(), `session.timeout_minutes=90/`; got != want {
			t.Fatalf("after destroy: %s, want %s", got, want)
		}
		if err := f.reg.SetManagedUserValues(ctx, "alice", map[string]json.RawMessage{"ui.beta": raw(`true`)}); err == nil {
			t.Fatal("the resource set a value of a setting that is not user_editable")
		}
	})
}

// TestConfigRevision: a user's revision moves with every change of their
// effective configuration, and only then.
func TestConfigRevision(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f)
		write := func(user string, set map[string]json.RawMessage, unset ...string) {
			t.Helper()
			if _, err := f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: user, Set: set, Unset: unset, AllowSensitive: true}); err != nil {
				t.Fatal(err)
			}
		}
		steps := []struct {
			name       string
			do         func()
			alice, bob bool // whose revision moves
		}{
			{"alice's own value", func() { write("alice", map[string]json.RawMessage{"data.region": raw(`"eu"`)}) }, true, false},
			{"the same value again", func() { write("alice", map[string]json.RawMessage{"data.region": raw(`"eu"`)}) }, false, false},
			{"bob's own value", func() { write("bob", map[string]json.RawMessage{"data.region": raw(`"eu"`)}) }, false, true},
			{"a default changes", func() {
				if err := f.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "session.timeout_minutes", Type: registry.TypeNumber, Default: raw(`20`), UserEditable: true,
					Constraints: store.Constraints{Min: ptr(5), Max: ptr(120)}}); err != nil {
					t.Fatal(err)
				}
			}, true, true},
			{"a setting becomes sensitive", func() {
				if err := f.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "data.region", Type: registry.TypeString, Default: raw(`"us"`), UserEditable: true, Sensitive: true}); err != nil {
					t.Fatal(err)
				}
			}, true, true},
			{"a setting is declared", func() {
				if err := f.reg.CreateSetting(ctx, registry.SettingSpec{Key: "ui.font", Type: registry.TypeString, Default: raw(`"serif"`), UserEditable: true}); err != nil {
					t.Fatal(err)
				}
			}, true, true},
			{"a setting is deleted", func() {
				if err := f.reg.DeleteSetting(ctx, "ui.font"); err != nil {
					t.Fatal(err)
				}
			}, true, true},
			{"the CLI sets a value", func() {
				if err := f.reg.UpdateUserValues(ctx, "bob", map[string]json.RawMessage{"session.timeout_minutes": raw(`50`)}, nil); err != nil {
					t.Fatal(err)
				}
			}, false, true},
			{"the CLI removes it", func() {
				if err := f.reg.UpdateUserValues(ctx, "bob", nil, []string{"session.timeout_minutes"}); err != nil {
					t.Fatal(err)
				}
			}, false, true},
			{"the resource declares a value", func() {
				if err := f.reg.SetManagedUserValues(ctx, "alice", map[string]json.RawMessage{"session.timeout_minutes": raw(`30`)}); err != nil {
					t.Fatal(err)
				}
			}, true, false},
			{"the resource declares the same again", func() {
				if err := f.reg.SetManagedUserValues(ctx, "alice", map[string]json.RawMessage{"session.timeout_minutes": raw(`30`)}); err != nil {
					t.Fatal(err)
				}
			}, false, false},
			{"the API unsets a value", func() { write("alice", nil, "data.region") }, true, false},
			{"the API unsets a value already gone", func() { write("alice", nil, "data.region") }, false, false},
		}
		for _, s := range steps {
			a0, b0 := revision(t, f, "alice"), revision(t, f, "bob")
			s.do()
			a1, b1 := revision(t, f, "alice"), revision(t, f, "bob")
			if (a1 > a0) != s.alice || (b1 > b0) != s.bob || a1 < a0 || b1 < b0 {
				t.Fatalf("%s: alice %d→%d, bob %d→%d; want alice moved=%v, bob moved=%v", s.name, a0, a1, b0, b1, s.alice, s.bob)
			}
		}
	})
}

func TestConfigChangeLog(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f) // seq 1..4
		if _, err := f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", AllowSensitive: true,
			Set: map[string]json.RawMessage{"data.region": raw(`"eu"`), "smtp.password": raw(`"` + configSecret + `"`)}}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
		if err := f.reg.SetManagedUserValues(ctx, "bob", map[string]json.RawMessage{"session.timeout_minutes": raw(`30`)}); err != nil {
			t.Fatal(err)
		}
		all, err := f.reg.ConfigChanges(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range all {
			got = append(got, fmt.Sprintf("%d:%s:%s", c.Seq, c.User, strings.Join(c.Keys, ",")))
		}
		want := []string{"1::data.region", "2::session.timeout_minutes", "3::smtp.password", "4::ui.beta",
			"5:alice:data.region,smtp.password", "6:bob:session.timeout_minutes"}
		if !slices.Equal(got, want) {
			t.Fatalf("change log = %v, want %v", got, want)
		}
		if page, err := f.reg.ConfigChanges(ctx, 4, 1); err != nil || len(page) != 1 || page[0].Seq != 5 || !page[0].At.Equal(all[4].At) {
			t.Fatalf("ConfigChanges(4, 1) = %+v, %v", page, err)
		}
		if oldest, head, err := f.reg.ConfigChangeWindow(ctx); err != nil || oldest != 1 || head != 6 {
			t.Fatalf("window = %d..%d, %v; want 1..6", oldest, head, err)
		}
		aliceRev := revision(t, f, "alice")

		// A day later, the next change prunes what is older than the window.
		f.clock.Advance(registry.ConfigChangeKeep - time.Hour + time.Second)
		if _, err := f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "carol", Set: map[string]json.RawMessage{"data.region": raw(`"eu"`)}}); err != nil {
			t.Fatal(err)
		}
		if oldest, head, err := f.reg.ConfigChangeWindow(ctx); err != nil || oldest != 6 || head != 7 {
			t.Fatalf("window after pruning = %d..%d, %v; want 6..7 (the entries of the first hour pruned)", oldest, head, err)
		}
		if left, err := f.reg.ConfigChanges(ctx, 0, 100); err != nil || len(left) != 2 || left[0].Seq != 6 {
			t.Fatalf("entries after pruning: %+v, %v", left, err)
		}
		if got := revision(t, f, "alice"); got != aliceRev {
			t.Fatalf("alice's revision after pruning = %d, want %d: it must outlive the log", got, aliceRev)
		}
		f.clock.Advance(2 * registry.ConfigChangeKeep)
		if err := f.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "ui.beta", Type: registry.TypeBool, Default: raw(`true`)}); err != nil {
			t.Fatal(err)
		}
		if oldest, head, err := f.reg.ConfigChangeWindow(ctx); err != nil || oldest != 8 || head != 8 {
			t.Fatalf("window = %d..%d, %v; want 8..8", oldest, head, err)
		}
		if got := revision(t, f, "alice"); got != 8 {
			t.Fatalf("alice's revision after a default changed = %d, want 8", got)
		}
		for _, c := range all {
			if strings.Contains(strings.Join(c.Keys, ","), configSecret) {
				t.Fatal("the change log holds the sensitive value")
			}
		}
		if _, err := f.reg.ConfigChanges(ctx, 0, 0); err == nil {
			t.Fatal("limit 0 accepted")
		}
	})
}

// TestWriteUserConfigIfMatchRace: writers holding the same revision race;
// exactly one wins, the others learn the new revision.
func TestWriteUserConfigIfMatchRace(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f)
		rev := revision(t, f, "alice")
		const writers = 8
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Go(func() {
				<-start
				_, errs[i] = f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", IfMatch: true, IfRevision: rev,
					Set: map[string]json.RawMessage{"session.timeout_minutes": raw(fmt.Sprint(10 + i))}})
			})
		}
		close(start)
		wg.Wait()
		won, now := 0, revision(t, f, "alice")
		for i, err := range errs {
			switch ce := configErr(err); {
			case err == nil:
				won++
			case ce != nil && ce.Kind == registry.ConfigRevisionMoved && ce.Revision == now:
			default:
				t.Errorf("writer %d: %v, want success or ConfigRevisionMoved at %d", i, err, now)
			}
		}
		if won != 1 || now != rev+1 {
			t.Fatalf("%d writers won, revision %d→%d; want exactly one and one change", won, rev, now)
		}
	})
}

// TestConfigAudit: every write, refused or not, and every read of a
// sensitive value is an audit event naming caller, user, keys and source
// address; none holds the value.
func TestConfigAudit(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f)
		access := registry.ConfigAccess{Caller: "billing-app", SourceIP: "192.0.2.9"}
		if _, err := f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", AllowSensitive: true, Access: access,
			Set: map[string]json.RawMessage{"smtp.password": raw(`"` + configSecret + `"`)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", Access: access,
			Set: map[string]json.RawMessage{"smtp.password": raw(`"` + configSecret + `x"`)}}); configErr(err) == nil {
			t.Fatalf("sensitive write without the scope: %v", err)
		}
		read := access
		read.User, read.Keys = "alice", []string{"smtp.password"}
		if err := f.reg.AuditConfigRead(ctx, read); err != nil {
			t.Fatal(err)
		}
		events := storetest.AuditChain(t, f.st)
		var got []string
		for _, e := range events {
			body, _ := json.Marshal(e)
			if strings.Contains(string(body), configSecret) {
				t.Fatalf("audit event %d holds the sensitive value: %s", e.Seq, body)
			}
			if !strings.HasPrefix(e.Action, "user_config.") {
				continue
			}
			d := e.Details
			got = append(got, fmt.Sprintf("%s %s %s %s caller=%s keys=%s ip=%s", e.Action, e.Outcome, e.Actor, e.Subject, d["caller"], d["keys"], d["source_ip"]))
		}
		want := []string{
			"user_config.write success token/billing-app user/alice caller=billing-app keys=smtp.password ip=192.0.2.9",
			"user_config.write failure token/billing-app user/alice caller=billing-app keys=smtp.password ip=192.0.2.9",
			"user_config.read_sensitive success token/billing-app user/alice caller=billing-app keys=smtp.password ip=192.0.2.9",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("audit events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func TestBuiltInScopesGrantedOneByOne(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		cases := []struct {
			name  string
			scope string
			ok    bool
		}{
			{"wildcard", "tokenward:*", false},
			{"not a built-in", "tokenward:admin", false},
			{"a built-in", registry.ScopeConfigRead, true},
			{"a privileged built-in", registry.ScopeConfigWriteSensitive, true},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for what, grant := range map[string]func() error{
					"token": func() error {
						_, err := f.reg.CreateToken(ctx, registry.TokenSpec{Name: fmt.Sprintf("t%d", i), Scopes: []string{tc.scope}, Lifetime: lifetime})
						return err
					},
					"role": func() error {
						_, err := f.reg.CreateRole(ctx, registry.RoleSpec{Name: fmt.Sprintf("r%d", i), Scopes: []string{tc.scope}})
						return err
					},
				} {
					err := grant()
					if tc.ok {
						if err != nil {
							t.Fatalf("%s granting %s: %v", what, tc.scope, err)
						}
						continue
					}
					var ie *registry.InvalidError
					if !errors.As(err, &ie) || ie.Field != "scopes" || !strings.Contains(ie.Reason, "one by one") || !strings.Contains(ie.Reason, registry.ScopeConfigRead) {
						t.Fatalf("%s granting %s: %v, want an InvalidError on scopes saying to grant the built-in scopes one by one", what, tc.scope, err)
					}
				}
			})
		}
	})
}

// TestManagedMarkSurvives: re-sealing a value (a setting turned sensitive,
// a rekey) keeps it managed, so the API still refuses it.
func TestManagedMarkSurvives(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f)
		if err := f.reg.SetManagedUserValues(ctx, "alice", map[string]json.RawMessage{"data.region": raw(`"eu"`), "smtp.password": raw(`"` + configSecret + `"`)}); err != nil {
			t.Fatal(err)
		}
		if err := f.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "data.region", Type: registry.TypeString, Default: raw(`"us"`), UserEditable: true, Sensitive: true}); err != nil {
			t.Fatal(err)
		}
		rotated := registry.New(f.st, seal.NewKeyring(sealtest.Key(t), f.key), registry.WithClock(f.clock.Now))
		if n, err := rotated.Rekey(ctx); err != nil || n != 4 {
			t.Fatalf("rekey: %d values, %v; want 4 (two defaults, two values)", n, err)
		}
		for _, key := range []string{"data.region", "smtp.password"} {
			_, err := rotated.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", AllowSensitive: true, Set: map[string]json.RawMessage{key: raw(`"another-value"`)}})
			if ce := configErr(err); ce == nil || ce.Kind != registry.ConfigManaged {
				t.Fatalf("%s after it was resealed: %v, want ConfigManaged", key, err)
			}
		}
		got, err := rotated.ManagedUserValues(ctx, "alice")
		if err != nil || len(got) != 2 || string(got["data.region"]) != `"eu"` {
			t.Fatalf("managed values: %v, %v", got, err)
		}
	})
}

// TestRefusedWriteAuditIsBounded: a refused write of thousands of made-up
// keys is one audit event that names at most 32 of them and counts them
// all (the outside review appended 28 kB to the chain with one request).
func TestRefusedWriteAuditIsBounded(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		declareConfig(t, f)
		set := map[string]json.RawMessage{}
		for i := range 4000 {
			set[fmt.Sprintf("k%05d", i)] = raw(`1`)
		}
		if _, err := f.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", Set: set,
			Access: registry.ConfigAccess{Caller: "probe", SourceIP: "192.0.2.9"}}); configErr(err) == nil {
			t.Fatalf("a write of unknown keys: %v", err)
		}
		events := storetest.AuditChain(t, f.st)
		e := events[len(events)-1]
		if e.Action != "user_config.write" || e.Outcome != audit.Failure {
			t.Fatalf("last event %+v, want the refused write", e)
		}
		if n := len(strings.Split(e.Details["keys"], ",")); n > 32 || e.Details["keys_count"] != "4000" {
			t.Fatalf("the refused write's event names %d keys (keys_count %q), want at most 32 and a count of 4000", n, e.Details["keys_count"])
		}
	})
}
