package provider

import (
	"context"
	"reflect"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// TestListAs checks that listAs and listFrom answer as the framework's
// ElementsAs and ListValueFrom do, on the plain lists they convert
// themselves and on the rest, which they hand to the framework.
func TestListAs(t *testing.T) {
	ctx := context.Background()
	file := func(p string, resolved types.String) attr.Value {
		return types.ObjectValueMust(fileType.AttrTypes, map[string]attr.Value{
			"path": types.StringValue(p), "resolved_path": resolved, "key": types.StringNull(),
			"format": types.StringValue("dotenv"), "mode": types.StringUnknown(), "owner": types.StringNull(), "group": types.StringValue("app"),
		})
	}
	otherType := types.ObjectType{AttrTypes: map[string]attr.Type{"path": types.StringType}}
	lists := map[string]struct {
		l     types.List
		plain bool
	}{
		"null":              {types.ListNull(fileType), false},
		"unknown":           {types.ListUnknown(fileType), false},
		"empty":             {types.ListValueMust(fileType, []attr.Value{}), true},
		"known objects":     {types.ListValueMust(fileType, []attr.Value{file("a.env", types.StringValue("/w/a.env")), file("b.env", types.StringUnknown())}), true},
		"a null object":     {types.ListValueMust(fileType, []attr.Value{file("a.env", types.StringNull()), types.ObjectNull(fileType.AttrTypes)}), false},
		"an unknown object": {types.ListValueMust(fileType, []attr.Value{types.ObjectUnknown(fileType.AttrTypes)}), false},
		"other attributes":  {types.ListValueMust(otherType, []attr.Value{types.ObjectValueMust(otherType.AttrTypes, map[string]attr.Value{"path": types.StringValue("a")})}), false},
	}
	for name, c := range lists {
		t.Run(name, func(t *testing.T) {
			if _, ok := plainListAs[fileModel](c.l); ok != c.plain {
				t.Fatalf("plainListAs took it: %v, want %v", ok, c.plain)
			}
			var want []fileModel
			wantDiags := c.l.ElementsAs(ctx, &want, false)
			var gotDiags = wantDiags[:0:0]
			got := listAs[fileModel](ctx, c.l, &gotDiags)
			if !sameDiagnostics(gotDiags, wantDiags) {
				t.Fatalf("diagnostics %v, the framework's %v", gotDiags, wantDiags)
			}
			if len(got) != len(want) || (got == nil) != (want == nil) {
				t.Fatalf("%d elements (nil %t), the framework's %d (nil %t)", len(got), got == nil, len(want), want == nil)
			}
			for i := range got {
				if !sameFile(got[i], want[i]) {
					t.Fatalf("element %d is %+v, the framework's %+v", i, got[i], want[i])
				}
			}
			if wantDiags.HasError() {
				return
			}
			// And back.
			fromFramework, d := types.ListValueFrom(ctx, fileType, want)
			if d.HasError() {
				t.Fatal(d)
			}
			var fromDiags = d[:0:0]
			from := listFrom(ctx, fileType, got, &fromDiags)
			if fromDiags.HasError() || !from.Equal(fromFramework) {
				t.Fatalf("listFrom gave %v (%v), the framework %v", from, fromDiags, fromFramework)
			}
			if !c.l.IsUnknown() && !from.Equal(c.l) && !c.l.IsNull() {
				t.Fatalf("listFrom(listAs(l)) is %v, not l %v", from, c.l)
			}
		})
	}

	// What is not of the list's type is the framework's to refuse.
	wrong := []githubSecretModel{{Repository: types.StringValue("o/r"), Name: types.StringValue("T"), Environment: types.StringNull()}}
	if _, ok := plainListFrom(fileType, wrong); ok {
		t.Fatal("plainListFrom built a files list of GitHub secrets")
	}
	_, wantDiags := types.ListValueFrom(ctx, fileType, wrong)
	var gotDiags = wantDiags[:0:0]
	listFrom(ctx, fileType, wrong, &gotDiags)
	if !wantDiags.HasError() || !sameDiagnostics(gotDiags, wantDiags) {
		t.Fatalf("diagnostics %v, the framework's %v", gotDiags, wantDiags)
	}
	// A nil slice is a null list to the framework, an empty one is empty.
	var none []fileModel
	if l := listFrom(ctx, fileType, none, &gotDiags); !l.IsNull() {
		t.Fatalf("listFrom(nil) is %v, want null", l)
	}
	if l := listFrom(ctx, fileType, []fileModel{}, &gotDiags); l.IsNull() || len(l.Elements()) != 0 {
		t.Fatalf("listFrom(empty) is %v, want an empty list", l)
	}
	for _, vs := range [][]string{nil, {}, {"b", "a"}} {
		var d = gotDiags[:0:0]
		wantSet, _ := types.SetValueFrom(ctx, types.StringType, vs)
		wantList, _ := types.ListValueFrom(ctx, types.StringType, vs)
		if s := stringSetFrom(ctx, vs, &d); !s.Equal(wantSet) || d.HasError() {
			t.Fatalf("stringSetFrom(%#v) is %v, the framework's %v", vs, s, wantSet)
		}
		if l := stringListFrom(ctx, vs, &d); !l.Equal(wantList) || d.HasError() {
			t.Fatalf("stringListFrom(%#v) is %v, the framework's %v", vs, l, wantList)
		}
	}
}

// sameDiagnostics compares diagnostics by severity and summary: the
// framework names the fields of a mismatch in map order.
func sameDiagnostics(a, b diag.Diagnostics) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Severity() != b[i].Severity() || a[i].Summary() != b[i].Summary() {
			return false
		}
	}
	return true
}

// TestFieldsOf: the destination models are plain, so listAs converts them
// itself; a field that validates itself or a name used twice is not.
func TestFieldsOf(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[fileModel](), reflect.TypeFor[githubSecretModel](), reflect.TypeFor[githubOrganizationSecretModel](),
		reflect.TypeFor[githubDependabotSecretModel](), reflect.TypeFor[vaultSecretModel](), reflect.TypeFor[awsSecretModel]()} {
		if fieldsOf(typ) == nil {
			t.Errorf("%s is not plain: the framework's reflection converts it", typ)
		}
	}
	type custom struct {
		TTL durationValue `tfsdk:"ttl"`
	}
	type twice struct {
		A types.String `tfsdk:"a"`
		B types.String `tfsdk:"a"`
	}
	type untagged struct {
		A types.String
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[custom](), reflect.TypeFor[twice](), reflect.TypeFor[untagged](), reflect.TypeFor[string]()} {
		if fieldsOf(typ) != nil {
			t.Errorf("%s is taken as plain", typ)
		}
	}
}

func sameFile(a, b fileModel) bool {
	return a.Path.Equal(b.Path) && a.ResolvedPath.Equal(b.ResolvedPath) && a.Key.Equal(b.Key) && a.Format.Equal(b.Format) &&
		a.Mode.Equal(b.Mode) && a.Owner.Equal(b.Owner) && a.Group.Equal(b.Group)
}
