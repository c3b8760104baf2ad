package provider

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/defaults"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// TestTokenShortcutKnowsTheSchema: the shortcut answers for the token's
// schema as it is. When a new default or plan modifier makes it decline
// everything, this fails and says which: teach inspect (and idleModifiers)
// about it, after checking it leaves an unchanged token's plan alone.
func TestTokenShortcutKnowsTheSchema(t *testing.T) {
	s := newTokenShortcut()
	if s.unusable != nil {
		t.Fatalf("the shortcut declines every token: %v", s.unusable)
	}
	want := map[string]bool{"ttl": true, "rotate_before": true, "overlap": true, "honeytoken": true, "files.format": true}
	got := map[string]bool{}
	for _, d := range s.defaults {
		name := d.attr
		if d.nested != "" {
			name += "." + d.nested
		}
		got[name] = true
	}
	for n := range want {
		if !got[n] {
			t.Errorf("the shortcut does not check the default of %s", n)
		}
	}
}

// TestTokenShortcutRefusesWhatItCannotProve: a plan modifier it does not
// know (on an attribute or on a list's nested object), a default that is
// not static, and an attribute type it does not read each make inspect
// refuse, so the shortcut declines rather than answer wrongly.
func TestTokenShortcutRefusesWhatItCannotProve(t *testing.T) {
	ctx := context.Background()
	unknownModifier := listplanmodifier.RequiresReplace()
	cases := map[string]schema.Attribute{
		"modifier": schema.StringAttribute{Optional: true, PlanModifiers: []planmodifier.String{plansNow{}}},
		"nested object modifier": schema.ListNestedAttribute{Optional: true, NestedObject: schema.NestedAttributeObject{
			Attributes:    map[string]schema.Attribute{"a": schema.StringAttribute{Optional: true}},
			PlanModifiers: []planmodifier.Object{objectplanmodifier.RequiresReplace()},
		}},
		"list modifier":      schema.ListAttribute{Optional: true, ElementType: types.StringType, PlanModifiers: []planmodifier.List{unknownModifier}},
		"dynamic default":    schema.StringAttribute{Optional: true, Computed: true, Default: dynamicDefault{}},
		"unknown type":       schema.Float64Attribute{Optional: true},
		"set nested":         schema.SetNestedAttribute{Optional: true, NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{"a": schema.StringAttribute{Optional: true}}}},
		"static default, ok": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("x")},
	}
	for name, a := range cases {
		_, err := inspectAttribute(ctx, "attr", a)
		if ok := name == "static default, ok"; (err == nil) != ok {
			t.Errorf("%s: inspect says %v", name, err)
		}
	}
}

// plansNow is a plan modifier that changes every plan.
type plansNow struct{}

func (plansNow) Description(context.Context) string         { return "now" }
func (plansNow) MarkdownDescription(context.Context) string { return "now" }
func (plansNow) PlanModifyString(_ context.Context, _ planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	resp.PlanValue = types.StringValue(time.Now().String())
}

// dynamicDefault is a default inspect cannot take once.
type dynamicDefault struct{}

func (dynamicDefault) Description(context.Context) string         { return "now" }
func (dynamicDefault) MarkdownDescription(context.Context) string { return "now" }
func (dynamicDefault) DefaultString(_ context.Context, _ defaults.StringRequest, resp *defaults.StringResponse) {
	resp.PlanValue = types.StringValue(time.Now().String())
}

// TestProviderPrivate: the shortcut reads only private states the framework
// reads as it does, with the provider's keys alone.
func TestProviderPrivate(t *testing.T) {
	for raw, ok := range map[string]bool{
		``:                            true,
		`{}`:                          true,
		`{"store":"ImFiYyI="}`:        true,  // "abc"
		`null`:                        false, // the framework reads no object
		`[]`:                          false,
		`{"store":"/w=="}`:            false, // not UTF-8
		`{"store":"e30K","x":"ew=="}`: false, // "{" is not JSON
		`{".import":"dHJ1ZQ=="}`:      false, // the framework's own key
	} {
		if _, got := providerPrivate([]byte(raw)); got != ok {
			t.Errorf("private state %s: read %t, want %t", raw, got, ok)
		}
	}
}
