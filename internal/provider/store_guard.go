package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
)

// The provider creates a store only on a first apply: when Terraform's state
// holds no tokenward resource. guardedResource wraps every resource to keep
// that rule, so no resource file has to: a resource that has state, met
// while the store does not exist or has never recorded a change, means the
// store was lost or its path mistyped. Then plan and apply refuse, rather
// than propose to create everything again in a new, empty store (or drop
// the resources from state), and nothing in this run creates the store.
type guardedResource struct {
	resource.Resource
	data *providerData
}

var (
	_ resource.ResourceWithConfigure        = (*guardedResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*guardedResource)(nil)
	_ resource.ResourceWithImportState      = (*guardedResource)(nil)
	_ resource.ResourceWithValidateConfig   = (*guardedResource)(nil)
	_ resource.ResourceWithConfigValidators = (*guardedResource)(nil)
	_ resource.ResourceWithUpgradeState     = (*guardedResource)(nil)
)

// guarded wraps a resource constructor with the store rule.
func guarded(newResource func() resource.Resource) func() resource.Resource {
	return func() resource.Resource { return &guardedResource{Resource: newResource()} }
}

// errStoreLost is what a change fails with once the store is known lost.
var errStoreLost = errors.New("the tokenward store was lost or mistyped: Terraform's state holds tokenward resources, so this run does not create a new store")

// lost reports, as an error diagnostic, a store that does not exist or has
// never recorded a change, while Terraform's state holds a resource; and
// keeps this run from creating it.
func (g *guardedResource) lost(ctx context.Context, diags *diag.Diagnostics) bool {
	if g.data == nil {
		return false
	}
	reg := g.data.reg
	pristine, err := reg.Pristine(ctx)
	if err != nil {
		diags.AddError("Cannot read the tokenward store", fmt.Sprintf("Reading the store at %s: %v", reg.Location(), err))
		return true
	}
	if !pristine {
		return false
	}
	reg.RefuseCreate(errStoreLost)
	what := reg.MissingReason()
	if what == "" {
		what = "the store exists but holds no tokenward records"
	}
	diags.AddError("The tokenward store was lost or mistyped",
		fmt.Sprintf("Terraform's state holds tokenward resources, but there is no tokenward store at %s: %s. "+
			"Either the store was lost (restore it from a backup) or its path or URL is mistyped (the provider's store attribute, "+
			"or TOKENWARD_STORE): point the provider at the store these resources live in. The provider creates a store only on a "+
			"first apply, when the state holds no tokenward resource; to start over with a new store, remove the tokenward resources "+
			"from the state first (terraform state rm).", reg.Location(), what))
	return true
}

func (g *guardedResource) Configure(ctx context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if req.ProviderData != nil {
		if data, ok := req.ProviderData.(*providerData); ok {
			g.data = data
		}
	}
	if r, ok := g.Resource.(resource.ResourceWithConfigure); ok {
		r.Configure(ctx, req, resp)
	}
}

// Read refuses to drop a resource from state because a lost store does not
// hold it.
func (g *guardedResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if g.data != nil && !g.data.reg.StoreExists() {
		g.lost(ctx, &resp.Diagnostics)
		return
	}
	g.Resource.Read(ctx, req, resp)
	if resp.Diagnostics.HasError() || !resp.State.Raw.IsNull() {
		return
	}
	if g.lost(ctx, &resp.Diagnostics) {
		resp.State.Raw = req.State.Raw
	}
}

// ModifyPlan refuses to plan a change to, or the destruction of, a resource
// whose store was lost, and says once that a first apply creates the store.
func (g *guardedResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if g.data != nil {
		if !req.State.Raw.IsNull() {
			if g.lost(ctx, &resp.Diagnostics) {
				return
			}
		} else if !g.data.reg.StoreExists() {
			g.data.warnCreate.Do(func() {
				resp.Diagnostics.AddWarning("The tokenward store will be created on apply",
					fmt.Sprintf("The store at %s does not exist yet, and Terraform's state holds no tokenward resource: this is a first apply. "+
						"The plan creates nothing; the apply creates the store with the first tokenward resource. "+
						"If you expected an existing store, its path or URL is mistyped (the provider's store attribute, or TOKENWARD_STORE).",
						g.data.reg.Location()))
			})
		}
	}
	if r, ok := g.Resource.(resource.ResourceWithModifyPlan); ok {
		r.ModifyPlan(ctx, req, resp)
	}
}

func (g *guardedResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	if g.lost(ctx, &resp.Diagnostics) {
		return
	}
	g.Resource.Update(ctx, req, resp)
}

func (g *guardedResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	if g.lost(ctx, &resp.Diagnostics) {
		return
	}
	g.Resource.Delete(ctx, req, resp)
}

func (g *guardedResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	r, ok := g.Resource.(resource.ResourceWithImportState)
	if !ok {
		resp.Diagnostics.AddError("Import not supported", "This tokenward resource cannot be imported.")
		return
	}
	r.ImportState(ctx, req, resp)
}

func (g *guardedResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	if r, ok := g.Resource.(resource.ResourceWithValidateConfig); ok {
		r.ValidateConfig(ctx, req, resp)
	}
}

func (g *guardedResource) ConfigValidators(ctx context.Context) []resource.ConfigValidator {
	if r, ok := g.Resource.(resource.ResourceWithConfigValidators); ok {
		return r.ConfigValidators(ctx)
	}
	return nil
}

func (g *guardedResource) UpgradeState(ctx context.Context) map[int64]resource.StateUpgrader {
	if r, ok := g.Resource.(resource.ResourceWithUpgradeState); ok {
		return r.UpgradeState(ctx)
	}
	return nil
}
