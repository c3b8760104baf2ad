package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// resourceBase is embedded by every resource. It supplies Configure, which
// keeps the provider's data; ImportState, which imports a record by its
// name after checking the name; and the one diagnostic for a record that
// exists already. Metadata and Schema stay in each resource's file.
type resourceBase struct {
	data *providerData // nil until the provider is configured
	id   importID
}

// importID says what a resource's import id is: the name of its record.
type importID struct {
	what    string             // the record, as diagnostics say it: "token"
	by      string             // what the id is: "name", "key", "user id"
	attr    string             // the attribute that holds the name besides id: "name"
	example string             // an id, such as "ci-deploy"
	check   func(string) error // reports an id that cannot be a name
}

func (b *resourceBase) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	b.data = configured(req.ProviderData, &resp.Diagnostics)
}

// ImportState imports a record by its name, which it checks first.
func (b *resourceBase) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if !b.validImportID(req.ID, &resp.Diagnostics) {
		return
	}
	b.importAs(ctx, req.ID, resp)
}

// validImportID reports whether id can name the resource's record, and
// adds a diagnostic that says what it must be when it cannot.
func (b *resourceBase) validImportID(id string, diags *diag.Diagnostics) bool {
	if err := b.id.check(id); err != nil {
		diags.AddError("Invalid import id", fmt.Sprintf("Import a %s by its %s, such as %s: %s", b.id.what, b.id.by, b.id.example, err))
		return false
	}
	return true
}

// importAs sets the imported state's id and name to id; Read fills in the
// rest from the store.
func (b *resourceBase) importAs(ctx context.Context, id string, resp *resource.ImportStateResponse) {
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(b.id.attr), id)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
}

// addExists says that a record named name is in the store already, and
// that it can be imported.
func (b *resourceBase) addExists(diags *diag.Diagnostics, name string) {
	what := b.id.what
	diags.AddAttributeError(path.Root(b.id.attr), strings.ToUpper(what[:1])+what[1:]+" already exists",
		fmt.Sprintf("A %s named %s exists in the tokenward store already. Import it (terraform import <address> %s) or choose another name.", what, name, name))
}

// policy is the provider's policy; empty before the provider is configured.
func (b *resourceBase) policy() policy.Policy {
	if b.data == nil {
		return policy.Policy{}
	}
	return b.data.policy
}

// checkSettingKey reports a key no setting can have: the key rules of
// registry.CheckSetting, checked on a setting that is otherwise valid.
func checkSettingKey(key string) error {
	err := registry.CheckSetting(registry.SettingSpec{Key: key, Type: registry.TypeString, Default: json.RawMessage(`""`)})
	var ie *registry.InvalidError
	if errors.As(err, &ie) && ie.Field == "key" {
		return err
	}
	return nil
}
