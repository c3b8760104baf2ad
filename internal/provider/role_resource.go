package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

var (
	_ resource.ResourceWithConfigure      = (*roleResource)(nil)
	_ resource.ResourceWithImportState    = (*roleResource)(nil)
	_ resource.ResourceWithValidateConfig = (*roleResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*roleResource)(nil)
)

// roleResource declares a role: a named bundle of scopes that tokens hold.
type roleResource struct {
	resourceBase
}

func newRoleResource() resource.Resource {
	return &roleResource{resourceBase{id: importID{what: "role", by: "name", attr: "name", example: "billing-reader",
		check: func(id string) error { return registry.CheckName("name", id) }}}}
}

type roleResourceModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	Description types.String `tfsdk:"description"`
	Scopes      types.Set    `tfsdk:"scopes"`
}

func (r *roleResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_role"
}

func (r *roleResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A role: a named bundle of scopes. A token that holds a role has its scopes, and gains or " +
			"loses scopes at once when the role changes. A role that a token still holds cannot be destroyed: the " +
			"error names the tokens. Import a role by its name.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The role's name.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The role's name: 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter or " +
					"digit, such as `billing-reader`. Changing it replaces the role.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"description": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(""),
				MarkdownDescription: "What the role is for. Defaults to empty.",
			},
			"scopes": schema.SetAttribute{
				Required:    true,
				ElementType: types.StringType,
				MarkdownDescription: "The scopes the role grants, such as `[\"billing:read\", \"users:*\"]`. Each must be a " +
					"declared scope: refer to `tokenward_scope` resources so Terraform creates them first.",
			},
		},
	}
}

// ModifyPlan refuses, at plan time, a role that grants a scope the
// provider's policy forbids: every token holding the role would break it.
func (r *roleResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var m roleResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.checkPolicy(knownStrings(m.Scopes), &resp.Diagnostics)
	// Recorded for the tokens planned after the role (those that reference
	// it), which the policy checks with the role as it will be.
	if r.data != nil && !m.Name.IsUnknown() && !m.Scopes.IsUnknown() && len(knownStrings(m.Scopes)) == len(m.Scopes.Elements()) {
		r.data.planRole(m.Name.ValueString(), knownStrings(m.Scopes))
	}
}

func (r *roleResource) checkPolicy(scopes []string, diags *diag.Diagnostics) {
	for _, v := range r.policy().CheckRole(scopes) {
		diags.AddAttributeError(path.Root(v.Field), "Role breaks the policy",
			v.Message+". Remove the scope from the role, or change the provider's policy block.")
	}
}

// knownStrings returns the known elements of a set of strings; elements
// not known until apply are left out.
func knownStrings(s types.Set) []string {
	if s.IsNull() || s.IsUnknown() {
		return nil
	}
	var out []string
	for _, e := range s.Elements() {
		if v, ok := e.(types.String); ok && !v.IsNull() && !v.IsUnknown() {
			out = append(out, v.ValueString())
		}
	}
	return out
}

// ValidateConfig checks the role's name and each known scope at plan time.
func (r *roleResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m roleResourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.Name.IsNull() && !m.Name.IsUnknown() {
		if err := registry.CheckName("name", m.Name.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("name"), "Invalid role name", err.Error())
		}
	}
	if m.Scopes.IsNull() || m.Scopes.IsUnknown() {
		return
	}
	for _, e := range m.Scopes.Elements() {
		s, ok := e.(types.String)
		if !ok || s.IsNull() || s.IsUnknown() {
			continue
		}
		if registry.CheckScopeName(s.ValueString()) != nil {
			resp.Diagnostics.AddAttributeError(path.Root("scopes"), "Invalid scope in role",
				fmt.Sprintf("invalid scopes: %q is not a scope: use resource:action in lower case, such as billing:read, or resource:* for every action of a resource.", s.ValueString()))
		} else if err := registry.CheckGrantedScope(s.ValueString()); err != nil {
			var ie *registry.InvalidError
			if errors.As(err, &ie) {
				resp.Diagnostics.AddAttributeError(path.Root("scopes"), "Invalid scope in role", "invalid scopes: "+ie.Reason+".")
			}
		}
	}
}

var roleFields = errorFields{fields: map[string]path.Path{
	"name": path.Root("name"), "description": path.Root("description"), "scopes": path.Root("scopes"),
}}

func (r *roleResource) spec(ctx context.Context, m roleResourceModel, diags *diag.Diagnostics) registry.RoleSpec {
	var scopes []string
	diags.Append(m.Scopes.ElementsAs(ctx, &scopes, false)...)
	// Scopes unknown at plan time are known now: check them again.
	r.checkPolicy(scopes, diags)
	return registry.RoleSpec{Name: m.Name.ValueString(), Description: m.Description.ValueString(), Scopes: scopes}
}

func (r *roleResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m roleResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	spec := r.spec(ctx, m, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.data.reg.CreateRole(ctx, spec); err != nil {
		if exists(err) {
			r.addExists(&resp.Diagnostics, spec.Name)
			return
		}
		addRegistryError(&resp.Diagnostics, "Cannot create role", err, roleFields)
		return
	}
	m.ID = m.Name
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *roleResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m roleResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	role, err := r.data.reg.Role(ctx, m.ID.ValueString())
	if notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read role", err.Error())
		return
	}
	scopes, diags := types.SetValueFrom(ctx, types.StringType, role.Scopes)
	resp.Diagnostics.Append(diags...)
	m.Name, m.Description, m.Scopes = types.StringValue(role.Name), types.StringValue(role.Description), scopes
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *roleResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m roleResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	spec := r.spec(ctx, m, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.data.reg.UpdateRole(ctx, spec); err != nil {
		addRegistryError(&resp.Diagnostics, "Cannot update role", err, roleFields)
		return
	}
	m.ID = m.Name
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *roleResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m roleResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.data.reg.DeleteRole(ctx, m.ID.ValueString())
	if err != nil && !notFound(err) {
		// The registry names the tokens that still hold the role.
		resp.Diagnostics.AddError("Cannot delete role "+m.ID.ValueString(),
			err.Error()+". Remove the role from those tokens (or destroy them) first, then apply again.")
	}
}
