package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

var (
	_ resource.ResourceWithConfigure      = (*scopeResource)(nil)
	_ resource.ResourceWithImportState    = (*scopeResource)(nil)
	_ resource.ResourceWithValidateConfig = (*scopeResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*scopeResource)(nil)
)

// scopeResource declares one scope, a permission such as billing:read.
type scopeResource struct {
	resourceBase
}

func newScopeResource() resource.Resource {
	return &scopeResource{resourceBase{id: importID{what: "scope", by: "name", attr: "name", example: "billing:read", check: registry.CheckDeclaredScope}}}
}

type scopeResourceModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	Description types.String `tfsdk:"description"`
	Privileged  types.Bool   `tfsdk:"privileged"`
}

func (r *scopeResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_scope"
}

func (r *scopeResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A scope: a permission that tokens and roles grant, named `resource:action` in lower case " +
			"(`billing:read`), or `resource:*` for every action of one resource. A scope that a token or a role " +
			"still grants cannot be destroyed: the error names them. Import a scope by its name.\n\n" +
			"Scopes named `tokenward:*` are built in: every store has them (such as `tokenward:introspect`, which lets a " +
			"token call `tokenward serve`'s introspection and verify endpoints), tokens and roles grant them like any other, " +
			"and they cannot be declared, changed or destroyed here. The `tokenward_scopes` data source lists them.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The scope's name.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The scope, `resource:action` in lower case (letters, digits, `_`, `.`, `-`), such as " +
					"`billing:read`, or `resource:*` for every action of a resource. Changing it replaces the scope. A name " +
					"starting with `tokenward:` is refused at plan time: those scopes are built in.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"description": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(""),
				MarkdownDescription: "What the scope allows, for reviewers and the `tokenward_scopes` data source. Defaults to empty.",
			},
			"privileged": schema.BoolAttribute{
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
				MarkdownDescription: "Whether the scope is privileged, such as `billing:refund` or `users:delete`: `tokenward review` " +
					"raises granting it to a token, directly, through a role or through a wildcard such as `billing:*`, as high, " +
					"and the provider's `policy` may cap how many a token holds (`max_privileged_scopes`) and require an owner " +
					"for any token holding one (`require_owner_for_privileged`). Defaults to `false`. The built-in " +
					"`tokenward:config-read-sensitive` and `tokenward:config-write-sensitive` are privileged.",
			},
		},
	}
}

// ValidateConfig checks the scope's name at plan time.
func (r *scopeResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var name types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("name"), &name)...)
	if name.IsNull() || name.IsUnknown() {
		return
	}
	if err := registry.CheckScopeName(name.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Invalid scope name", err.Error())
		return
	}
	if err := registry.CheckDeclaredScope(name.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Built-in scope", err.Error()+
			". Remove this tokenward_scope; tokens and roles can grant the scope without it.")
	}
}

// ModifyPlan records whether the scope is planned privileged, so that the
// tokens planned after it (those that reference it) are checked against the
// policy's max_privileged_scopes and require_owner_for_privileged with what
// it will be, before the store knows it.
func (r *scopeResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	var m scopeResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || m.Name.IsUnknown() || m.Privileged.IsUnknown() {
		return
	}
	r.data.planScope(m.Name.ValueString(), m.Privileged.ValueBool())
}

var scopeFields = errorFields{fields: map[string]path.Path{"name": path.Root("name"), "description": path.Root("description"), "privileged": path.Root("privileged")}}

func (r *scopeResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m scopeResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.data.reg.CreateScope(ctx, m.Name.ValueString(), m.Description.ValueString(), registry.WithPrivileged(m.Privileged.ValueBool())); err != nil {
		if exists(err) {
			r.addExists(&resp.Diagnostics, m.Name.ValueString())
			return
		}
		addRegistryError(&resp.Diagnostics, "Cannot create scope", err, scopeFields)
		return
	}
	m.ID = m.Name
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *scopeResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m scopeResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, err := r.data.reg.Scope(ctx, m.ID.ValueString())
	if notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read scope", err.Error())
		return
	}
	m.Name, m.Description, m.Privileged = types.StringValue(s.Name), types.StringValue(s.Description), types.BoolValue(s.Privileged)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *scopeResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m scopeResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.data.reg.UpdateScope(ctx, m.Name.ValueString(), m.Description.ValueString(), registry.WithPrivileged(m.Privileged.ValueBool())); err != nil {
		addRegistryError(&resp.Diagnostics, "Cannot update scope", err, scopeFields)
		return
	}
	m.ID = m.Name
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *scopeResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m scopeResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.data.reg.DeleteScope(ctx, m.ID.ValueString())
	if err != nil && !notFound(err) {
		// The registry names the tokens and roles that still grant the scope.
		resp.Diagnostics.AddError("Cannot delete scope "+m.ID.ValueString(),
			err.Error()+". Remove the scope from those tokens and roles (or destroy them) first, then apply again.")
	}
}
