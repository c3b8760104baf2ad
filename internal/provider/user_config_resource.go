package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

var (
	_ resource.ResourceWithConfigure      = (*userConfigResource)(nil)
	_ resource.ResourceWithImportState    = (*userConfigResource)(nil)
	_ resource.ResourceWithValidateConfig = (*userConfigResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*userConfigResource)(nil)
)

// userConfigResource holds one user's own values of settings, kept apart
// from the settings' defaults. Values of sensitive settings are write-only,
// as the default of a sensitive tokenward_setting is.
type userConfigResource struct {
	resourceBase
}

func newUserConfigResource() resource.Resource {
	return &userConfigResource{resourceBase{id: importID{what: "user_config", by: "user id", attr: "user", example: "alice@example.com", check: registry.CheckUser}}}
}

type userConfigResourceModel struct {
	ID                      types.String  `tfsdk:"id"`
	User                    types.String  `tfsdk:"user"`
	Values                  types.Dynamic `tfsdk:"values"`
	SensitiveValues         types.Dynamic `tfsdk:"sensitive_values"`
	SensitiveKeys           types.Set     `tfsdk:"sensitive_keys"`
	SensitiveValuesRevision types.Int64   `tfsdk:"sensitive_values_revision"`
}

func (r *userConfigResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_user_config"
}

func (r *userConfigResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "One user's own values of settings, which replace the settings' defaults in the user's " +
			"effective configuration (see the `tokenward_user_config` data source). The resource manages the keys it " +
			"declares and only those: `tokenward serve`'s configuration API refuses to change them (409, naming this " +
			"resource), a change made to them outside Terraform is set back on the next apply, and destroying the " +
			"resource removes them. The user's values of other keys, written through the API or `tokenward config set`, " +
			"are left alone.\n\n" +
			"Each value is checked against its `tokenward_setting` (type, constraints, `user_editable`) at plan time " +
			"when the setting exists already, and at apply when it is created in the same apply.\n\n" +
			"Values of sensitive settings go in `sensitive_values`, which is write-only like a setting's " +
			"`sensitive_default`: never in state or plans, Terraform 1.11 or later. State keeps only their keys " +
			"(`sensitive_keys`) and a revision that goes up when a value changes.\n\n" +
			"Import by user id: `terraform import tokenward_user_config.alice alice@example.com`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The user id.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"user": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The user whose values these are: 1 to 256 printable characters, such as " +
					"`alice@example.com`. Changing it replaces the resource.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"values": schema.DynamicAttribute{
				Optional: true,
				MarkdownDescription: "The user's values of settings that are not sensitive, keyed by setting key, each a " +
					"plain value of the setting's type: `{ \"session.timeout_minutes\" = 30, \"ui.theme\" = \"dark\" }`. " +
					"Every key must name a setting with `user_editable = true`.",
			},
			"sensitive_values": schema.DynamicAttribute{
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
				MarkdownDescription: "The user's values of sensitive settings, written like `values`: " +
					"`{ \"smtp.password\" = var.alice_smtp_password }`. Write-only: sealed in the store, never kept in " +
					"Terraform state or shown in a plan. Needs Terraform 1.11 or later.",
			},
			"sensitive_keys": schema.SetAttribute{
				Computed:            true,
				ElementType:         types.StringType,
				MarkdownDescription: "The keys of the user's sensitive values, without the values.",
			},
			"sensitive_values_revision": schema.Int64Attribute{
				Computed: true,
				MarkdownDescription: "How many times this resource has written changed sensitive values: it goes up by " +
					"one in a plan when `sensitive_values` differ from the values in the store, so a change shows " +
					"without showing a value. `0` when the user has none.",
			},
		},
	}
}

var userConfigFields = errorFields{fields: map[string]path.Path{"user": path.Root("user"), "values": path.Root("values")}}

// valueMap returns the keys and JSON values of an object of values; nil
// for null. It returns errUnknown when anything in it is unknown.
func valueMap(v types.Dynamic) (map[string]json.RawMessage, error) {
	if v.IsNull() || v.IsUnderlyingValueNull() {
		return nil, nil
	}
	if !known(v) {
		return nil, errUnknown
	}
	var elems map[string]attr.Value
	switch u := v.UnderlyingValue().(type) {
	case basetypes.ObjectValue:
		elems = u.Attributes()
	case basetypes.MapValue:
		elems = u.Elements()
	default:
		return nil, fmt.Errorf("must be an object of setting key = value, such as { \"ui.theme\" = \"dark\" }")
	}
	out := make(map[string]json.RawMessage, len(elems))
	for k, e := range elems {
		raw, err := jsonFromValue(e)
		if err != nil {
			return nil, fmt.Errorf("setting %s: %w", k, err)
		}
		out[k] = raw
	}
	return out, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ValidateConfig checks what needs no store: the user id, the shape of
// values and sensitive_values, and that no key is in both.
func (r *userConfigResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m userConfigResourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.User.IsNull() && !m.User.IsUnknown() {
		if err := registry.CheckUser(m.User.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("user"), "Invalid user", err.Error())
		}
	}
	values, verr := valueMap(m.Values)
	if verr != nil && !errors.Is(verr, errUnknown) {
		resp.Diagnostics.AddAttributeError(path.Root("values"), "Invalid values", "values "+verr.Error()+".")
	}
	secret, serr := valueMap(m.SensitiveValues)
	if serr != nil && !errors.Is(serr, errUnknown) {
		// The error names a key at most, never a value.
		resp.Diagnostics.AddAttributeError(path.Root("sensitive_values"), "Invalid sensitive_values", "sensitive_values "+serr.Error()+".")
	}
	for _, k := range sortedKeys(secret) {
		if _, both := values[k]; both {
			resp.Diagnostics.AddAttributeError(path.Root("sensitive_values"), "Setting given twice",
				"Setting "+k+" is in both values and sensitive_values: keep it in sensitive_values if the setting is sensitive, in values otherwise.")
		}
	}
}

// checkValues checks each value against its setting, as far as the settings
// exist: a missing setting is skipped when skipMissing (it may be created in
// the same apply) and an error otherwise. Errors name the key, never a value.
func (r *userConfigResource) checkValues(ctx context.Context, values, secret map[string]json.RawMessage, skipMissing bool, diags *diag.Diagnostics) {
	check := func(attribute string, vals map[string]json.RawMessage, sensitive bool) {
		p := path.Root(attribute)
		// Each error names the attribute and the key, never the value.
		fail := func(key, problem string) {
			diags.AddAttributeError(p, "Invalid "+attribute, fmt.Sprintf("%s[%q]: %s", attribute, key, problem))
		}
		for _, key := range sortedKeys(vals) {
			if len(key) > registry.MaxNameLength {
				diags.AddAttributeError(p, "Invalid "+attribute, fmt.Sprintf("%s[%s]: the key is %d characters long; a setting key is at most %d.",
					attribute, registry.Quote(key), len(key), registry.MaxNameLength))
				continue
			}
			spec, err := r.data.reg.Setting(ctx, key)
			switch {
			case notFound(err) && skipMissing:
				continue
			case notFound(err):
				fail(key, "there is no setting "+key+": declare it with a tokenward_setting resource, or remove the key.")
				continue
			case err != nil:
				fail(key, "cannot read the setting: "+err.Error())
				continue
			case !spec.UserEditable:
				fail(key, "setting "+key+" is not user_editable: its default is enforced for everyone. Remove the key, or make the setting user_editable.")
				continue
			case spec.Sensitive && !sensitive:
				fail(key, "setting "+key+" is sensitive, and a value in values would be written to Terraform state and shown in plans. Move it to sensitive_values, which is write-only (Terraform 1.11 or later).")
				continue
			case !spec.Sensitive && sensitive:
				fail(key, "setting "+key+" is not sensitive: move it to values, or declare the setting with sensitive = true.")
				continue
			}
			if err := registry.CheckValue(spec, vals[key]); err != nil {
				var ie *registry.InvalidError
				reason := err.Error()
				if errors.As(err, &ie) {
					reason = ie.Reason
				}
				fail(key, "the value "+reason+"; fix it to fit setting "+key+".")
			}
		}
	}
	check("values", values, false)
	check("sensitive_values", secret, true)
}

// ModifyPlan checks each value against its setting when the setting exists
// already, and plans sensitive_keys and sensitive_values_revision: the
// revision goes up by one when the configured sensitive values differ from
// those in the store.
func (r *userConfigResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan, state userConfigResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("sensitive_values"), &plan.SensitiveValues)...)
	create := req.State.Raw.IsNull()
	if !create {
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	values, _ := valueMap(plan.Values) // nil when unknown: checked at apply
	secret, serr := valueMap(plan.SensitiveValues)
	if r.data != nil {
		r.checkValues(ctx, values, secret, true, &resp.Diagnostics)
	}
	keys, revision := types.SetUnknown(types.StringType), types.Int64Unknown()
	if serr == nil {
		var diags diag.Diagnostics
		keys, diags = types.SetValueFrom(ctx, types.StringType, sortedKeys(secret))
		resp.Diagnostics.Append(diags...)
		switch {
		case create && len(secret) == 0:
			revision = types.Int64Value(0)
		case create:
			revision = types.Int64Value(1)
		case r.data != nil:
			prior := state.SensitiveValuesRevision.ValueInt64()
			revision = types.Int64Value(prior + 1)
			stored, err := r.data.reg.ManagedUserValues(ctx, state.ID.ValueString())
			if err != nil {
				resp.Diagnostics.AddError("Cannot read the values of user "+state.ID.ValueString(), err.Error())
				return
			}
			if sameSensitive(stored, secret, state.SensitiveKeys) && plan.User.Equal(state.User) {
				revision = types.Int64Value(prior)
			}
		}
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("sensitive_keys"), keys)...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("sensitive_values_revision"), revision)...)
}

// sameSensitive tells whether the store holds exactly the configured
// sensitive values under the keys state knows as sensitive.
func sameSensitive(stored, secret map[string]json.RawMessage, stateKeys types.Set) bool {
	held := 0
	for _, e := range stateKeys.Elements() {
		if s, ok := e.(types.String); ok {
			if _, ok := stored[s.ValueString()]; ok {
				held++
			}
		}
	}
	if held != len(secret) {
		return false
	}
	for k, v := range secret {
		s, ok := stored[k]
		if !ok || !sameJSON(s, v) {
			return false
		}
	}
	return true
}

// write stores the user's values as managed ones, replacing the managed
// values no longer declared and leaving the user's other values alone; the
// settings are checked again since some may have been created in this apply.
func (r *userConfigResource) write(ctx context.Context, plan, config interface {
	Get(context.Context, any) diag.Diagnostics
	GetAttribute(context.Context, path.Path, any) diag.Diagnostics
}, diags *diag.Diagnostics) (userConfigResourceModel, bool) {
	var m userConfigResourceModel
	diags.Append(plan.Get(ctx, &m)...)
	diags.Append(config.GetAttribute(ctx, path.Root("sensitive_values"), &m.SensitiveValues)...)
	if diags.HasError() {
		return m, false
	}
	values, err := valueMap(m.Values)
	if err != nil {
		diags.AddAttributeError(path.Root("values"), "Invalid values", "values "+err.Error()+".")
		return m, false
	}
	secret, err := valueMap(m.SensitiveValues)
	if err != nil {
		diags.AddAttributeError(path.Root("sensitive_values"), "Invalid sensitive_values", "sensitive_values "+err.Error()+".")
		return m, false
	}
	r.checkValues(ctx, values, secret, false, diags)
	if diags.HasError() {
		return m, false
	}
	all := make(map[string]json.RawMessage, len(values)+len(secret))
	for k, v := range values {
		all[k] = v
	}
	for k, v := range secret {
		all[k] = v
	}
	if err := r.data.reg.SetManagedUserValues(ctx, m.User.ValueString(), all); err != nil {
		addRegistryError(diags, "Cannot set the values of user "+m.User.ValueString(), err, userConfigFields)
		return m, false
	}
	keys, d := types.SetValueFrom(ctx, types.StringType, sortedKeys(secret))
	diags.Append(d...)
	m.ID, m.SensitiveValues, m.SensitiveKeys = m.User, types.DynamicNull(), keys
	return m, true
}

func (r *userConfigResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	if m, ok := r.write(ctx, req.Plan, req.Config, &resp.Diagnostics); ok {
		if m.SensitiveValuesRevision.IsUnknown() {
			// Planned unknown when sensitive_values were not known at plan.
			m.SensitiveValuesRevision = types.Int64Value(0)
			if len(m.SensitiveKeys.Elements()) > 0 {
				m.SensitiveValuesRevision = types.Int64Value(1)
			}
		}
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	}
}

func (r *userConfigResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	if m, ok := r.write(ctx, req.Plan, req.Config, &resp.Diagnostics); ok {
		if m.SensitiveValuesRevision.IsUnknown() {
			var prior types.Int64
			resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("sensitive_values_revision"), &prior)...)
			m.SensitiveValuesRevision = types.Int64Value(prior.ValueInt64() + 1)
		}
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	}
}

func (r *userConfigResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m userConfigResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	user := m.ID.ValueString()
	// Only the values this resource declares: those written through the
	// configuration API or the CLI under other keys are the user's own.
	stored, err := r.data.reg.ManagedUserValues(ctx, user)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the values of user "+user, err.Error())
		return
	}
	held, _ := valueMap(m.Values)
	hadValues := len(held) > 0 || len(m.SensitiveKeys.Elements()) > 0
	if len(stored) == 0 && hadValues {
		// Every value was removed outside Terraform: plan to create them again.
		resp.State.RemoveResource(ctx)
		return
	}
	plain := map[string]json.RawMessage{}
	var secretKeys []string
	for _, key := range sortedKeys(stored) {
		spec, err := r.data.reg.Setting(ctx, key)
		if err != nil {
			resp.Diagnostics.AddError("Cannot read setting "+key, err.Error())
			return
		}
		if spec.Sensitive {
			secretKeys = append(secretKeys, key)
		} else {
			plain[key] = stored[key]
		}
	}
	if len(plain) > 0 || !m.Values.IsNull() {
		raw, err := json.Marshal(plain)
		if err == nil {
			m.Values, err = keepIfSame(m.Values, raw)
		}
		if err != nil {
			resp.Diagnostics.AddError("Cannot read the values of user "+user, err.Error())
			return
		}
	}
	keys, diags := types.SetValueFrom(ctx, types.StringType, append([]string{}, secretKeys...))
	resp.Diagnostics.Append(diags...)
	m.User, m.SensitiveKeys, m.SensitiveValues = types.StringValue(user), keys, types.DynamicNull()
	if m.SensitiveValuesRevision.IsNull() {
		m.SensitiveValuesRevision = types.Int64Value(0)
		if len(secretKeys) > 0 {
			m.SensitiveValuesRevision = types.Int64Value(1)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *userConfigResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m userConfigResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// Only the managed values go: the user's own ones stay.
	if err := r.data.reg.SetManagedUserValues(ctx, m.ID.ValueString(), nil); err != nil {
		resp.Diagnostics.AddError("Cannot remove the values of user "+m.ID.ValueString(), err.Error())
	}
}

// ImportState imports the values of a user by user id; the user must hold
// at least one value.
func (r *userConfigResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if !r.validImportID(req.ID, &resp.Diagnostics) {
		return
	}
	if r.data != nil {
		stored, err := r.data.reg.UserValues(ctx, req.ID)
		if err != nil {
			resp.Diagnostics.AddError("Cannot read the values of user "+req.ID, err.Error())
			return
		}
		if len(stored) == 0 {
			resp.Diagnostics.AddError("Cannot import user "+req.ID,
				"User "+req.ID+" holds no values in the tokenward store: check the user id, or declare the values without importing.")
			return
		}
	}
	r.importAs(ctx, req.ID, resp)
}
