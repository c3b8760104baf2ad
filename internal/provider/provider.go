// Package provider is the tokenward Terraform provider: it parses
// configuration, calls the registry and renders results. It holds no domain
// logic of its own.
package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// Provider is the tokenward provider.
type Provider struct {
	version string
	getenv  func(string) string
}

// New returns a constructor of the provider at a version, as
// providerserver.Serve and the acceptance tests want it.
func New(version string, getenv func(string) string) func() provider.Provider {
	return func() provider.Provider { return &Provider{version: version, getenv: getenv} }
}

type providerModel struct {
	Store         types.String `tfsdk:"store"`
	MasterKeyFile types.String `tfsdk:"master_key_file"`
}

// Metadata names the provider.
func (p *Provider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "tokenward"
	resp.Version = p.version
}

// Schema describes the provider configuration.
func (p *Provider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Manages API tokens, their scopes and roles, and the defaults of user settings as code. " +
			"Token values are issued by tokenward, stored only as hashes and never written to Terraform state. " +
			"The master key that seals sensitive values is read from the `TOKENWARD_MASTER_KEY` or " +
			"`TOKENWARD_MASTER_KEY_FILE` environment variable, never from configuration.",
		Attributes: map[string]schema.Attribute{
			"store": schema.StringAttribute{
				Optional:  true,
				Sensitive: true, // a postgres:// URL may carry a password
				MarkdownDescription: "Where tokenward keeps its records: a SQLite file path (`tokenward.db`, relative to the " +
					"working directory, or `sqlite:PATH`) or a PostgreSQL URL (`postgres://user@host/db`). " +
					"Defaults to the `TOKENWARD_STORE` environment variable.",
			},
			"master_key_file": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "A file holding the base64 master key (32 bytes), first key primary, older keys after it. " +
					"Defaults to `TOKENWARD_MASTER_KEY`, then `TOKENWARD_MASTER_KEY_FILE`.",
			},
		},
	}
}

// Configure opens the store and the keyring and hands the registry to the
// resources and data sources.
func (p *Provider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if cfg.Store.IsUnknown() || cfg.MasterKeyFile.IsUnknown() {
		resp.Diagnostics.AddError("tokenward configuration is not known yet",
			"The store and master_key_file attributes must be known at plan time: use literals, variables or locals, not attributes of other resources.")
		return
	}
	reg, err := registry.Open(ctx, registry.Config{
		Store:         cfg.Store.ValueString(),
		MasterKeyFile: cfg.MasterKeyFile.ValueString(),
		Actor:         "terraform",
		Getenv:        p.getenv,
	})
	if err != nil {
		// One diagnostic that says what to set: the store, the master key or the clock.
		resp.Diagnostics.AddError("Cannot configure the tokenward provider", err.Error())
		return
	}
	data := &providerData{reg: reg}
	resp.ResourceData = data
	resp.DataSourceData = data
}

// providerData is what Configure hands to every resource and data source.
type providerData struct {
	reg *registry.Registry
}

// configured reads the provider data handed to a resource's or data
// source's Configure; nil before the provider is configured (Terraform calls
// Configure early, during validation, without it).
func configured(v any, diags *diag.Diagnostics) *providerData {
	if v == nil {
		return nil
	}
	data, ok := v.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data", "The tokenward provider handed over something it did not expect; this is a bug in the provider.")
		return nil
	}
	return data
}

// Resources lists the provider's resources.
func (p *Provider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		newScopeResource,
		newRoleResource,
		newSettingResource,
		newUserConfigResource,
	}
}

// DataSources lists the provider's data sources.
func (p *Provider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newScopesDataSource, newUserConfigDataSource}
}
