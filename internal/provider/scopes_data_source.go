package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// scopesDataSource lists every scope, declared or built in.
type scopesDataSource struct {
	reg *registry.Registry
}

func newScopesDataSource() datasource.DataSource { return &scopesDataSource{} }

type scopesModel struct {
	ID     types.String `tfsdk:"id"`
	Scopes []scopeModel `tfsdk:"scopes"`
}

type scopeModel struct {
	Name        types.String `tfsdk:"name"`
	Description types.String `tfsdk:"description"`
	BuiltIn     types.Bool   `tfsdk:"built_in"`
	Privileged  types.Bool   `tfsdk:"privileged"`
}

func (d *scopesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_scopes"
}

func (d *scopesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Every scope in the tokenward store, sorted by name: those declared with `tokenward_scope` and the " +
			"built-in ones (`tokenward:*`, marked `built_in`). For `for_each`, checks and reviews.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "Always `scopes`."},
			"scopes": schema.ListNestedAttribute{
				Computed:            true,
				MarkdownDescription: "The scopes, sorted by name.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":        schema.StringAttribute{Computed: true, MarkdownDescription: "The scope, `resource:action`, such as `billing:read`."},
					"description": schema.StringAttribute{Computed: true, MarkdownDescription: "What the scope allows."},
					"built_in": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the scope is built in (`tokenward:*`, " +
						"such as `tokenward:introspect`): every store has it, and it is granted like any scope but never declared with `tokenward_scope`."},
					"privileged": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the scope is privileged: " +
						"`tokenward review` raises granting it as high, and the policy may cap how many a token holds. See `tokenward_scope`'s `privileged`."},
				}},
			},
		},
	}
}

func (d *scopesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if data := configured(req.ProviderData, &resp.Diagnostics); data != nil {
		d.reg = data.reg
	}
}

func (d *scopesDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	scopes, err := d.reg.Scopes(ctx)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read scopes", err.Error())
		return
	}
	m := scopesModel{ID: types.StringValue("scopes"), Scopes: make([]scopeModel, 0, len(scopes))}
	for _, s := range scopes {
		m.Scopes = append(m.Scopes, scopeModel{Name: types.StringValue(s.Name), Description: types.StringValue(s.Description),
			BuiltIn: types.BoolValue(registry.IsBuiltInScope(s.Name)), Privileged: types.BoolValue(s.Privileged)})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
