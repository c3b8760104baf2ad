package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

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
	// A store has an id once it records its first change, and is never
	// empty again: the cached id spares every later resource the query.
	id, err := g.storeID(ctx)
	if err != nil {
		diags.AddError("Cannot read the tokenward store", fmt.Sprintf("Reading the store at %s: %v", reg.Location(), err))
		return true
	}
	if id != "" {
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

// privateStoreKey is the key of a resource's private state that holds the
// id of the store it lives in (see registry.StoreID).
const privateStoreKey = "store"

// privateReader and privateWriter are the resource's private state as the
// framework's requests and responses carry it.
type privateReader interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
}

type privateWriter interface {
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

// storeID is the id of the store this run works on, read once it is known.
func (g *guardedResource) storeID(ctx context.Context) (string, error) {
	g.data.storeMu.Lock()
	defer g.data.storeMu.Unlock()
	if g.data.storeID != "" {
		return g.data.storeID, nil
	}
	id, err := g.data.reg.StoreID(ctx)
	if err != nil {
		return "", err
	}
	g.data.storeID = id // "" until the store records something: read again
	return id, nil
}

// elsewhere reports, as an error diagnostic, a resource whose private state
// says it lives in another store than the one the provider opened: a path
// mistyped into another store, or a lost store replaced by a new one (an
// apply with -target creates one while the state holds other resources).
// A resource from before stores had ids remembers none, and passes.
func (g *guardedResource) elsewhere(ctx context.Context, priv privateReader, diags *diag.Diagnostics) bool {
	if g.data == nil || priv == nil {
		return false
	}
	raw, d := priv.GetKey(ctx, privateStoreKey)
	if d.HasError() || len(raw) == 0 {
		return false
	}
	var want string
	if err := json.Unmarshal(raw, &want); err != nil || want == "" {
		return false
	}
	have, err := g.storeID(ctx)
	if err != nil {
		diags.AddError("Cannot read the tokenward store", fmt.Sprintf("Reading the store at %s: %v", g.data.reg.Location(), err))
		return true
	}
	if have == "" || have == want {
		return false // a store with no record is lost's to report
	}
	g.data.reg.RefuseCreate(errStoreLost)
	diags.AddError("The tokenward store is not the one this resource lives in",
		fmt.Sprintf("Terraform's state says this resource lives in the store whose audit log begins with event %s, but the store at %s "+
			"begins with event %s: it is another store. Either the path or URL is mistyped (the provider's store attribute, or TOKENWARD_STORE), "+
			"or the store was lost and another was created in its place (for example by an apply with -target). Point the provider at "+
			"the store these resources live in (restore it from a backup if it was lost); to move the resources to this store, remove "+
			"them from the state (terraform state rm) and import or declare them again.", short(want), g.data.reg.Location(), short(have)))
	return true
}

// remember records in a resource's private state the store it lives in.
func (g *guardedResource) remember(ctx context.Context, priv privateWriter, diags *diag.Diagnostics) {
	if g.data == nil || priv == nil || reflect.ValueOf(priv).IsNil() {
		return // no private state to write to
	}
	id, err := g.storeID(ctx)
	if err != nil || id == "" {
		return // the next successful read records it
	}
	raw, _ := json.Marshal(id)
	diags.Append(priv.SetKey(ctx, privateStoreKey, raw)...)
}

// short is the first 12 digits of a hash, enough to tell two stores apart.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12] + "…"
	}
	return hash
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
	if g.elsewhere(ctx, req.Private, &resp.Diagnostics) {
		return
	}
	g.Resource.Read(ctx, req, resp)
	if resp.Diagnostics.HasError() {
		return
	}
	if !resp.State.Raw.IsNull() {
		g.remember(ctx, resp.Private, &resp.Diagnostics)
		return
	}
	if g.lost(ctx, &resp.Diagnostics) {
		resp.State.Raw = req.State.Raw
	}
}

// Create records the store the new resource lives in.
func (g *guardedResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	g.Resource.Create(ctx, req, resp)
	if !resp.Diagnostics.HasError() && !resp.State.Raw.IsNull() {
		g.remember(ctx, resp.Private, &resp.Diagnostics)
	}
}

// ModifyPlan refuses to plan a change to, or the destruction of, a resource
// whose store was lost, and says once that a first apply creates the store.
func (g *guardedResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if g.data != nil {
		if !req.State.Raw.IsNull() {
			if g.lost(ctx, &resp.Diagnostics) || g.elsewhere(ctx, req.Private, &resp.Diagnostics) {
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
	if g.lost(ctx, &resp.Diagnostics) || g.elsewhere(ctx, req.Private, &resp.Diagnostics) {
		return
	}
	g.Resource.Update(ctx, req, resp)
	if !resp.Diagnostics.HasError() {
		g.remember(ctx, resp.Private, &resp.Diagnostics)
	}
}

func (g *guardedResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	if g.lost(ctx, &resp.Diagnostics) || g.elsewhere(ctx, req.Private, &resp.Diagnostics) {
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
	if !resp.Diagnostics.HasError() {
		g.remember(ctx, resp.Private, &resp.Diagnostics)
	}
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
