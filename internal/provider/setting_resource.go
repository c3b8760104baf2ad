package provider

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

var (
	_ resource.ResourceWithConfigure      = (*settingResource)(nil)
	_ resource.ResourceWithImportState    = (*settingResource)(nil)
	_ resource.ResourceWithValidateConfig = (*settingResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*settingResource)(nil)
)

// settingResource declares a setting: a system-wide default of user
// configuration, with its type and constraints.
//
// A sensitive default never reaches state or plan: it is given in the
// write-only attribute sensitive_default (Terraform 1.11 and later), and a
// plan notices a change by comparing the configured value with the sealed
// default in the store, recording only a revision number in state. An
// import, by key, leaves a sensitive default in the store: state records
// only its revision.
type settingResource struct {
	resourceBase
}

func newSettingResource() resource.Resource {
	return &settingResource{resourceBase{id: importID{what: "setting", by: "key", attr: "key", example: "session.timeout_minutes", check: checkSettingKey}}}
}

type settingResourceModel struct {
	ID                       types.String  `tfsdk:"id"`
	Key                      types.String  `tfsdk:"key"`
	Type                     types.String  `tfsdk:"type"`
	Default                  types.Dynamic `tfsdk:"default"`
	SensitiveDefault         types.Dynamic `tfsdk:"sensitive_default"`
	SensitiveDefaultRevision types.Int64   `tfsdk:"sensitive_default_revision"`
	Description              types.String  `tfsdk:"description"`
	AllowedValues            types.Dynamic `tfsdk:"allowed_values"`
	Min                      types.Float64 `tfsdk:"min"`
	Max                      types.Float64 `tfsdk:"max"`
	Pattern                  types.String  `tfsdk:"pattern"`
	Sensitive                types.Bool    `tfsdk:"sensitive"`
	UserEditable             types.Bool    `tfsdk:"user_editable"`
}

func (r *settingResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_setting"
}

func (r *settingResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A setting: the system-wide default of one key of user configuration, its type and its " +
			"constraints. Users override it with `tokenward_user_config` where `user_editable` is true.\n\n" +
			"The default is written as a plain value of the setting's type: `default = 15`, `default = \"dark\"`, " +
			"`default = true`, `default = [\"a\", \"b\"]` or, for `json`, any value such as `default = { a = 1 }`. " +
			"It is checked against the type and constraints at plan time.\n\n" +
			"**Sensitive settings.** When `sensitive = true` the default is sealed in the store, and must be given " +
			"in `sensitive_default` instead of `default`. `sensitive_default` is write-only: Terraform never " +
			"records it in state or shows it in a plan, so it needs Terraform 1.11 or later (older versions refuse " +
			"it rather than store it). A plan compares the configured value with the store's and, when they differ, " +
			"shows `sensitive_default_revision` going up instead of the value.\n\n" +
			"Import a setting by its key: `terraform import tokenward_setting.timeout session.timeout_minutes`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The setting's key.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"key": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The setting's key: dotted lower-case words (letters, digits, `_`), such as " +
					"`session.timeout_minutes`. Changing it replaces the setting, which fails while users hold values for it.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"type": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The type of the setting's values: `string`, `number`, `bool`, `list` (a list of " +
					"strings) or `json` (any value). Changing it updates the setting in place when every user's value " +
					"still fits the new type (for example `string` to `json`); otherwise apply fails and names the " +
					"users whose values must change first.",
			},
			"default": schema.DynamicAttribute{
				Optional: true,
				MarkdownDescription: "The default value, written as a plain value of the setting's type: `15`, `\"dark\"`, " +
					"`true`, `[\"a\"]`, `{ a = 1 }` for `json`. Required unless the setting is sensitive, in which case " +
					"use `sensitive_default` instead.",
			},
			"sensitive_default": schema.DynamicAttribute{
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
				MarkdownDescription: "The default value of a sensitive setting (`sensitive = true`), written like `default`. " +
					"Write-only: it is sealed in the store and never kept in Terraform state or shown in a plan. " +
					"Needs Terraform 1.11 or later. Required when `sensitive` is true, refused otherwise.",
			},
			"sensitive_default_revision": schema.Int64Attribute{
				Computed: true,
				MarkdownDescription: "How many times this resource has written the sensitive default: it goes up by one " +
					"in a plan when `sensitive_default` differs from the value in the store, so a change shows without " +
					"showing the value. `0` for a setting that is not sensitive.",
			},
			"description": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(""),
				MarkdownDescription: "What the setting controls, shown to users and reviewers. Defaults to empty.",
			},
			"allowed_values": schema.DynamicAttribute{
				Optional: true,
				MarkdownDescription: "The only values the setting may take, as a list of plain values: " +
					"`[\"light\", \"dark\"]`, `[15, 30, 60]`; at least one. For a `list` setting, the values its items may take. " +
					"Not for `bool`, `json` or sensitive settings (a sensitive setting would show them in errors; use " +
					"`pattern`).",
			},
			"min": schema.Float64Attribute{
				Optional:            true,
				MarkdownDescription: "The smallest value of a `number` setting, such as `5`.",
			},
			"max": schema.Float64Attribute{
				Optional:            true,
				MarkdownDescription: "The largest value of a `number` setting, such as `120`.",
			},
			"pattern": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Default:  stringdefault.StaticString(""),
				MarkdownDescription: "A regular expression (RE2) that a `string` value, or each item of a `list` value, " +
					"must match in full, such as `[a-z]{2}-[A-Z]{2}`. Defaults to empty: no pattern.",
			},
			"sensitive": schema.BoolAttribute{
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
				MarkdownDescription: "Whether the setting's values are secret: the default and every user's value are " +
					"sealed in the store, and the default is given in `sensitive_default`, never in state. " +
					"Defaults to `false`.",
			},
			"user_editable": schema.BoolAttribute{
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
				MarkdownDescription: "Whether users may override the default. When `false` the default is enforced for " +
					"everyone and `tokenward_user_config` refuses a value for the setting. Defaults to `true`.",
			},
		},
	}
}

// defaultPath is the attribute that holds the default: sensitive_default for
// a sensitive setting.
func (m settingResourceModel) defaultPath() path.Path {
	if m.Sensitive.ValueBool() {
		return path.Root("sensitive_default")
	}
	return path.Root("default")
}

func (m settingResourceModel) fields() map[string]path.Path {
	return map[string]path.Path{
		"key": path.Root("key"), "type": path.Root("type"), "default": m.defaultPath(), "value": m.defaultPath(),
		"description": path.Root("description"), "allowed_values": path.Root("allowed_values"),
		"min": path.Root("min"), "max": path.Root("max"), "pattern": path.Root("pattern"),
		"sensitive": path.Root("sensitive"), "user_editable": path.Root("user_editable"),
	}
}

// spec builds the registry's view of the setting from a model whose
// sensitive_default is read from configuration. It returns errUnknown when a
// value it needs is not known yet.
func (m settingResourceModel) spec(diags *diag.Diagnostics) (registry.SettingSpec, error) {
	for _, v := range []attr.Value{m.Key, m.Type, m.Default, m.SensitiveDefault, m.AllowedValues, m.Min, m.Max, m.Pattern, m.Sensitive, m.UserEditable} {
		if !known(v) {
			return registry.SettingSpec{}, errUnknown
		}
	}
	spec := registry.SettingSpec{
		Key:          m.Key.ValueString(),
		Type:         m.Type.ValueString(),
		Description:  m.Description.ValueString(),
		Sensitive:    m.Sensitive.ValueBool(),
		UserEditable: m.UserEditable.IsNull() || m.UserEditable.ValueBool(),
		Constraints: store.Constraints{
			Min:     m.Min.ValueFloat64Pointer(),
			Max:     m.Max.ValueFloat64Pointer(),
			Pattern: m.Pattern.ValueString(),
		},
	}
	def := m.Default
	if spec.Sensitive {
		def = m.SensitiveDefault
	}
	if !def.IsNull() {
		raw, err := jsonFromValue(def)
		if err != nil {
			// Never quote the value: it may be sensitive.
			diags.AddAttributeError(m.defaultPath(), "Invalid setting default", "The default cannot be stored: "+err.Error()+".")
			return spec, err
		}
		spec.Default = raw
	}
	if !m.AllowedValues.IsNull() {
		raw, err := jsonFromValue(m.AllowedValues)
		var items []json.RawMessage
		if err == nil {
			err = json.Unmarshal(raw, &items)
		}
		if err != nil {
			diags.AddAttributeError(path.Root("allowed_values"), "Invalid allowed_values",
				"allowed_values must be a list of plain values, such as [\"light\", \"dark\"] or [15, 30, 60].")
			return spec, err
		}
		spec.Constraints.AllowedValues = items
	}
	return spec, nil
}

// ValidateConfig checks at plan time that the default sits in the attribute
// that fits the setting's sensitivity, and that the type, constraints and
// default agree, with each error on the attribute at fault.
func (r *settingResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m settingResourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.AllowedValues.IsNull() && known(m.AllowedValues) {
		// The store keeps no empty list, so [] would read back as unset
		// and show a change on every plan; and allowing no value at all
		// is not what anyone means.
		if raw, err := jsonFromValue(m.AllowedValues); err == nil && string(raw) == "[]" {
			resp.Diagnostics.AddAttributeError(path.Root("allowed_values"), "Empty allowed_values",
				"allowed_values = [] would allow no value at all. List the values the setting may take, such as "+
					"[\"light\", \"dark\"], or leave allowed_values out to allow any value of the type.")
		}
	}
	if m.Sensitive.IsUnknown() {
		return
	}
	sensitive := m.Sensitive.ValueBool()
	switch {
	case sensitive && !m.Default.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("default"), "A sensitive setting takes sensitive_default, not default",
			"The setting is sensitive, and a value in default would be written to Terraform state and shown in plans. "+
				"Move the value to sensitive_default, which is write-only (Terraform 1.11 or later).")
		return
	case !sensitive && !m.SensitiveDefault.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("sensitive_default"), "sensitive_default is only for sensitive settings",
			"Set sensitive = true to keep the default out of state, or give the value in default instead.")
		return
	case sensitive && m.SensitiveDefault.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("sensitive_default"), "Missing sensitive_default",
			"A sensitive setting needs a default: give it in sensitive_default, such as sensitive_default = var.smtp_password.")
		return
	case !sensitive && m.Default.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("default"), "Missing default",
			"Every setting needs a default of its type, such as default = 15 for a number setting.")
		return
	}
	if m.Pattern.IsNull() {
		m.Pattern = types.StringValue("")
	}
	spec, err := m.spec(&resp.Diagnostics)
	if err != nil {
		return
	}
	if err := registry.CheckSetting(spec); err != nil {
		addRegistryError(&resp.Diagnostics, "Invalid setting", err, errorFields{fields: m.fields()})
	}
}

// ModifyPlan plans sensitive_default_revision: it goes up by one when the
// configured sensitive default differs from the one in the store, which is
// how a plan shows that a value it cannot show will change.
func (r *settingResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan, state settingResourceModel
	var configured types.Dynamic
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("sensitive_default"), &configured)...)
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	revision := types.Int64Value(0)
	switch {
	case plan.Sensitive.IsUnknown() || !known(configured):
		revision = types.Int64Unknown()
	case !plan.Sensitive.ValueBool():
	case req.State.Raw.IsNull():
		revision = types.Int64Value(1)
	default:
		prior := state.SensitiveDefaultRevision.ValueInt64()
		revision = types.Int64Value(prior + 1)
		if r.data == nil {
			revision = types.Int64Unknown()
			break
		}
		stored, err := r.data.reg.Setting(ctx, state.ID.ValueString())
		if err != nil && !notFound(err) {
			resp.Diagnostics.AddError("Cannot read setting "+state.ID.ValueString(), err.Error())
			return
		}
		want, jerr := jsonFromValue(configured)
		if err == nil && jerr == nil && stored.Sensitive && plan.Key.Equal(state.Key) && sameJSON(stored.Default, want) {
			revision = types.Int64Value(prior)
		}
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("sensitive_default_revision"), revision)...)
}

// fromConfig reads the plan and takes sensitive_default, which is
// write-only and so only in the configuration.
func (r *settingResource) fromConfig(ctx context.Context, plan, config interface {
	Get(context.Context, any) diag.Diagnostics
	GetAttribute(context.Context, path.Path, any) diag.Diagnostics
}, diags *diag.Diagnostics) (settingResourceModel, registry.SettingSpec, bool) {
	var m settingResourceModel
	diags.Append(plan.Get(ctx, &m)...)
	diags.Append(config.GetAttribute(ctx, path.Root("sensitive_default"), &m.SensitiveDefault)...)
	if diags.HasError() {
		return m, registry.SettingSpec{}, false
	}
	spec, err := m.spec(diags)
	if errors.Is(err, errUnknown) {
		diags.AddError("Setting not known at apply", "A value of the setting is still unknown at apply; this is a bug in the provider or in Terraform.")
	}
	if err != nil {
		return m, spec, false
	}
	return m, spec, true
}

func (r *settingResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	m, spec, ok := r.fromConfig(ctx, req.Plan, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	if err := r.data.reg.CreateSetting(ctx, spec); err != nil {
		if exists(err) {
			r.addExists(&resp.Diagnostics, spec.Key)
			return
		}
		addRegistryError(&resp.Diagnostics, "Cannot create setting", err, errorFields{fields: m.fields()})
		return
	}
	m.ID, m.SensitiveDefault = m.Key, types.DynamicNull()
	if m.SensitiveDefaultRevision.IsUnknown() {
		// Planned unknown when sensitive_default was not known at plan.
		m.SensitiveDefaultRevision = types.Int64Value(0)
		if spec.Sensitive {
			m.SensitiveDefaultRevision = types.Int64Value(1)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *settingResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m settingResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec, err := r.data.reg.Setting(ctx, m.ID.ValueString())
	if notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read setting", err.Error())
		return
	}
	m.Key, m.Type, m.Description = types.StringValue(spec.Key), types.StringValue(spec.Type), types.StringValue(spec.Description)
	m.Sensitive, m.UserEditable = types.BoolValue(spec.Sensitive), types.BoolValue(spec.UserEditable)
	m.Min, m.Max = types.Float64PointerValue(spec.Constraints.Min), types.Float64PointerValue(spec.Constraints.Max)
	m.Pattern = types.StringValue(spec.Constraints.Pattern)
	m.SensitiveDefault = types.DynamicNull()
	if spec.Sensitive {
		m.Default = types.DynamicNull()
		if m.SensitiveDefaultRevision.ValueInt64() == 0 {
			m.SensitiveDefaultRevision = types.Int64Value(1)
		}
	} else {
		m.SensitiveDefaultRevision = types.Int64Value(0)
		if m.Default, err = keepIfSame(m.Default, spec.Default); err != nil {
			resp.Diagnostics.AddError("Cannot read setting", "default: "+err.Error())
			return
		}
	}
	switch allowed := spec.Constraints.AllowedValues; {
	case len(allowed) == 0 && m.AllowedValues.IsNull():
	default:
		raw, err := json.Marshal(allowed)
		if err == nil {
			m.AllowedValues, err = keepIfSame(m.AllowedValues, raw)
		}
		if err != nil {
			resp.Diagnostics.AddError("Cannot read setting", "allowed_values: "+err.Error())
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *settingResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	m, spec, ok := r.fromConfig(ctx, req.Plan, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	if err := r.data.reg.UpdateSetting(ctx, spec); err != nil {
		addRegistryError(&resp.Diagnostics, "Cannot update setting", err, errorFields{fields: m.fields()})
		return
	}
	m.ID, m.SensitiveDefault = m.Key, types.DynamicNull()
	if m.SensitiveDefaultRevision.IsUnknown() {
		// Planned unknown when sensitive_default was not known at plan.
		var prior types.Int64
		resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("sensitive_default_revision"), &prior)...)
		m.SensitiveDefaultRevision = types.Int64Value(0)
		if spec.Sensitive {
			m.SensitiveDefaultRevision = types.Int64Value(prior.ValueInt64() + 1)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *settingResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m settingResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.data.reg.DeleteSetting(ctx, m.ID.ValueString())
	if err != nil && !notFound(err) {
		// The registry names the users who still hold values for the setting.
		resp.Diagnostics.AddError("Cannot delete setting "+m.ID.ValueString(),
			err.Error()+". Remove the setting from those users' tokenward_user_config first, then apply again.")
	}
}
