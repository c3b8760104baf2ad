package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// The attributes of one GitHub organization or Dependabot secret, for
// every resource that delivers a value (tokenward_credential adds its
// `field` with withField).

// githubSecretName describes a GitHub secret's name.
const githubSecretName = "The secret's name: letters, digits and `_`, not starting with a digit or with `GITHUB_`, such as `DEPLOY_TOKEN`."

// githubOrganizationSecretAttributes are the attributes of one
// github_organization_secrets entry.
func githubOrganizationSecretAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"organization": schema.StringAttribute{Required: true, MarkdownDescription: "The organization, such as `acme`."},
		"name":         schema.StringAttribute{Required: true, MarkdownDescription: githubSecretName},
		"visibility": schema.StringAttribute{Required: true,
			MarkdownDescription: "Which repositories of the organization can use the secret: `all`, `private` or `selected`."},
		"repositories": schema.ListAttribute{Optional: true, ElementType: types.StringType,
			MarkdownDescription: "With `visibility = \"selected\"`, the repositories that can use the secret, as `name` or `owner/name`."},
	}
}

// githubDependabotSecretAttributes are the attributes of one
// github_dependabot_secrets entry.
func githubDependabotSecretAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"repository": schema.StringAttribute{Required: true, MarkdownDescription: "The repository, `owner/name`, such as `acme/api`."},
		"name":       schema.StringAttribute{Required: true, MarkdownDescription: githubSecretName},
	}
}
