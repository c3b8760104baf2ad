package main

import (
	"reflect"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	tokenward "github.com/tokenward/terraform-provider-tokenward/internal/provider"
)

// TestSameSchemas: the do-nothing provider offers every tokenward resource
// with exactly its schema, so plan.sh compares like with like.
func TestSameSchemas(t *testing.T) {
	schemas := func(s tfprotov6.ProviderServer) *tfprotov6.GetProviderSchemaResponse {
		t.Helper()
		resp, err := s.GetProviderSchema(t.Context(), &tfprotov6.GetProviderSchemaRequest{})
		if err != nil || len(resp.Diagnostics) > 0 {
			t.Fatal(err, resp.Diagnostics)
		}
		return resp
	}
	real := schemas(providerserver.NewProtocol6(tokenward.New("bench", func(string) string { return "" })())())
	null := schemas(providerserver.NewProtocol6(newProvider())())
	if len(real.ResourceSchemas) == 0 || len(null.ResourceSchemas) != len(real.ResourceSchemas) {
		t.Fatalf("%d resources, tokenward has %d", len(null.ResourceSchemas), len(real.ResourceSchemas))
	}
	for name, want := range real.ResourceSchemas {
		if got := null.ResourceSchemas[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the schema differs from tokenward's", name)
		}
	}
	if !reflect.DeepEqual(null.Provider, real.Provider) {
		t.Error("the provider schema differs from tokenward's")
	}
}

// TestKnown: what was unknown at plan time is stored null, the rest as
// planned.
func TestKnown(t *testing.T) {
	typ := tftypes.Object{AttributeTypes: map[string]tftypes.Type{
		"name": tftypes.String, "id": tftypes.String,
		"files": tftypes.List{ElementType: tftypes.Object{AttributeTypes: map[string]tftypes.Type{"path": tftypes.String, "resolved_path": tftypes.String}}},
	}}
	file := typ.AttributeTypes["files"].(tftypes.List).ElementType
	tests := []struct {
		name     string
		in, want tftypes.Value
	}{
		{"nested and top-level unknowns",
			tftypes.NewValue(typ, map[string]tftypes.Value{
				"name": tftypes.NewValue(tftypes.String, "a"), "id": tftypes.NewValue(tftypes.String, tftypes.UnknownValue),
				"files": tftypes.NewValue(typ.AttributeTypes["files"], []tftypes.Value{tftypes.NewValue(file, map[string]tftypes.Value{
					"path": tftypes.NewValue(tftypes.String, "p"), "resolved_path": tftypes.NewValue(tftypes.String, tftypes.UnknownValue)})}),
			}),
			tftypes.NewValue(typ, map[string]tftypes.Value{
				"name": tftypes.NewValue(tftypes.String, "a"), "id": tftypes.NewValue(tftypes.String, nil),
				"files": tftypes.NewValue(typ.AttributeTypes["files"], []tftypes.Value{tftypes.NewValue(file, map[string]tftypes.Value{
					"path": tftypes.NewValue(tftypes.String, "p"), "resolved_path": tftypes.NewValue(tftypes.String, nil)})}),
			})},
		{"nothing unknown", tftypes.NewValue(tftypes.String, "x"), tftypes.NewValue(tftypes.String, "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := known(tt.in); !got.Equal(tt.want) {
				t.Errorf("known(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
