package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
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
