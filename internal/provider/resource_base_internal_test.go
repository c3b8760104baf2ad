package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
)

// TestImportChecksID: every resource refuses an import id that cannot be
// the name of its record, and says what it must be.
func TestImportChecksID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		new    func() resource.Resource
		bad    string
		saying string
	}{
		{"token", newTokenResource, "bad name", "Import a token by its name"},
		{"role", newRoleResource, "bad role", "Import a role by its name"},
		{"scope", newScopeResource, "Billing", "Import a scope by its name"},
		{"setting", newSettingResource, "Session-Timeout", "Import a setting by its key"},
		{"user_config", newUserConfigResource, "", "Import a user_config by its user id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, ok := guarded(tc.new)().(resource.ResourceWithImportState)
			if !ok {
				t.Fatal("the resource cannot be imported")
			}
			var resp resource.ImportStateResponse
			r.ImportState(context.Background(), resource.ImportStateRequest{ID: tc.bad}, &resp)
			if !resp.Diagnostics.HasError() {
				t.Fatalf("import of %q was accepted", tc.bad)
			}
			d := resp.Diagnostics.Errors()[0]
			if d.Summary() != "Invalid import id" || !strings.Contains(d.Detail(), tc.saying) {
				t.Fatalf("import of %q: %s: %s", tc.bad, d.Summary(), d.Detail())
			}
		})
	}
}
