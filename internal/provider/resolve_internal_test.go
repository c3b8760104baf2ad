package provider

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func fileList(t *testing.T, fs ...fileModel) types.List {
	t.Helper() // a zero types.String is null: the attributes left out are unset
	l, d := types.ListValueFrom(context.Background(), fileType, fs)
	if d.HasError() {
		t.Fatal(d)
	}
	return l
}

// TestResolveFiles: the plan gets the resolved path of each file; a state
// that holds a relative path without resolved_path, as a provider that did
// not resolve paths stored it, gets a warning on the path, and a state
// already resolved none.
func TestResolveFiles(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	want := filepath.Join(dir, "secrets", "app.env")
	rel := fileModel{Path: types.StringValue("secrets/app.env")}
	resolved := fileModel{Path: types.StringValue("secrets/app.env"), ResolvedPath: types.StringValue(want)}
	cases := []struct {
		name    string
		state   types.List
		warning bool
	}{
		{"create", types.ListNull(fileType), false},
		{"relative row", fileList(t, rel), true},
		{"resolved row", fileList(t, resolved), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := tokenModel{Files: fileList(t, rel)}
			var diags diag.Diagnostics
			if !resolveFiles(context.Background(), &plan, tokenModel{Files: tc.state}, &diags) {
				t.Fatal("resolveFiles left the plan as it was")
			}
			var got []fileModel
			plan.Files.ElementsAs(context.Background(), &got, false)
			if len(got) != 1 || got[0].ResolvedPath.ValueString() != want || got[0].Path.ValueString() != "secrets/app.env" {
				t.Errorf("planned files %+v, want path as written and resolved_path %s", got, want)
			}
			warned := diags.WarningsCount() == 1 && strings.Contains(diags.Warnings()[0].Detail(), want)
			if warned != tc.warning || diags.HasError() {
				t.Errorf("diagnostics %v, want a warning naming %s: %v", diags, want, tc.warning)
			}
		})
	}
}

// TestWithResolved: a refresh of a state written before resolved_path
// existed records it for absolute paths, so the next plan is empty, and
// leaves a relative one for the next apply to resolve.
func TestWithResolved(t *testing.T) {
	in := fileList(t, fileModel{Path: types.StringValue("/srv/app/../app.env")}, fileModel{Path: types.StringValue("secrets/app.env")})
	var diags diag.Diagnostics
	var got []fileModel
	withResolved(context.Background(), in, &diags).ElementsAs(context.Background(), &got, false)
	if diags.HasError() || len(got) != 2 {
		t.Fatal(diags, got)
	}
	if got[0].ResolvedPath.ValueString() != "/srv/app.env" || got[0].Path.ValueString() != "/srv/app/../app.env" {
		t.Errorf("absolute path: %+v, want resolved_path /srv/app.env and path as written", got[0])
	}
	if !got[1].ResolvedPath.IsNull() {
		t.Errorf("relative path: resolved_path %s, want null until an apply resolves it", got[1].ResolvedPath)
	}
}
