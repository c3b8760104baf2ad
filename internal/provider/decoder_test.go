package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// TestGetModel decodes token values as tfsdk's Get does: the same model
// for known, null and unknown attributes, nested lists included.
func TestGetModel(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var sr resource.SchemaResponse
	(&tokenResource{}).Schema(ctx, resource.SchemaRequest{}, &sr)
	typ := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	obj := func(attrs map[string]tftypes.Value) tftypes.Value {
		all := map[string]tftypes.Value{}
		for name, at := range typ.AttributeTypes {
			all[name] = tftypes.NewValue(at, nil)
			if v, ok := attrs[name]; ok {
				all[name] = v
			}
		}
		return tftypes.NewValue(typ, all)
	}
	fileT := typ.AttributeTypes["files"].(tftypes.List).ElementType
	orgT := typ.AttributeTypes["github_organization_secrets"].(tftypes.List).ElementType
	cases := map[string]tftypes.Value{
		"nulls": obj(nil),
		"known": obj(map[string]tftypes.Value{
			"id": str("ci"), "name": str("ci"), "owner": str("platform"), "ttl": str("90d"), "overlap": str("24h"),
			"scopes":            tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, []tftypes.Value{str("a:read"), str("b:write")}),
			"rotation_triggers": tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, map[string]tftypes.Value{"x": str("1")}),
			"files": tftypes.NewValue(tftypes.List{ElementType: fileT}, []tftypes.Value{tftypes.NewValue(fileT, map[string]tftypes.Value{
				"path": str("/tmp/x"), "resolved_path": str("/tmp/x"), "key": tftypes.NewValue(tftypes.String, nil), "format": str("raw"),
				"mode": str("0640"), "owner": str("app"), "group": tftypes.NewValue(tftypes.String, nil),
			})}),
			"github_organization_secrets": tftypes.NewValue(tftypes.List{ElementType: orgT}, []tftypes.Value{tftypes.NewValue(orgT, map[string]tftypes.Value{
				"organization": str("acme"), "name": str("T"), "visibility": str("selected"),
				"repositories": tftypes.NewValue(tftypes.List{ElementType: tftypes.String}, []tftypes.Value{str("api")}),
			})}),
			"status": str(statusActive),
		}),
		"unknowns": obj(map[string]tftypes.Value{
			"name":          tftypes.NewValue(tftypes.String, tftypes.UnknownValue),
			"rotate_before": tftypes.NewValue(tftypes.String, tftypes.UnknownValue),
			"roles":         tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, tftypes.UnknownValue),
			"files": tftypes.NewValue(tftypes.List{ElementType: fileT}, []tftypes.Value{tftypes.NewValue(fileT, map[string]tftypes.Value{
				"path": tftypes.NewValue(tftypes.String, tftypes.UnknownValue), "key": str("K"), "format": str("dotenv"),
				"resolved_path": tftypes.NewValue(tftypes.String, tftypes.UnknownValue), "mode": tftypes.NewValue(tftypes.String, nil),
				"owner": tftypes.NewValue(tftypes.String, nil), "group": tftypes.NewValue(tftypes.String, tftypes.UnknownValue),
			})}),
			"github_secrets": tftypes.NewValue(typ.AttributeTypes["github_secrets"], tftypes.UnknownValue),
		}),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var want, got tokenModel
			cfg := tfsdk.Config{Schema: sr.Schema, Raw: raw}
			if d := cfg.Get(ctx, &want); d.HasError() {
				t.Fatal(d)
			}
			if d := getModel(ctx, cfg.Schema.Type(), raw, &got); d.HasError() {
				t.Fatal(d)
			}
			if !sameModel(got, want) {
				t.Errorf("getModel = %+v\nGet      = %+v", got, want)
			}
		})
	}
	t.Run("mismatched struct", func(t *testing.T) {
		t.Parallel()
		var m struct {
			Name types.String `tfsdk:"name"`
		}
		if d := getModel(ctx, sr.Schema.Type(), cases["known"], &m); !d.HasError() {
			t.Error("getModel into a struct without every attribute succeeded")
		}
	})
	t.Run("null object", func(t *testing.T) {
		t.Parallel()
		var m tokenModel
		if d := getModel(ctx, sr.Schema.Type(), tftypes.NewValue(typ, nil), &m); !d.HasError() {
			t.Error("getModel of a null object succeeded")
		}
	})
}
