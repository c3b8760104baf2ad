package provider

import (
	"context"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func number(s string) types.Number {
	f, _, err := big.ParseFloat(s, 10, 512, big.ToNearestEven)
	if err != nil {
		panic(err)
	}
	return types.NumberValue(f)
}

func tuple(elems ...attr.Value) attr.Value {
	typs := make([]attr.Type, len(elems))
	for i, e := range elems {
		typs[i] = e.Type(context.Background())
	}
	return types.TupleValueMust(typs, elems)
}

func object(attrs map[string]attr.Value) attr.Value {
	typs := map[string]attr.Type{}
	for k, v := range attrs {
		typs[k] = v.Type(context.Background())
	}
	return types.ObjectValueMust(typs, attrs)
}

func TestJSONFromValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   attr.Value
		want string
	}{
		{"integer", number("15"), `15`},
		{"integer written with a fraction", number("15.0"), `15`},
		{"fraction", number("1.5"), `1.5`},
		{"negative", number("-0.25"), `-0.25`},
		{"large integer", number("12345678901234567890"), `12345678901234567890`},
		{"string", types.StringValue("dark"), `"dark"`},
		{"string with quotes", types.StringValue(`a "b"`), `"a \"b\""`},
		{"true", types.BoolValue(true), `true`},
		{"false", types.BoolValue(false), `false`},
		{"null", types.DynamicNull(), `null`},
		{"dynamic wrapping a number", types.DynamicValue(number("30")), `30`},
		{"tuple of strings", tuple(types.StringValue("a"), types.StringValue("b")), `["a","b"]`},
		{"list of strings", types.ListValueMust(types.StringType, []attr.Value{types.StringValue("a")}), `["a"]`},
		{"set of strings", types.SetValueMust(types.StringType, []attr.Value{types.StringValue("a")}), `["a"]`},
		{"empty tuple", tuple(), `[]`},
		{"map of numbers", types.MapValueMust(types.NumberType, map[string]attr.Value{"b": number("2"), "a": number("1")}), `{"a":1,"b":2}`},
		{"nested object", object(map[string]attr.Value{
			"rate":  number("1.5"),
			"paths": tuple(types.StringValue("/a")),
			"inner": object(map[string]attr.Value{"on": types.BoolValue(true), "none": types.DynamicNull()}),
		}), `{"inner":{"none":null,"on":true},"paths":["/a"],"rate":1.5}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := jsonFromValue(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("jsonFromValue = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestJSONFromValueRefusesUnknown(t *testing.T) {
	t.Parallel()
	for _, v := range []attr.Value{types.DynamicUnknown(), tuple(types.StringUnknown())} {
		if _, err := jsonFromValue(v); err == nil {
			t.Errorf("jsonFromValue(%s) succeeded, want an error", v)
		}
	}
}

// Every JSON value comes back as a Terraform value that converts to the
// same JSON, with arrays as tuples and objects as objects, as HCL writes them.
func TestValueFromJSONRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
	}{
		{`15`, `15`},
		{`15.0`, `15`},
		{`1e3`, `1000`},
		{`0.1`, `0.1`},
		{`"dark"`, `"dark"`},
		{`true`, `true`},
		{`null`, `null`},
		{`["a", "b"]`, `["a","b"]`},
		{`[1, "a", true, null]`, `[1,"a",true,null]`},
		{`{"b": {"c": [1.5]}, "a": null}`, `{"a":null,"b":{"c":[1.5]}}`},
		{`{}`, `{}`},
		{`[]`, `[]`},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			v, err := valueFromJSON(json.RawMessage(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := jsonFromValue(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("round trip of %s = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestValueFromJSONTypes(t *testing.T) {
	t.Parallel()
	v, err := valueFromJSON(json.RawMessage(`{"list": ["a"], "n": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	o, ok := v.UnderlyingValue().(types.Object)
	if !ok {
		t.Fatalf("object became %T", v.UnderlyingValue())
	}
	if _, ok := o.Attributes()["list"].(types.Tuple); !ok {
		t.Errorf("array became %T, want a tuple", o.Attributes()["list"])
	}
	if n, ok := o.Attributes()["n"].(types.Number); !ok || n.ValueBigFloat().Cmp(big.NewFloat(2)) != 0 {
		t.Errorf("2 became %v", o.Attributes()["n"])
	}
	if _, err := valueFromJSON(json.RawMessage(`{`)); err == nil {
		t.Error("valueFromJSON accepted broken JSON")
	}
}

func TestSameJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		same bool
	}{
		{`15`, `15.0`, true},
		{`{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1.00 }`, true},
		{`[1,2]`, `[2,1]`, false},
		{`"15"`, `15`, false},
		{`null`, `null`, true},
		{`{"a":null}`, `{}`, false},
	}
	for _, tc := range cases {
		if got := sameJSON(json.RawMessage(tc.a), json.RawMessage(tc.b)); got != tc.same {
			t.Errorf("sameJSON(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

// A refresh keeps the configuration's spelling when the value is the same,
// and takes the store's when it differs.
func TestKeepIfSame(t *testing.T) {
	t.Parallel()
	prior := types.DynamicValue(types.ListValueMust(types.StringType, []attr.Value{types.StringValue("a")}))
	got, err := keepIfSame(prior, json.RawMessage(`["a"]`))
	if err != nil || !got.Equal(prior) {
		t.Errorf("keepIfSame with the same value = %v, %v; want the prior list", got, err)
	}
	got, err = keepIfSame(prior, json.RawMessage(`["b"]`))
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := jsonFromValue(got); string(j) != `["b"]` {
		t.Errorf("keepIfSame with another value = %s, want [\"b\"]", j)
	}
}
