package provider

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func TestDefaultFileKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ci-deploy": "CI_DEPLOY", "api.v2_token": "API_V2_TOKEN", "7up": "_7UP", "X": "X",
	} {
		if got := defaultFileKey(in); got != want {
			t.Errorf("defaultFileKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldPath(t *testing.T) {
	t.Parallel()
	cases := map[string]path.Path{
		"ttl":                          path.Root("ttl"),
		"github_secrets[0].repository": path.Root("github_secrets").AtListIndex(0).AtName("repository"),
		"github_organization_secrets[2].repositories[1]": path.Root("github_organization_secrets").AtListIndex(2).
			AtName("repositories").AtListIndex(1),
		"policy.forbidden_scopes[3]": path.Root("policy").AtName("forbidden_scopes").AtListIndex(3),
	}
	for in, want := range cases {
		if got := fieldPath(in); !got.Equal(want) {
			t.Errorf("fieldPath(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestSameModel changes each attribute of a model in turn: Read skips
// writing the state only when every one of them is equal.
func TestSameModel(t *testing.T) {
	t.Parallel()
	base := tokenModel{
		ID: types.StringValue("ci"), Name: types.StringValue("ci"), Owner: types.StringNull(), Description: types.StringNull(),
		Scopes: types.SetNull(types.StringType), Roles: types.SetNull(types.StringType),
		TTL: durationOf(90 * 24 * time.Hour), RotateBefore: durationOf(14 * 24 * time.Hour), Overlap: durationOf(24 * time.Hour),
		RotationTriggers: types.MapNull(types.StringType), GitHubSecrets: types.ListNull(githubSecretType),
		GitHubOrganizationSecrets: types.ListNull(githubOrganizationSecretType), GitHubDependabotSecrets: types.ListNull(githubDependabotSecretType),
		Files: types.ListNull(fileType), VaultSecrets: types.ListNull(vaultSecretType), AWSSecrets: types.ListNull(awsSecretType), Fingerprint: types.StringValue("tw_1…abcd"), CurrentVersion: types.StringValue("1"),
		IssuedAt: types.StringNull(), ExpiresAt: types.StringNull(), NextRotationAt: types.StringNull(), Status: types.StringValue(statusActive),
		AllowedCIDRs: types.SetNull(types.StringType), RateLimit: types.ObjectNull(rateLimitType.AttrTypes),
	}
	if !sameModel(base, base) {
		t.Fatal("sameModel(m, m) = false")
	}
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("tfsdk")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			changed := base
			f := reflect.ValueOf(&changed).Elem().Field(i)
			// An unknown value differs from every value of the base.
			switch f.Interface().(type) {
			case types.String:
				f.Set(reflect.ValueOf(types.StringUnknown()))
			case durationValue:
				f.Set(reflect.ValueOf(durationUnknown()))
			case types.Set:
				f.Set(reflect.ValueOf(types.SetUnknown(types.StringType)))
			case types.Map:
				f.Set(reflect.ValueOf(types.MapUnknown(types.StringType)))
			case types.List:
				f.Set(reflect.ValueOf(types.ListUnknown(f.Interface().(types.List).ElementType(context.Background()))))
			case types.Object:
				f.Set(reflect.ValueOf(types.ObjectUnknown(rateLimitType.AttrTypes)))
			case types.Bool:
				f.Set(reflect.ValueOf(types.BoolUnknown()))
			default:
				t.Fatalf("field %s has type %T: teach this test to change it", name, f.Interface())
			}
			if sameModel(changed, base) {
				t.Errorf("sameModel is true with %s changed", name)
			}
		})
	}
}
