package provider_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/pluginserver"
	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

// TestTokenReadFollowsTheStoreInOneProcess: one provider process reads its
// tokens from a snapshot it loads once, yet a rotation by the workflow, a
// second token and a deletion made outside it show at its next Read, and
// the rotation plans no diff.
func TestTokenReadFollowsTheStoreInOneProcess(t *testing.T) {
	ctx := t.Context()
	env := testEnv(t)
	reg := tokenRegistry(t, env)
	srv, schemas := configuredServer(t, env)
	tokType := schemas.ResourceSchemas["tokenward_token"].ValueType()
	fileType := tokType.(tftypes.Object).AttributeTypes["files"].(tftypes.List).ElementType
	dir := t.TempDir()
	config := func(name string) *tfprotov6.DynamicValue {
		fileAttrs := map[string]tftypes.Value{}
		for n, at := range fileType.(tftypes.Object).AttributeTypes {
			fileAttrs[n] = tftypes.NewValue(at, nil)
		}
		fileAttrs["path"] = tftypes.NewValue(tftypes.String, filepath.Join(dir, name+".env"))
		return dynamic(t, tokType, map[string]tftypes.Value{
			"name":  tftypes.NewValue(tftypes.String, name),
			"files": tftypes.NewValue(tftypes.List{ElementType: fileType}, []tftypes.Value{tftypes.NewValue(fileType, fileAttrs)}),
		})
	}
	nullState, err := tfprotov6.NewDynamicValue(tokType, tftypes.NewValue(tokType, nil))
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string) *tfprotov6.DynamicValue {
		planned, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
			TypeName: "tokenward_token", PriorState: &nullState, ProposedNewState: config(name), Config: config(name),
		})
		if err != nil || len(planned.Diagnostics) > 0 {
			t.Fatal(err, describe(planned.Diagnostics))
		}
		applied, err := srv.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{
			TypeName: "tokenward_token", PriorState: &nullState, PlannedState: planned.PlannedState, Config: config(name),
		})
		if err != nil || len(applied.Diagnostics) > 0 {
			t.Fatal(err, describe(applied.Diagnostics))
		}
		return applied.NewState
	}
	read := func(state *tfprotov6.DynamicValue) tftypes.Value {
		t.Helper()
		r, err := srv.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: "tokenward_token", CurrentState: state})
		if err != nil || len(r.Diagnostics) > 0 {
			t.Fatal(err, describe(r.Diagnostics))
		}
		v, err := r.NewState.Unmarshal(tokType)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	attr := func(v tftypes.Value, name string) string {
		t.Helper()
		var attrs map[string]tftypes.Value
		if err := v.As(&attrs); err != nil {
			t.Fatal(err)
		}
		var s string
		if err := attrs[name].As(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	encode := func(v tftypes.Value) *tfprotov6.DynamicValue {
		dv, err := tfprotov6.NewDynamicValue(tokType, v)
		if err != nil {
			t.Fatal(err)
		}
		return &dv
	}

	first := create("ci-deploy")
	before := read(first)
	if again := read(first); attr(again, "current_version") != attr(before, "current_version") {
		t.Fatalf("a second Read with no change saw version %s, the first %s", attr(again, "current_version"), attr(before, "current_version"))
	}
	// Read loads the snapshot before the workflow runs, in this process.
	res, err := rotation.New(reg, destination.NewRouter(nil)).Rotate(context.Background(), "ci-deploy")
	if err != nil {
		t.Fatal(err)
	}
	after := read(first)
	if got := attr(after, "fingerprint"); got != res.To || attr(after, "current_version") == attr(before, "current_version") {
		t.Fatalf("after the workflow's rotation Read saw fingerprint %s (version %s), want %s", got, attr(after, "current_version"), res.To)
	}
	state := encode(after)
	p, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
		TypeName: "tokenward_token", PriorState: state, ProposedNewState: state, Config: config("ci-deploy"),
	})
	if err != nil || len(p.Diagnostics) > 0 {
		t.Fatal(err, describe(p.Diagnostics))
	}
	if !equalDynamic(t, tokType, p.PlannedState, state) || len(p.RequiresReplace) > 0 {
		t.Error("the plan after the workflow's rotation is not empty")
	}

	// Another token, created by this process after the snapshot was loaded.
	second := create("ci-other")
	if got := attr(read(second), "name"); got != "ci-other" {
		t.Fatalf("Read of a token created after the snapshot saw %q", got)
	}

	if err := reg.DeleteToken(context.Background(), "ci-deploy"); err != nil {
		t.Fatal(err)
	}
	if gone := read(encode(after)); !gone.IsNull() {
		t.Error("Read of a token deleted outside Terraform did not remove it")
	}
	if got := attr(read(second), "name"); got != "ci-other" {
		t.Fatalf("Read of the other token after a deletion saw %q", got)
	}
}

// configuredServer is the server main.go serves, with the provider
// configured from env, and its schemas; every shortcut answer is checked.
func configuredServer(t *testing.T, env map[string]string) (*pluginserver.Server, *tfprotov6.GetProviderSchemaResponse) {
	t.Helper()
	srv, err := pluginserver.NewServer(provider.New("test", func(k string) string { return env[k] })(), pluginserver.WithShortcutCheck())
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(t.Context(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || len(schemas.Diagnostics) > 0 {
		t.Fatal(err, describe(schemas.Diagnostics))
	}
	cfg, err := srv.ConfigureProvider(t.Context(), &tfprotov6.ConfigureProviderRequest{Config: dynamic(t, schemas.Provider.ValueType(), nil)})
	if err != nil || len(cfg.Diagnostics) > 0 {
		t.Fatal(err, describe(cfg.Diagnostics))
	}
	return srv, schemas
}
