package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// tokenDataSource reads one token's metadata by name. It never reads a value.
type tokenDataSource struct {
	data *providerData
}

func newTokenDataSource() datasource.DataSource { return &tokenDataSource{} }

type tokenDataModel struct {
	ID              types.String `tfsdk:"id"`
	Name            types.String `tfsdk:"name"`
	Owner           types.String `tfsdk:"owner"`
	Description     types.String `tfsdk:"description"`
	Scopes          types.Set    `tfsdk:"scopes"`
	Roles           types.Set    `tfsdk:"roles"`
	EffectiveScopes types.List   `tfsdk:"effective_scopes"`
	TTL             types.String `tfsdk:"ttl"`
	RotateBefore    types.String `tfsdk:"rotate_before"`
	Overlap         types.String `tfsdk:"overlap"`
	Destinations    types.List   `tfsdk:"destinations"`
	Fingerprint     types.String `tfsdk:"fingerprint"`
	CurrentVersion  types.String `tfsdk:"current_version"`
	IssuedAt        types.String `tfsdk:"issued_at"`
	ExpiresAt       types.String `tfsdk:"expires_at"`
	NextRotationAt  types.String `tfsdk:"next_rotation_at"`
	Status          types.String `tfsdk:"status"`
	AllowedCIDRs    types.Set    `tfsdk:"allowed_cidrs"`
	RateLimit       types.Object `tfsdk:"rate_limit"`
	Honeytoken      types.Bool   `tfsdk:"honeytoken"`
}

func (d *tokenDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_token"
}

func (d *tokenDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A token's metadata, by name: owner, scopes (own and effective), lifetime, restrictions, where it is delivered and " +
			"its current version's fingerprint and dates. It never reads the token's value; tokenward keeps only its hash.",
		Attributes: map[string]schema.Attribute{
			"name":        schema.StringAttribute{Required: true, MarkdownDescription: "The token's name, such as `ci-deploy`."},
			"id":          str("The token's name."),
			"owner":       str("Who answers for the token; empty when unset."),
			"description": str("What the token is for."),
			"scopes": schema.SetAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "The scopes granted to the token directly."},
			"roles": schema.SetAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "The roles granted to the token."},
			"effective_scopes": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Every scope the token holds, its own and its roles', sorted."},
			"ttl":           str("How long each value is valid, such as `90d`."),
			"rotate_before": str("How long before expiry a rotation is due, such as `14d`."),
			"overlap":       str("How long the previous value stays valid after a rotation, such as `1d`."),
			"destinations": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Where the token is delivered, one key each, such as `github_secret:acme/api:DEPLOY_TOKEN` or `file:.env#CI_DEPLOY`."},
			"fingerprint":      str("The current value's fingerprint, `tw_` + version id + `…` + last four characters."),
			"current_version":  str("The id of the current version."),
			"issued_at":        str("When the current value became current (RFC 3339)."),
			"expires_at":       str("When the current value expires (RFC 3339)."),
			"next_rotation_at": str("When the current value is due for rotation (RFC 3339)."),
			"status":           str("`active`, `due`, `rotating`, `expired` or `unissued`, as on the `tokenward_token` resource."),
			"allowed_cidrs": schema.SetAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: allowedCIDRsDescription + " Empty when any address may use the token."},
			"rate_limit": schema.SingleNestedAttribute{Computed: true,
				MarkdownDescription: rateLimitDescription + " Null when the token has no rate limit.",
				Attributes: map[string]schema.Attribute{
					"requests": schema.Int64Attribute{Computed: true, MarkdownDescription: "How many uses the window allows."},
					"per":      schema.StringAttribute{Computed: true, MarkdownDescription: "The window, such as `1m`."},
				}},
			"honeytoken": honeytokenDataAttribute(),
		},
	}
}

func (d *tokenDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configured(req.ProviderData, &resp.Diagnostics)
}

func (d *tokenDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m tokenDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := m.Name.ValueString()
	ti, err := d.data.reg.Token(ctx, name)
	if err == nil {
		err = registry.NotACredential(ti.Token)
	}
	if errors.Is(err, registry.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "No such token",
			"There is no token named "+name+" in the tokenward store. Check the name, or declare it with a tokenward_token resource.")
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read token "+name, err.Error())
		return
	}
	keys := make([]string, len(ti.Destinations))
	for i, x := range ti.Destinations {
		keys[i] = x.Key
	}
	set := func(vs []string) types.Set {
		if vs == nil {
			vs = []string{}
		}
		s, diags := types.SetValueFrom(ctx, types.StringType, vs)
		resp.Diagnostics.Append(diags...)
		return s
	}
	list := func(vs []string) types.List {
		if vs == nil {
			vs = []string{}
		}
		l, diags := types.ListValueFrom(ctx, types.StringType, vs)
		resp.Diagnostics.Append(diags...)
		return l
	}
	c := computedOf(ti, d.data.now())
	m = tokenDataModel{
		ID: types.StringValue(ti.Name), Name: types.StringValue(ti.Name),
		Owner: types.StringValue(ti.Owner), Description: types.StringValue(ti.Description),
		Scopes: set(ti.Scopes), Roles: set(ti.Roles), EffectiveScopes: list(ti.EffectiveScopes),
		TTL:          types.StringValue(duration.Format(ti.Lifetime.TTL)),
		RotateBefore: types.StringValue(duration.Format(ti.Lifetime.RotateBefore)),
		Overlap:      types.StringValue(duration.Format(ti.Lifetime.Overlap)),
		Destinations: list(keys),
		Fingerprint:  c.fingerprint, CurrentVersion: c.currentVersion, IssuedAt: c.issuedAt,
		ExpiresAt: c.expiresAt, NextRotationAt: c.nextRotationAt, Status: c.status,
		AllowedCIDRs: set(ti.AllowedCIDRs), RateLimit: rateLimitData(ti.RateLimit, &resp.Diagnostics),
		Honeytoken: types.BoolValue(ti.Honeytoken),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
