package provider

import (
	"context"
	"reflect"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
)

// listAs and listFrom convert a list of objects to a slice of model
// structs (fields of the framework's base value types, tagged tfsdk) and
// back, as decoder.go's getModel decodes a resource's whole model: what the
// framework's ElementsAs and ListValueFrom do, for the destination lists a
// plan reads and writes for every token. They exist because the
// framework's reflection is the larger part of a token's Read and plan:
// terraform-plugin-framework v1.19 compiles a regular expression for every
// struct field of every element it converts (internal/reflect's
// isValidFieldName, called by getStructTags), about 10% of the provider's
// CPU in a plan of 1,000 unchanged tokens (perf of bench/plan.sh), with the
// garbage that goes with it. Here a struct's fields are looked up once per
// type.
//
// Both take the plain case only, a known list of known objects whose
// attributes are exactly the struct's fields and of the fields' types, and
// hand anything else to the framework, so that its answers and its
// diagnostics stay the only ones for the rest (TestListAs pins that both
// agree).

// modelField is one tfsdk-tagged field of a model struct.
type modelField struct {
	name  string
	index int
	typ   reflect.Type
}

// modelFields caches fieldsOf per struct type.
var modelFields sync.Map // reflect.Type -> []modelField, nil when the type is not a plain model

// plainFieldTypes are the field types fieldsOf takes: the framework's base
// values, which neither validate themselves (xattr.ValidateableAttribute)
// nor have a type that does, so converting them says nothing.
var plainFieldTypes = map[reflect.Type]bool{
	reflect.TypeFor[basetypes.StringValue](): true,
	reflect.TypeFor[basetypes.BoolValue]():   true,
	reflect.TypeFor[basetypes.Int64Value]():  true,
	reflect.TypeFor[basetypes.ListValue]():   true,
	reflect.TypeFor[basetypes.SetValue]():    true,
}

// fieldsOf returns t's fields when t is a struct whose every field is
// exported, tagged tfsdk with a name of its own and of a plain type, else
// nil.
func fieldsOf(t reflect.Type) []modelField {
	if fs, ok := modelFields.Load(t); ok {
		return fs.([]modelField)
	}
	var fs []modelField
	if t.Kind() == reflect.Struct {
		names := map[string]bool{}
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("tfsdk")
			if name == "" || name == "-" || names[name] || !f.IsExported() || !plainFieldTypes[f.Type] {
				fs = nil
				break
			}
			names[name] = true
			fs = append(fs, modelField{name: name, index: i, typ: f.Type})
		}
	}
	modelFields.Store(t, fs)
	return fs
}

// listAs is l.ElementsAs(ctx, &out, false).
func listAs[T any](ctx context.Context, l types.List, diags *diag.Diagnostics) []T {
	if out, ok := plainListAs[T](l); ok {
		return out
	}
	var out []T
	diags.Append(l.ElementsAs(ctx, &out, false)...)
	return out
}

// plainListAs converts l when it is plain (see listAs); ok is false
// otherwise.
func plainListAs[T any](l types.List) ([]T, bool) {
	fs := fieldsOf(reflect.TypeFor[T]())
	if fs == nil || l.IsNull() || l.IsUnknown() {
		return nil, false
	}
	elems := l.Elements()
	out := make([]T, len(elems))
	for i, e := range elems {
		o, ok := e.(types.Object)
		if !ok || o.IsNull() || o.IsUnknown() {
			return nil, false
		}
		attrs := o.Attributes()
		if len(attrs) != len(fs) {
			return nil, false
		}
		rv := reflect.ValueOf(&out[i]).Elem()
		for _, f := range fs {
			v, ok := attrs[f.name]
			if !ok || v == nil {
				return nil, false
			}
			av := reflect.ValueOf(v)
			if av.Type() != f.typ {
				return nil, false
			}
			rv.Field(f.index).Set(av)
		}
	}
	return out, true
}

// listFrom is types.ListValueFrom(ctx, t, vs).
func listFrom[T any](ctx context.Context, t types.ObjectType, vs []T, diags *diag.Diagnostics) types.List {
	if l, ok := plainListFrom(t, vs); ok {
		return l
	}
	l, d := types.ListValueFrom(ctx, t, vs)
	diags.Append(d...)
	return l
}

// plainListFrom converts vs when it is plain (see listAs): not nil (the
// framework makes a nil slice a null list), of a model struct with t's
// attributes and types; ok is false otherwise.
func plainListFrom[T any](t types.ObjectType, vs []T) (types.List, bool) {
	fs := fieldsOf(reflect.TypeFor[T]())
	if fs == nil || vs == nil || len(fs) != len(t.AttrTypes) {
		return types.List{}, false
	}
	elems := make([]attr.Value, len(vs))
	for i := range vs {
		rv := reflect.ValueOf(&vs[i]).Elem()
		attrs := make(map[string]attr.Value, len(fs))
		for _, f := range fs {
			attrs[f.name] = rv.Field(f.index).Interface().(attr.Value)
		}
		o, d := types.ObjectValue(t.AttrTypes, attrs)
		if d.HasError() {
			return types.List{}, false
		}
		elems[i] = o
	}
	l, d := types.ListValue(t, elems)
	return l, !d.HasError()
}

// stringSetFrom is types.SetValueFrom(ctx, types.StringType, vs).
func stringSetFrom(ctx context.Context, vs []string, diags *diag.Diagnostics) types.Set {
	if vs == nil {
		s, d := types.SetValueFrom(ctx, types.StringType, vs)
		diags.Append(d...)
		return s
	}
	s, d := types.SetValue(types.StringType, stringValues(vs))
	diags.Append(d...)
	return s
}

// stringListFrom is types.ListValueFrom(ctx, types.StringType, vs).
func stringListFrom(ctx context.Context, vs []string, diags *diag.Diagnostics) types.List {
	if vs == nil {
		l, d := types.ListValueFrom(ctx, types.StringType, vs)
		diags.Append(d...)
		return l
	}
	l, d := types.ListValue(types.StringType, stringValues(vs))
	diags.Append(d...)
	return l
}

func stringValues(vs []string) []attr.Value {
	out := make([]attr.Value, len(vs))
	for i, v := range vs {
		out[i] = types.StringValue(v)
	}
	return out
}
