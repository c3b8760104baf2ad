package provider

import (
	"context"
	"fmt"
	"reflect"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// getModel decodes raw, an object of type t (a schema's Type()), into
// target, a pointer to a struct of attr.Value fields tagged `tfsdk` with
// the attributes' names: what tfsdk's Config, Plan and State Get do for such
// a struct. It exists for cost: Get compiles a regular expression for every
// field of every call (terraform-plugin-framework v1.19,
// internal/reflect.isValidFieldName), which made decoding a token's model
// the larger part of the provider's own time in a plan (bench/plan.sh,
// BenchmarkTokenPlan). Nested values are decoded by their types as Get
// does; every field must have an attribute and every attribute a field.
func getModel(ctx context.Context, t attr.Type, raw tftypes.Value, target any) diag.Diagnostics {
	var diags diag.Diagnostics
	fail := func(format string, args ...any) diag.Diagnostics {
		diags.AddError("Value Conversion Error",
			"An unexpected error was encountered decoding a value; this is a bug in the tokenward provider. "+fmt.Sprintf(format, args...))
		return diags
	}
	obj, ok := t.(basetypes.ObjectType)
	if !ok {
		return fail("%s is not an object type.", t)
	}
	v := reflect.ValueOf(target)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fail("the target is %T, not a pointer to a struct.", target)
	}
	v = v.Elem()
	var attrs map[string]tftypes.Value
	if err := raw.As(&attrs); err != nil {
		return fail("%s.", err)
	}
	if raw.IsNull() || !raw.IsKnown() {
		return fail("the object is null or unknown.")
	}
	if v.NumField() != len(obj.AttrTypes) {
		return fail("%s has %d fields for %d attributes.", v.Type(), v.NumField(), len(obj.AttrTypes))
	}
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("tfsdk")
		at, ok := obj.AttrTypes[name]
		if !ok {
			return fail("%s.%s has no attribute %q.", v.Type(), v.Type().Field(i).Name, name)
		}
		val, err := at.ValueFromTerraform(ctx, attrs[name])
		if err != nil {
			return fail("attribute %s: %s.", name, err)
		}
		rv := reflect.ValueOf(val)
		if !rv.Type().AssignableTo(v.Field(i).Type()) {
			return fail("attribute %s is a %s, field %s a %s.", name, rv.Type(), v.Type().Field(i).Name, v.Field(i).Type())
		}
		v.Field(i).Set(rv)
	}
	return diags
}
