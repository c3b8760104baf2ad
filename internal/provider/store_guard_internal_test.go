package provider

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
)

// stubResource counts the calls that reach it.
type stubResource struct{ calls []string }

func (s *stubResource) Metadata(context.Context, resource.MetadataRequest, *resource.MetadataResponse) {
}
func (s *stubResource) Schema(context.Context, resource.SchemaRequest, *resource.SchemaResponse) {}
func (s *stubResource) Create(context.Context, resource.CreateRequest, *resource.CreateResponse) {
	s.calls = append(s.calls, "create")
}
func (s *stubResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {
	s.calls = append(s.calls, "read")
}
func (s *stubResource) Update(context.Context, resource.UpdateRequest, *resource.UpdateResponse) {
	s.calls = append(s.calls, "update")
}
func (s *stubResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
	s.calls = append(s.calls, "delete")
}

// TestGuardedResourceOnAMissingStore: planning a create warns once that the
// apply creates the store; anything that acts on a resource in the state
// (plan, update, delete) is refused naming the path, never reaches the
// resource, and keeps the run from creating the store.
func TestGuardedResourceOnAMissingStore(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tokenward.db")
	env := registrytest.Env(t, path)
	reg, err := registry.OpenDeferred(ctx, registry.Config{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	stub := &stubResource{}
	g := &guardedResource{Resource: stub, data: &providerData{reg: reg}}
	obj := tftypes.Object{AttributeTypes: map[string]tftypes.Type{}}
	none := tftypes.NewValue(obj, nil)
	some := tftypes.NewValue(obj, map[string]tftypes.Value{})

	var warnings diag.Diagnostics
	for range 2 {
		resp := &resource.ModifyPlanResponse{}
		g.ModifyPlan(ctx, resource.ModifyPlanRequest{State: tfsdk.State{Raw: none}, Plan: tfsdk.Plan{Raw: some}}, resp)
		if resp.Diagnostics.HasError() {
			t.Fatalf("planning a create: %v", resp.Diagnostics)
		}
		warnings.Append(resp.Diagnostics...)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Summary(), "will be created on apply") || !strings.Contains(warnings[0].Detail(), path) {
		t.Fatalf("warnings = %v, want one naming %s", warnings, path)
	}

	refused := func(name string, diags diag.Diagnostics) {
		t.Helper()
		if !diags.HasError() || !strings.Contains(diags[0].Summary(), "lost or mistyped") || !strings.Contains(diags[0].Detail(), path) {
			t.Fatalf("%s: diagnostics %v, want the store refused naming %s", name, diags, path)
		}
	}
	mp := &resource.ModifyPlanResponse{}
	g.ModifyPlan(ctx, resource.ModifyPlanRequest{State: tfsdk.State{Raw: some}, Plan: tfsdk.Plan{Raw: some}}, mp)
	refused("plan an update", mp.Diagnostics)
	up := &resource.UpdateResponse{}
	g.Update(ctx, resource.UpdateRequest{}, up)
	refused("update", up.Diagnostics)
	del := &resource.DeleteResponse{}
	g.Delete(ctx, resource.DeleteRequest{}, del)
	refused("delete", del.Diagnostics)
	rd := &resource.ReadResponse{State: tfsdk.State{Raw: some}}
	g.Read(ctx, resource.ReadRequest{State: tfsdk.State{Raw: some}}, rd)
	refused("read", rd.Diagnostics)
	if len(stub.calls) != 0 {
		t.Fatalf("refused calls reached the resource: %v", stub.calls)
	}
	if _, err := reg.CreateScope(ctx, "billing:read", ""); !errors.Is(err, errStoreLost) {
		t.Fatalf("a change after the refusal: %v, want errStoreLost", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the store was created: %v", err)
	}
}
