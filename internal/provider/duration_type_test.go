package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

func dv(s string) durationValue { return durationValue{StringValue: types.StringValue(s)} }

func TestDurationSemanticEquals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		want bool
	}{
		{"24h", "1d", true},
		{"1d", "24h", true},
		{"2w", "14d", true},
		{"1d12h", "36h", true},
		{"90d", "2160h", true},
		{"1d", "1d", true},
		{"1d", "25h", false},
		{"1d", "nonsense", false},
		{"nonsense", "nonsense", false},
	}
	for _, tc := range cases {
		got, diags := dv(tc.a).StringSemanticEquals(context.Background(), dv(tc.b))
		if diags.HasError() {
			t.Fatalf("%s ~ %s: %v", tc.a, tc.b, diags)
		}
		if got != tc.want {
			t.Errorf("%s ~ %s = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if _, diags := dv("1d").StringSemanticEquals(context.Background(), types.StringValue("1d")); !diags.HasError() {
		t.Error("comparing with a plain string reported no error")
	}
}

func TestDurationValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		v    durationValue
		fail bool
	}{
		{dv("90d"), false},
		{dv("1d12h"), false},
		{dv("0"), false},
		{durationNull(), false},
		{durationUnknown(), false},
		{dv(""), true},
		{dv("90"), true},
		{dv("3 days"), true},
		{dv("-1d"), true},
		{dv("1y"), true},
	}
	for _, tc := range cases {
		var resp xattr.ValidateAttributeResponse
		tc.v.ValidateAttribute(context.Background(), xattr.ValidateAttributeRequest{Path: path.Root("ttl")}, &resp)
		if resp.Diagnostics.HasError() != tc.fail {
			t.Errorf("%s: errors %v, want failure %v", tc.v, resp.Diagnostics, tc.fail)
		}
		for _, d := range resp.Diagnostics {
			if wp, ok := d.(interface{ Path() path.Path }); !ok || !wp.Path().Equal(path.Root("ttl")) {
				t.Errorf("%s: diagnostic not on the attribute: %v", tc.v, d)
			}
		}
	}
}

func TestDurationTypeRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v, err := (durationType{}).ValueFromTerraform(ctx, tftypes.NewValue(tftypes.String, "1d"))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Equal(dv("1d")) || v.Equal(dv("24h")) {
		t.Fatalf("value %v: Equal must compare spellings, semantic equality compares lengths", v)
	}
	if !v.Type(ctx).Equal(durationType{}) || (durationType{}).Equal(types.StringType) {
		t.Fatal("type equality")
	}
	if d, ok := durationOf(36 * 3600e9).Duration(); !ok || d.Hours() != 36 {
		t.Fatalf("durationOf(36h) = %v, %v", d, ok)
	}
}

func TestKeepEquivalentDuration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		state, plan types.String
		want        types.String
	}{
		{types.StringValue("24h"), types.StringValue("1d"), types.StringValue("24h")},
		{types.StringValue("24h"), types.StringValue("2d"), types.StringValue("2d")},
		{types.StringNull(), types.StringValue("1d"), types.StringValue("1d")},
		{types.StringValue("24h"), types.StringUnknown(), types.StringUnknown()},
		{types.StringValue("24h"), types.StringValue("bad"), types.StringValue("bad")},
	}
	for _, tc := range cases {
		resp := planmodifier.StringResponse{PlanValue: tc.plan}
		(keepEquivalentDuration{}).PlanModifyString(context.Background(), planmodifier.StringRequest{StateValue: tc.state, PlanValue: tc.plan, ConfigValue: tc.plan}, &resp)
		if resp.Diagnostics.HasError() || !resp.PlanValue.Equal(tc.want) {
			t.Errorf("state %s plan %s: got %s (%v), want %s", tc.state, tc.plan, resp.PlanValue, resp.Diagnostics, tc.want)
		}
	}
}
