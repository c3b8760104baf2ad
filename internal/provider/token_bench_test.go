package provider_test

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
)

// BenchmarkTokenPlan measures the provider's side of planning one applied
// token that did not change: the ValidateResourceConfig, ReadResource and
// PlanResourceChange calls Terraform makes for each of the 1,000 tokens of
// bench/plan.sh, without Terraform, gRPC or the machine's other load. Run it
// with -benchmem: allocations are what the garbage collector pays for.
func BenchmarkTokenPlan(b *testing.B) {
	ctx := b.Context()
	env := testEnv(b)
	srv, err := providerserver.NewProtocol6WithError(provider.New("bench", func(k string) string { return env[k] })())()
	if err != nil {
		b.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || len(schemas.Diagnostics) > 0 {
		b.Fatal(err, describe(schemas.Diagnostics))
	}
	provType := schemas.Provider.ValueType()
	tokType := schemas.ResourceSchemas["tokenward_token"].ValueType()
	cfg, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{Config: dynamic(b, provType, nil)})
	if err != nil || len(cfg.Diagnostics) > 0 {
		b.Fatal(err, describe(cfg.Diagnostics))
	}
	fileType := tokType.(tftypes.Object).AttributeTypes["files"].(tftypes.List).ElementType
	fileAttrs := map[string]tftypes.Value{}
	for name, at := range fileType.(tftypes.Object).AttributeTypes {
		fileAttrs[name] = tftypes.NewValue(at, nil)
	}
	fileAttrs["path"] = tftypes.NewValue(tftypes.String, filepath.Join(b.TempDir(), "0.env"))
	fileAttrs["key"] = tftypes.NewValue(tftypes.String, "TOKEN")
	config := dynamic(b, tokType, map[string]tftypes.Value{
		"name":          tftypes.NewValue(tftypes.String, "bench-0"),
		"owner":         tftypes.NewValue(tftypes.String, "bench"),
		"ttl":           tftypes.NewValue(tftypes.String, "90d"),
		"rotate_before": tftypes.NewValue(tftypes.String, "14d"),
		"overlap":       tftypes.NewValue(tftypes.String, "1d"),
		"files":         tftypes.NewValue(tftypes.List{ElementType: fileType}, []tftypes.Value{tftypes.NewValue(fileType, fileAttrs)}),
	})
	nullState, err := tfprotov6.NewDynamicValue(tokType, tftypes.NewValue(tokType, nil))
	if err != nil {
		b.Fatal(err)
	}
	null := &nullState
	const typeName = "tokenward_token"
	created, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
		TypeName: typeName, PriorState: null, ProposedNewState: config, Config: config,
	})
	if err != nil || len(created.Diagnostics) > 0 {
		b.Fatal(err, describe(created.Diagnostics))
	}
	applied, err := srv.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{
		TypeName: typeName, PriorState: null, PlannedState: created.PlannedState, Config: config,
	})
	if err != nil || len(applied.Diagnostics) > 0 {
		b.Fatal(err, describe(applied.Diagnostics))
	}
	state := applied.NewState
	plan := func() *tfprotov6.PlanResourceChangeResponse {
		v, err := srv.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: typeName, Config: config})
		if err != nil || len(v.Diagnostics) > 0 {
			b.Fatal(err, describe(v.Diagnostics))
		}
		r, err := srv.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: typeName, CurrentState: state})
		if err != nil || len(r.Diagnostics) > 0 {
			b.Fatal(err, describe(r.Diagnostics))
		}
		// Terraform proposes the prior state when the configuration
		// matches it.
		p, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
			TypeName: typeName, PriorState: r.NewState, ProposedNewState: r.NewState, Config: config,
		})
		if err != nil || len(p.Diagnostics) > 0 {
			b.Fatal(err, describe(p.Diagnostics))
		}
		return p
	}
	p := plan()
	if !equalDynamic(b, tokType, p.PlannedState, state) || len(p.RequiresReplace) > 0 {
		b.Fatal("the plan of an unchanged token is not empty")
	}
	b.ReportAllocs()
	for b.Loop() {
		plan()
	}
}

// dynamic encodes an object of type t; attributes missing from attrs are
// null.
func dynamic(tb testing.TB, t tftypes.Type, attrs map[string]tftypes.Value) *tfprotov6.DynamicValue {
	tb.Helper()
	all := map[string]tftypes.Value{}
	for name, at := range t.(tftypes.Object).AttributeTypes {
		all[name] = tftypes.NewValue(at, nil)
		if v, ok := attrs[name]; ok {
			all[name] = v
		}
	}
	dv, err := tfprotov6.NewDynamicValue(t, tftypes.NewValue(t, all))
	if err != nil {
		tb.Fatal(err)
	}
	return &dv
}

func equalDynamic(tb testing.TB, t tftypes.Type, a, b *tfprotov6.DynamicValue) bool {
	tb.Helper()
	va, errA := a.Unmarshal(t)
	vb, errB := b.Unmarshal(t)
	if errA != nil || errB != nil {
		tb.Fatal(errA, errB)
	}
	return va.Equal(vb)
}

func describe(ds []*tfprotov6.Diagnostic) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Summary+": "+d.Detail)
	}
	return out
}
