package registry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// TestLongNamesAreCut: an error about a 5,000-character name quotes only
// its start and states the limit, for every name the registry checks.
func TestLongNamesAreCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 5000)
	cases := []struct {
		name  string
		check func() error
		field string
	}{
		{"token or role name", func() error { return registry.CheckName("name", long) }, "name"},
		{"scope", func() error { return registry.CheckScopeName(long + ":read") }, "name"},
		{"setting key", func() error { return registry.CheckSetting(registry.SettingSpec{Key: long, Type: registry.TypeString}) }, "key"},
		{"setting type", func() error { return registry.CheckSetting(registry.SettingSpec{Key: "a.b", Type: long}) }, "type"},
		{"scope of a role", func() error {
			_, err := (*registry.Registry)(nil).CreateRole(t.Context(), registry.RoleSpec{Name: "r", Scopes: []string{long + ":read"}})
			return err
		}, "scopes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			var ie *registry.InvalidError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("err = %v, want an InvalidError on %s", err, tc.field)
			}
			if len(err.Error()) > 300 || !strings.Contains(err.Error(), "…") {
				t.Errorf("the error (%d bytes) echoes the long value instead of cutting it: %.200s", len(err.Error()), err)
			}
			if tc.field != "type" && !strings.Contains(err.Error(), "at most 128") {
				t.Errorf("the error does not state the limit: %s", err)
			}
		})
	}
}
