package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
)

// Setting values travel as plain HCL values in configuration (`default = 15`,
// `default = ["a"]`, `default = { a = 1 }`) and as JSON in the registry. The
// functions below convert between the two. A number is written in its
// shortest exact decimal form, so 15 and 15.0 are the same JSON value.

// errUnknown says a value is not known yet; checks wait for apply.
var errUnknown = errors.New("value is not known yet")

// known tells whether v and everything in it is known.
func known(v attr.Value) bool {
	if v == nil || v.IsNull() {
		return true
	}
	if v.IsUnknown() {
		return false
	}
	switch v := v.(type) {
	case basetypes.DynamicValue:
		return known(v.UnderlyingValue())
	case basetypes.ListValue:
		return allKnown(v.Elements())
	case basetypes.SetValue:
		return allKnown(v.Elements())
	case basetypes.TupleValue:
		return allKnown(v.Elements())
	case basetypes.MapValue:
		for _, e := range v.Elements() {
			if !known(e) {
				return false
			}
		}
	case basetypes.ObjectValue:
		for _, e := range v.Attributes() {
			if !known(e) {
				return false
			}
		}
	}
	return true
}

func allKnown(vs []attr.Value) bool {
	for _, v := range vs {
		if !known(v) {
			return false
		}
	}
	return true
}

// jsonFromValue returns the JSON of a Terraform value. It refuses unknown
// values: callers check IsUnknown first and postpone the work to apply.
func jsonFromValue(v attr.Value) (json.RawMessage, error) {
	x, err := plainFromValue(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

// plainFromValue returns v as the Go value encoding/json writes: nil, string,
// bool, json.Number, []any or map[string]any.
func plainFromValue(v attr.Value) (any, error) {
	if v == nil || v.IsNull() {
		return nil, nil
	}
	if v.IsUnknown() {
		return nil, errUnknown
	}
	switch v := v.(type) {
	case basetypes.DynamicValue:
		return plainFromValue(v.UnderlyingValue())
	case basetypes.StringValue:
		return v.ValueString(), nil
	case basetypes.BoolValue:
		return v.ValueBool(), nil
	case basetypes.NumberValue:
		return numberText(v.ValueBigFloat())
	case basetypes.Int64Value:
		return json.Number(fmt.Sprint(v.ValueInt64())), nil
	case basetypes.Float64Value:
		return numberText(big.NewFloat(v.ValueFloat64()))
	case basetypes.ListValue:
		return plainList(v.Elements())
	case basetypes.SetValue:
		return plainList(v.Elements())
	case basetypes.TupleValue:
		return plainList(v.Elements())
	case basetypes.MapValue:
		return plainMap(v.Elements())
	case basetypes.ObjectValue:
		return plainMap(v.Attributes())
	}
	return nil, fmt.Errorf("values of type %s cannot be stored", v.Type(context.Background()))
}

func numberText(f *big.Float) (json.Number, error) {
	if f == nil || f.IsInf() {
		return "", fmt.Errorf("a number must be finite")
	}
	if f.IsInt() {
		i, _ := f.Int(nil)
		return json.Number(i.String()), nil
	}
	return json.Number(f.Text('g', -1)), nil
}

func plainList(elems []attr.Value) (any, error) {
	out := make([]any, len(elems))
	for i, e := range elems {
		x, err := plainFromValue(e)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i+1, err)
		}
		out[i] = x
	}
	return out, nil
}

func plainMap(elems map[string]attr.Value) (any, error) {
	out := make(map[string]any, len(elems))
	for k, e := range elems {
		x, err := plainFromValue(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = x
	}
	return out, nil
}

// valueFromJSON returns the Terraform value of JSON as HCL would write it: a
// string, number or bool; a tuple for an array; an object for an object; a
// dynamic null for null.
func valueFromJSON(raw json.RawMessage) (types.Dynamic, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return types.DynamicNull(), fmt.Errorf("decode JSON: %w", err)
	}
	v, err := valueFromPlain(x)
	if err != nil {
		return types.DynamicNull(), err
	}
	if v == nil {
		return types.DynamicNull(), nil
	}
	return types.DynamicValue(v), nil
}

func valueFromPlain(x any) (attr.Value, error) {
	switch x := x.(type) {
	case nil:
		return nil, nil
	case string:
		return types.StringValue(x), nil
	case bool:
		return types.BoolValue(x), nil
	case json.Number:
		f, _, err := big.ParseFloat(string(x), 10, 512, big.ToNearestEven)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return types.NumberValue(f), nil
	case []any:
		elems := make([]attr.Value, len(x))
		typs := make([]attr.Type, len(x))
		for i, it := range x {
			v, err := valueFromPlain(it)
			if err != nil {
				return nil, err
			}
			elems[i], typs[i] = orDynamicNull(v)
		}
		t, diags := types.TupleValue(typs, elems)
		if diags.HasError() {
			return nil, fmt.Errorf("build a tuple: %v", diags)
		}
		return t, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make(map[string]attr.Value, len(x))
		typs := make(map[string]attr.Type, len(x))
		for _, k := range keys {
			v, err := valueFromPlain(x[k])
			if err != nil {
				return nil, err
			}
			attrs[k], typs[k] = orDynamicNull(v)
		}
		o, diags := types.ObjectValue(typs, attrs)
		if diags.HasError() {
			return nil, fmt.Errorf("build an object: %v", diags)
		}
		return o, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", x)
}

// orDynamicNull stands a dynamic null in for a JSON null inside a collection.
func orDynamicNull(v attr.Value) (attr.Value, attr.Type) {
	if v == nil {
		return types.DynamicNull(), types.DynamicType
	}
	return v, v.Type(context.Background())
}

// canonicalJSON returns raw with object keys sorted, no spaces and numbers
// in their shortest exact form, so two spellings of one value compare equal.
func canonicalJSON(raw json.RawMessage) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return "", fmt.Errorf("decode JSON: %w", err)
	}
	x, err := canonicalNumbers(x)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(x)
	return string(b), err
}

func canonicalNumbers(x any) (any, error) {
	switch x := x.(type) {
	case json.Number:
		f, _, err := big.ParseFloat(string(x), 10, 512, big.ToNearestEven)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return numberText(f)
	case []any:
		for i := range x {
			v, err := canonicalNumbers(x[i])
			if err != nil {
				return nil, err
			}
			x[i] = v
		}
	case map[string]any:
		for k := range x {
			v, err := canonicalNumbers(x[k])
			if err != nil {
				return nil, err
			}
			x[k] = v
		}
	}
	return x, nil
}

// sameJSON tells whether a and b are the same JSON value.
func sameJSON(a, b json.RawMessage) bool {
	ca, err := canonicalJSON(a)
	if err != nil {
		return false
	}
	cb, err := canonicalJSON(b)
	return err == nil && ca == cb
}

// keepIfSame returns prior when it holds the same JSON value as stored, so a
// refresh keeps the configuration's spelling (a list where the store reads
// back a tuple, 15.0 for 15); otherwise the value read from the store.
func keepIfSame(prior types.Dynamic, stored json.RawMessage) (types.Dynamic, error) {
	if !prior.IsNull() && !prior.IsUnknown() {
		if p, err := jsonFromValue(prior); err == nil && sameJSON(p, stored) {
			return prior, nil
		}
	}
	return valueFromJSON(stored)
}
