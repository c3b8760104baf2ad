package provider

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// calls records what validators were called with, as "kind path
// expression value", and fails a value equal to fail.
type calls struct {
	mu   sync.Mutex
	got  []string
	fail string
}

func (c *calls) record(kind string, p fmt.Stringer, pe fmt.Stringer, v fmt.Stringer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := v.String()
	c.got = append(c.got, fmt.Sprintf("%s %s %s %s", kind, p, pe, s))
	return c.fail != "" && s == c.fail
}

func (c *calls) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.got
	c.got = nil
	slices.Sort(out)
	return out
}

type recorder struct{ c *calls }

func (recorder) Description(context.Context) string         { return "records its calls" }
func (recorder) MarkdownDescription(context.Context) string { return "records its calls" }
func (r recorder) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if r.c.record("string", req.Path, req.PathExpression, req.ConfigValue) {
		resp.Diagnostics.AddAttributeError(req.Path, "Refused", "the test refuses this value")
	}
}
func (r recorder) ValidateList(_ context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if r.c.record("list", req.Path, req.PathExpression, req.ConfigValue) {
		resp.Diagnostics.AddAttributeError(req.Path, "Refused", "the test refuses this value")
	}
}
func (r recorder) ValidateObject(_ context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if r.c.record("object", req.Path, req.PathExpression, req.ConfigValue) {
		resp.Diagnostics.AddAttributeError(req.Path, "Refused", "the test refuses this value")
	}
}
func (r recorder) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if r.c.record("int64", req.Path, req.PathExpression, req.ConfigValue) {
		resp.Diagnostics.AddAttributeError(req.Path, "Refused", "the test refuses this value")
	}
}
func (r recorder) ValidateSet(_ context.Context, req validator.SetRequest, resp *validator.SetResponse) {
	if r.c.record("set", req.Path, req.PathExpression, req.ConfigValue) {
		resp.Diagnostics.AddAttributeError(req.Path, "Refused", "the test refuses this value")
	}
}

// walkProvider serves one resource, walk_thing, of schema sch.
type walkProvider struct{ sch schema.Schema }

func (walkProvider) Metadata(_ context.Context, _ fwprovider.MetadataRequest, resp *fwprovider.MetadataResponse) {
	resp.TypeName = "walk"
}
func (walkProvider) Schema(context.Context, fwprovider.SchemaRequest, *fwprovider.SchemaResponse) {}
func (walkProvider) Configure(context.Context, fwprovider.ConfigureRequest, *fwprovider.ConfigureResponse) {
}
func (p walkProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return walkThing(p) }}
}
func (walkProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }

type walkThing walkProvider

func (walkThing) Metadata(_ context.Context, _ resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = "walk_thing"
}
func (t walkThing) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = t.sch
}
func (walkThing) Create(context.Context, resource.CreateRequest, *resource.CreateResponse) {}
func (walkThing) Read(context.Context, resource.ReadRequest, *resource.ReadResponse)       {}
func (walkThing) Update(context.Context, resource.UpdateRequest, *resource.UpdateResponse) {}
func (walkThing) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

// TestSchemaPassesAsTheFramework checks the shortcut's walk against the
// framework's SchemaValidate on a schema with validators at every level
// (the token's own has none yet, but a custom type that validates itself):
// where the framework finds nothing the walk passes a plain configuration,
// having called the same validators with the same paths and values; where
// the framework says anything the walk fails.
func TestSchemaPassesAsTheFramework(t *testing.T) {
	ctx := t.Context()
	c := &calls{}
	rec := recorder{c}
	sch := schema.Schema{Attributes: map[string]schema.Attribute{
		"id":   schema.StringAttribute{Computed: true},
		"name": schema.StringAttribute{Required: true, Validators: []validator.String{rec}},
		"ttl":  schema.StringAttribute{Optional: true, CustomType: durationType{}, Validators: []validator.String{rec}},
		"tags": schema.SetAttribute{Optional: true, ElementType: types.StringType, Validators: []validator.Set{rec}},
		"items": schema.ListNestedAttribute{Optional: true, Validators: []validator.List{rec}, NestedObject: schema.NestedAttributeObject{
			Validators: []validator.Object{rec},
			Attributes: map[string]schema.Attribute{
				"path": schema.StringAttribute{Required: true, Validators: []validator.String{rec}},
				"mode": schema.StringAttribute{Optional: true},
			},
		}},
		"limit": schema.SingleNestedAttribute{Optional: true, Validators: []validator.Object{rec}, Attributes: map[string]schema.Attribute{
			"n": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{rec}},
		}},
		"old": schema.StringAttribute{Optional: true, DeprecationMessage: "use name"},
	}}
	srv, err := providerserver.NewProtocol6WithError(walkProvider{sch})()
	if err != nil {
		t.Fatal(err)
	}
	typ := sch.Type().TerraformType(ctx).(tftypes.Object)
	itemType := typ.AttributeTypes["items"].(tftypes.List).ElementType
	limitType := typ.AttributeTypes["limit"]
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	item := func(p string) tftypes.Value {
		return tftypes.NewValue(itemType, map[string]tftypes.Value{"path": str(p), "mode": tftypes.NewValue(tftypes.String, nil)})
	}
	config := func(set map[string]tftypes.Value) tftypes.Value {
		all := map[string]tftypes.Value{
			"name":  str("app"),
			"ttl":   str("90d"),
			"tags":  tftypes.NewValue(typ.AttributeTypes["tags"], []tftypes.Value{str("a"), str("b")}),
			"items": tftypes.NewValue(typ.AttributeTypes["items"], []tftypes.Value{item("a.env"), item("b.env")}),
			"limit": tftypes.NewValue(limitType, map[string]tftypes.Value{"n": tftypes.NewValue(tftypes.Number, 5)}),
		}
		for k, v := range set {
			all[k] = v
		}
		for name, at := range typ.AttributeTypes {
			if _, ok := all[name]; !ok {
				all[name] = tftypes.NewValue(at, nil)
			}
		}
		return tftypes.NewValue(typ, all)
	}
	cases := []struct {
		name  string
		value tftypes.Value
		fail  string
		plain bool // the walk takes it when the framework passes it
	}{
		{"every attribute set and valid", config(nil), "", true},
		{"optional attributes null", config(map[string]tftypes.Value{
			"ttl": tftypes.NewValue(tftypes.String, nil), "tags": tftypes.NewValue(typ.AttributeTypes["tags"], nil),
			"items": tftypes.NewValue(typ.AttributeTypes["items"], nil), "limit": tftypes.NewValue(limitType, nil),
		}), "", true},
		{"unknown values", config(map[string]tftypes.Value{
			"name": tftypes.NewValue(tftypes.String, tftypes.UnknownValue), "items": tftypes.NewValue(typ.AttributeTypes["items"], tftypes.UnknownValue),
			"limit": tftypes.NewValue(limitType, tftypes.UnknownValue),
		}), "", true},
		{"an unknown element", config(map[string]tftypes.Value{
			"items": tftypes.NewValue(typ.AttributeTypes["items"], []tftypes.Value{tftypes.NewValue(itemType, tftypes.UnknownValue)}),
		}), "", false},
		{"a top-level validator refuses", config(nil), `"app"`, false},
		{"a nested attribute's validator refuses", config(nil), `"b.env"`, false},
		{"a nested object's validator refuses", config(nil), `{"mode":<null>,"path":"a.env"}`, false},
		{"an int64 validator refuses", config(nil), `5`, false},
		{"a required attribute is null", config(map[string]tftypes.Value{"name": tftypes.NewValue(tftypes.String, nil)}), "", false},
		{"a nested required attribute is null", config(map[string]tftypes.Value{
			"items": tftypes.NewValue(typ.AttributeTypes["items"], []tftypes.Value{tftypes.NewValue(itemType, map[string]tftypes.Value{
				"path": tftypes.NewValue(tftypes.String, nil), "mode": tftypes.NewValue(tftypes.String, nil)})}),
		}), "", false},
		{"a read-only attribute is set", config(map[string]tftypes.Value{"id": str("x")}), "", false},
		{"a value fails its own validation", config(map[string]tftypes.Value{"ttl": str("forever")}), "", false},
		{"a deprecated attribute is set", config(map[string]tftypes.Value{"old": str("x")}), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.fail = tc.fail
			dv, err := tfprotov6.NewDynamicValue(typ, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: "walk_thing", Config: &dv})
			if err != nil {
				t.Fatal(err)
			}
			framework := c.take()
			passes := schemaPasses(ctx, sch, tfsdk.Config{Schema: sch, Raw: tc.value}, false)
			walked := c.take()
			switch {
			case passes && len(resp.Diagnostics) > 0:
				t.Fatalf("the walk passed what the framework refuses: %s: %s", resp.Diagnostics[0].Summary, resp.Diagnostics[0].Detail)
			case !passes && len(resp.Diagnostics) == 0 && tc.plain:
				t.Fatal("the walk refused a plain configuration the framework passes")
			case passes && tc.fail != "":
				t.Fatal("the walk passed a value a validator refuses")
			case passes && !slices.Equal(framework, walked):
				t.Fatalf("the walk called validators with\n%q\nthe framework with\n%q", walked, framework)
			}
			if refused := !tc.plain && tc.name != "an unknown element"; refused && len(resp.Diagnostics) == 0 {
				t.Fatal("the framework passed it: the case tests nothing")
			}
			if tc.plain && len(framework) == 0 && tc.name == "every attribute set and valid" {
				t.Fatal("the framework called no validator: the test checks nothing")
			}
		})
	}
}
