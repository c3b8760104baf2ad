package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// fakeConfig is an in-memory ConfigStore with the registry's rules: the
// settings' types and constraints (registry.CheckValue), user_editable,
// values managed by Terraform, sensitive writes, If-Match, a change log
// with a store-wide sequence, and audit records of reads and writes. The
// HTTP tests run against it, and against the registry itself where they
// need a store (config_registry_test.go).
type fakeConfig struct {
	mu       sync.Mutex
	settings map[string]registry.SettingSpec
	values   map[string]map[string]json.RawMessage // user → key → value
	managed  map[string]map[string]string          // user → key → the resource declaring it
	userRev  map[string]int64                      // user → seq of their last change
	setRev   int64                                 // seq of the last change of a setting
	seq      int64
	changes  []registry.ConfigChange
	audits   []registry.ConfigAccess
	reads    int
	noKey    bool
	fail     error // every call fails with it
}

func newFakeConfig(specs ...registry.SettingSpec) *fakeConfig {
	f := &fakeConfig{settings: map[string]registry.SettingSpec{}, values: map[string]map[string]json.RawMessage{},
		managed: map[string]map[string]string{}, userRev: map[string]int64{}}
	for _, sp := range specs {
		f.settings[sp.Key] = sp
	}
	return f
}

// setDefault changes a setting's default, as a Terraform apply does.
func (f *fakeConfig) setDefault(key string, v json.RawMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sp := f.settings[key]
	sp.Default = v
	f.settings[key] = sp
	f.seq++
	f.setRev = f.seq
	f.changes = append(f.changes, registry.ConfigChange{Seq: f.seq, Keys: []string{key}})
}

func (f *fakeConfig) revision(user string) int64 { return max(f.userRev[user], f.setRev) }

func (f *fakeConfig) ReadUserConfig(_ context.Context, user string, open bool) (registry.UserConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return registry.UserConfig{}, f.fail
	}
	f.reads++
	uc := registry.UserConfig{User: user, Revision: f.revision(user)}
	keys := make([]string, 0, len(f.settings))
	for k := range f.settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sp := f.settings[k]
		v := registry.ConfigValue{Key: k, Value: sp.Default, Source: registry.SourceDefault, Sensitive: sp.Sensitive}
		if !sp.UserEditable {
			v.Source = registry.SourceEnforced
		} else if own, ok := f.values[user][k]; ok {
			v.Value, v.Source = own, registry.SourceUser
		}
		if f.managed[user][k] != "" {
			v.ManagedBy = registry.ManagedByTerraform
		}
		if sp.Sensitive && (!open || f.noKey) {
			v.Value, v.Sealed = nil, open && f.noKey
		}
		uc.Values = append(uc.Values, v)
	}
	return uc, nil
}

func (f *fakeConfig) check(w registry.ConfigWrite, key string) error {
	sp, ok := f.settings[key]
	switch {
	case !ok:
		return &registry.ConfigError{Kind: registry.ConfigUnknownKey, Key: key}
	case !sp.UserEditable:
		return &registry.ConfigError{Kind: registry.ConfigNotEditable, Key: key}
	case f.managed[w.User][key] != "":
		return &registry.ConfigError{Kind: registry.ConfigManaged, Key: key, Resource: f.managed[w.User][key]}
	case sp.Sensitive && !w.AllowSensitive:
		return &registry.ConfigError{Kind: registry.ConfigSensitiveDenied, Key: key}
	case sp.Sensitive && f.noKey:
		return &registry.ConfigError{Kind: registry.ConfigNoMasterKey, Key: key}
	}
	if v, set := w.Set[key]; set {
		if err := registry.CheckValue(sp, v); err != nil {
			var ie *registry.InvalidError
			if errors.As(err, &ie) {
				return &registry.ConfigError{Kind: registry.ConfigInvalid, Key: key, Rule: ie.Reason}
			}
			return err
		}
	}
	return nil
}

func (f *fakeConfig) WriteUserConfig(ctx context.Context, w registry.ConfigWrite) (registry.UserConfig, error) {
	f.mu.Lock()
	if f.fail != nil {
		f.mu.Unlock()
		return registry.UserConfig{}, f.fail
	}
	if w.IfMatch && w.IfRevision != f.revision(w.User) {
		rev := f.revision(w.User)
		f.mu.Unlock()
		return registry.UserConfig{}, &registry.ConfigError{Kind: registry.ConfigRevisionMoved, Revision: rev}
	}
	var keys []string
	for k := range w.Set {
		keys = append(keys, k)
	}
	keys = append(keys, w.Unset...)
	sort.Strings(keys)
	for _, k := range keys {
		if err := f.check(w, k); err != nil {
			f.mu.Unlock()
			return registry.UserConfig{}, err
		}
	}
	if f.values[w.User] == nil {
		f.values[w.User] = map[string]json.RawMessage{}
	}
	for k, v := range w.Set {
		f.values[w.User][k] = v
	}
	for _, k := range w.Unset {
		delete(f.values[w.User], k)
	}
	f.seq++
	f.userRev[w.User] = f.seq
	f.changes = append(f.changes, registry.ConfigChange{Seq: f.seq, User: w.User, Keys: keys})
	f.audits = append(f.audits, w.Access)
	f.mu.Unlock()
	return f.ReadUserConfig(ctx, w.User, false)
}

func (f *fakeConfig) AuditConfigRead(_ context.Context, a registry.ConfigAccess) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.audits = append(f.audits, a)
	return nil
}

func (f *fakeConfig) ConfigChanges(_ context.Context, after int64, limit int) ([]registry.ConfigChange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []registry.ConfigChange
	for _, c := range f.changes {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeConfig) ConfigChangeWindow(context.Context) (int64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, 0, f.fail
	}
	return 0, f.seq, nil
}

func (f *fakeConfig) Settings(context.Context) ([]registry.SettingSpec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []registry.SettingSpec
	for _, sp := range f.settings {
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (f *fakeConfig) auditLog() []registry.ConfigAccess {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]registry.ConfigAccess(nil), f.audits...)
}

func (f *fakeConfig) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}
