package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

var _ datasource.DataSourceWithConfigure = (*userConfigDataSource)(nil)

// userConfigDataSource reads a user's effective configuration: every
// setting's default, replaced by the user's own value where allowed. The
// value of a sensitive setting is never read into Terraform.
type userConfigDataSource struct {
	reg *registry.Registry
}

func newUserConfigDataSource() datasource.DataSource { return &userConfigDataSource{} }

type userConfigDataModel struct {
	ID        types.String         `tfsdk:"id"`
	User      types.String         `tfsdk:"user"`
	Effective []effectiveDataModel `tfsdk:"effective"`
	Values    types.Dynamic        `tfsdk:"values"`
}

type effectiveDataModel struct {
	Key       types.String `tfsdk:"key"`
	Value     types.String `tfsdk:"value"`
	Source    types.String `tfsdk:"source"`
	Sensitive types.Bool   `tfsdk:"sensitive"`
}

func (d *userConfigDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_user_config"
}

func (d *userConfigDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A user's effective configuration: every setting's default, replaced by the user's own value " +
			"where the setting is `user_editable`, each key saying where its value comes from. Values of sensitive " +
			"settings are never read: their `value` is null and `sensitive` is true.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The user id."},
			"user": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "The user, such as `alice@example.com`. A user with no values of their own gets the defaults.",
			},
			"values": schema.DynamicAttribute{
				Computed: true,
				MarkdownDescription: "The effective values as an object of setting key = native value, beside `effective`: " +
					"`data.tokenward_user_config.alice.values[\"data.region\"]` is `\"eu\"`, with no `jsondecode()`. " +
					"A sensitive setting's value is null.",
			},
			"effective": schema.ListNestedAttribute{
				Computed:            true,
				MarkdownDescription: "One entry per setting, sorted by key.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"key": schema.StringAttribute{Computed: true, MarkdownDescription: "The setting's key, such as `session.timeout_minutes`."},
					"value": schema.StringAttribute{
						Computed: true,
						MarkdownDescription: "The effective value as JSON, since settings have different types: `30`, " +
							"`\"dark\"`, `[\"a\"]`. Decode it with `jsondecode()`. Null for a sensitive setting.",
					},
					"source": schema.StringAttribute{
						Computed: true,
						MarkdownDescription: "Where the value comes from: `default` (the user has no value), `user` (the " +
							"user's own value) or `enforced` (the default, because the setting is not `user_editable`).",
					},
					"sensitive": schema.BoolAttribute{
						Computed:            true,
						MarkdownDescription: "Whether the setting is sensitive; its `value` is then null.",
					},
				}},
			},
		},
	}
}

func (d *userConfigDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if data := configured(req.ProviderData, &resp.Diagnostics); data != nil {
		d.reg = data.reg
	}
}

func (d *userConfigDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m userConfigDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	user := m.User.ValueString()
	if err := registry.CheckUser(user); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("user"), "Invalid user", err.Error())
		return
	}
	all, err := d.reg.EffectiveConfig(ctx, user)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the configuration of user "+user, err.Error())
		return
	}
	m.ID = types.StringValue(user)
	m.Effective = make([]effectiveDataModel, 0, len(all))
	attrs := make(map[string]attr.Value, len(all))
	typs := make(map[string]attr.Type, len(all))
	for _, e := range all {
		value := types.StringNull()
		attrs[e.Key], typs[e.Key] = types.DynamicNull(), types.DynamicType
		if !e.Sensitive {
			native, err := valueFromJSON(e.Value)
			if err != nil {
				resp.Diagnostics.AddError("Cannot read setting "+e.Key, err.Error())
				return
			}
			if !native.IsNull() {
				attrs[e.Key], typs[e.Key] = orDynamicNull(native.UnderlyingValue())
			}
			c, err := canonicalJSON(e.Value)
			if err != nil {
				resp.Diagnostics.AddError("Cannot read setting "+e.Key, err.Error())
				return
			}
			value = types.StringValue(c)
		}
		m.Effective = append(m.Effective, effectiveDataModel{
			Key: types.StringValue(e.Key), Value: value, Source: types.StringValue(e.Source), Sensitive: types.BoolValue(e.Sensitive),
		})
	}
	values, diags := types.ObjectValue(typs, attrs)
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	m.Values = types.DynamicValue(values)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
