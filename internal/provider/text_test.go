package provider_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/tokenward/terraform-provider-tokenward/internal/provider"
)

// TestNULRefused: a NUL byte in any string of any resource's or data
// source's configuration is refused when Terraform validates it, on the
// attribute that holds it, without quoting the value.
func TestNULRefused(t *testing.T) {
	ctx := t.Context()
	srv, err := providerserver.NewProtocol6WithError(provider.New("test", func(string) string { return "" })())()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || len(schemas.Diagnostics) > 0 {
		t.Fatal(err, describe(schemas.Diagnostics))
	}
	const secret = "hunter2\x00LEAK"
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	strSet := func(ss ...string) tftypes.Value {
		var vs []tftypes.Value
		for _, s := range ss {
			vs = append(vs, str(s))
		}
		return tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, vs)
	}
	obj := func(kv map[string]tftypes.Value) tftypes.Value {
		types := map[string]tftypes.Type{}
		for k, v := range kv {
			types[k] = v.Type()
		}
		return tftypes.NewValue(tftypes.Object{AttributeTypes: types}, kv)
	}
	fileOf := func(typ tftypes.Type, path string) tftypes.Value {
		ft := typ.(tftypes.Object).AttributeTypes["files"].(tftypes.List).ElementType
		attrs := map[string]tftypes.Value{}
		for name, at := range ft.(tftypes.Object).AttributeTypes {
			attrs[name] = tftypes.NewValue(at, nil)
		}
		attrs["path"] = str(path)
		return tftypes.NewValue(tftypes.List{ElementType: ft}, []tftypes.Value{tftypes.NewValue(ft, attrs)})
	}
	tokType := schemas.ResourceSchemas["tokenward_token"].ValueType()
	cases := []struct {
		name, typ string
		data      bool
		attrs     map[string]tftypes.Value
		at        *tftypes.AttributePath
	}{
		{"token description", "tokenward_token", false, map[string]tftypes.Value{"name": str("t"), "description": str(secret)},
			tftypes.NewAttributePath().WithAttributeName("description")},
		{"token owner", "tokenward_token", false, map[string]tftypes.Value{"name": str("t"), "owner": str(secret)},
			tftypes.NewAttributePath().WithAttributeName("owner")},
		{"token file path", "tokenward_token", false, map[string]tftypes.Value{"name": str("t"), "files": fileOf(tokType, "/srv/"+secret)},
			tftypes.NewAttributePath().WithAttributeName("files").WithElementKeyInt(0).WithAttributeName("path")},
		{"token scope", "tokenward_token", false, map[string]tftypes.Value{"name": str("t"), "scopes": strSet("a:read", "b:"+secret)},
			tftypes.NewAttributePath().WithAttributeName("scopes").WithElementKeyValue(str("b:" + secret))},
		{"scope description", "tokenward_scope", false, map[string]tftypes.Value{"name": str("a:read"), "description": str(secret)},
			tftypes.NewAttributePath().WithAttributeName("description")},
		{"role name", "tokenward_role", false, map[string]tftypes.Value{"name": str(secret)},
			tftypes.NewAttributePath().WithAttributeName("name")},
		{"setting key", "tokenward_setting", false, map[string]tftypes.Value{"key": str(secret), "type": str("string")},
			tftypes.NewAttributePath().WithAttributeName("key")},
		{"setting default", "tokenward_setting", false, map[string]tftypes.Value{"key": str("a.b"), "type": str("string"), "default": str(secret)},
			tftypes.NewAttributePath().WithAttributeName("default")},
		{"user value", "tokenward_user_config", false, map[string]tftypes.Value{"user": str("alice"), "values": obj(map[string]tftypes.Value{"a.b": str(secret)})},
			tftypes.NewAttributePath().WithAttributeName("values").WithAttributeName("a.b")},
		{"user", "tokenward_user_config", false, map[string]tftypes.Value{"user": str(secret)},
			tftypes.NewAttributePath().WithAttributeName("user")},
		{"token data source", "tokenward_token", true, map[string]tftypes.Value{"name": str(secret)},
			tftypes.NewAttributePath().WithAttributeName("name")},
		{"user config data source", "tokenward_user_config", true, map[string]tftypes.Value{"user": str(secret)},
			tftypes.NewAttributePath().WithAttributeName("user")},
	}
	t.Run("provider store", func(t *testing.T) {
		typ := schemas.Provider.ValueType()
		resp, err := srv.ValidateProviderConfig(ctx, &tfprotov6.ValidateProviderConfigRequest{Config: dynamic(t, typ, map[string]tftypes.Value{"store": str("/srv/" + secret)})})
		if err != nil {
			t.Fatal(err)
		}
		at := tftypes.NewAttributePath().WithAttributeName("store")
		var found bool
		for _, d := range resp.Diagnostics {
			if strings.Contains(d.Detail, "LEAK") || strings.Contains(d.Summary, "LEAK") {
				t.Errorf("the NUL error quotes the value: %s", d.Detail)
			}
			found = found || d.Severity == tfprotov6.DiagnosticSeverityError && d.Summary == "Text holds a NUL byte" && d.Attribute.Equal(at)
		}
		if !found {
			t.Errorf("diagnostics %v, want a NUL error on %s", describe(resp.Diagnostics), at)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var diags []*tfprotov6.Diagnostic
			if tc.data {
				typ := schemas.DataSourceSchemas[tc.typ].ValueType()
				resp, err := srv.ValidateDataResourceConfig(ctx, &tfprotov6.ValidateDataResourceConfigRequest{TypeName: tc.typ, Config: dynamic(t, typ, tc.attrs)})
				if err != nil {
					t.Fatal(err)
				}
				diags = resp.Diagnostics
			} else {
				typ := schemas.ResourceSchemas[tc.typ].ValueType()
				resp, err := srv.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: tc.typ, Config: dynamic(t, typ, tc.attrs)})
				if err != nil {
					t.Fatal(err)
				}
				diags = resp.Diagnostics
			}
			var found bool
			for _, d := range diags {
				if d.Summary == "Text holds a NUL byte" && strings.Contains(d.Detail, "LEAK") {
					t.Errorf("the NUL error quotes the value: %s", d.Detail)
				}
				if d.Severity == tfprotov6.DiagnosticSeverityError && d.Summary == "Text holds a NUL byte" && d.Attribute.Equal(tc.at) {
					found = true
				}
			}
			if !found {
				t.Errorf("diagnostics %v, want a NUL error on %s", describe(diags), tc.at)
			}
		})
	}
}

// TestAccNULRefusedAtPlan: through Terraform, a NUL in a description fails
// the plan on both engines' behalf, before anything reaches a store.
func TestAccNULRefusedAtPlan(t *testing.T) {
	env := testEnv(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: factories(env),
		Steps: []resource.TestStep{{
			Config:      "resource \"tokenward_scope\" \"x\" {\n  name = \"billing:read\"\n  description = \"a\\u0000b\"\n}\n",
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)Text holds a NUL byte.*description holds a NUL byte`),
		}},
	})
}

// TestAccLongNamesCut: an error about a 5,000-character name quotes its
// start and states the limit.
func TestAccLongNamesCut(t *testing.T) {
	long := strings.Repeat("a", 5000)
	cases := []struct{ name, config, want string }{
		{"token", `resource "tokenward_token" "t" { name = "` + long + `" }`, `is 5000 characters long; a name is at most 128`},
		{"scope", `resource "tokenward_scope" "x" { name = "` + long + `:read" }`, `is 5005 characters long; a scope is at most 128`},
		{"setting key", `resource "tokenward_setting" "x" {
  key = "` + long + `"
  type = "string"
  default = "x"
}`, `is 5000 characters long; a setting key is at most 128`},
		{"repository", `resource "tokenward_token" "t" {
  name = "t"
  github_secrets = [{ repository = "acme/` + long + `", name = "T" }]
}`, `github_secrets\[0\]\.repository: "acme/a+"… is 5005 characters long; it is at most 140`},
		{"user value key", `resource "tokenward_user_config" "x" {
  user   = "alice"
  values = { "` + long + `" = "x" }
}`, `values\["a+"…\]: the key is 5000 characters long; a setting key is at most 128`},
		{"dotenv key", `resource "tokenward_token" "t" {
  name = "t"
  files = [{ path = "/srv/app.env", key = "` + long + `" }]
}`, `files\[0\]\.key: "a+"… is 5000 characters long; it is at most 255`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories(testEnv(t)),
				Steps: []resource.TestStep{{
					Config: tc.config, PlanOnly: true,
					ExpectError: regexp.MustCompile(strings.ReplaceAll(tc.want, " ", `\s+`)),
				}},
			})
		})
	}
}
