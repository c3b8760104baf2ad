package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

// NewWithIssuers is New with the credentials' issuers opened by open, such
// as a fake server's.
func NewWithIssuers(version string, getenv func(string) string, open rotation.Opener) func() provider.Provider {
	return func() provider.Provider {
		return &Provider{version: version, getenv: getenv, newGitHub: newGitHubWriter, openIssuer: open}
	}
}
