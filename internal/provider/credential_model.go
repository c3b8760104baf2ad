package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// credentialModel is the credential resource's configuration, plan and
// state. No attribute holds the credential's password, nor the admin
// credential: the issuer names the environment variable that holds it.
type credentialModel struct {
	ID                        types.String  `tfsdk:"id"`
	Name                      types.String  `tfsdk:"name"`
	Owner                     types.String  `tfsdk:"owner"`
	Description               types.String  `tfsdk:"description"`
	TTL                       durationValue `tfsdk:"ttl"`
	RotateBefore              durationValue `tfsdk:"rotate_before"`
	Overlap                   durationValue `tfsdk:"overlap"`
	RotationTriggers          types.Map     `tfsdk:"rotation_triggers"`
	Issuer                    types.Object  `tfsdk:"issuer"`
	GitHubSecrets             types.List    `tfsdk:"github_secrets"`
	GitHubOrganizationSecrets types.List    `tfsdk:"github_organization_secrets"`
	GitHubDependabotSecrets   types.List    `tfsdk:"github_dependabot_secrets"`
	Files                     types.List    `tfsdk:"files"`
	VaultSecrets              types.List    `tfsdk:"vault_secrets"`
	AWSSecrets                types.List    `tfsdk:"aws_secrets"`
	Fingerprint               types.String  `tfsdk:"fingerprint"`
	CurrentVersion            types.String  `tfsdk:"current_version"`
	User                      types.String  `tfsdk:"user"`
	IssuedAt                  types.String  `tfsdk:"issued_at"`
	ExpiresAt                 types.String  `tfsdk:"expires_at"`
	NextRotationAt            types.String  `tfsdk:"next_rotation_at"`
	Status                    types.String  `tfsdk:"status"`
}

type credentialSecretModel struct {
	Repository  types.String `tfsdk:"repository"`
	Name        types.String `tfsdk:"name"`
	Environment types.String `tfsdk:"environment"`
	Field       types.String `tfsdk:"field"`
}

type credentialFileModel struct {
	Path   types.String `tfsdk:"path"`
	Key    types.String `tfsdk:"key"`
	Format types.String `tfsdk:"format"`
	Mode   types.String `tfsdk:"mode"`
	Owner  types.String `tfsdk:"owner"`
	Group  types.String `tfsdk:"group"`
	Field  types.String `tfsdk:"field"`
}

// credentialOrganizationSecretModel is one github_organization_secrets
// entry of a credential: a token's with the field it receives.
type credentialOrganizationSecretModel struct {
	Organization types.String `tfsdk:"organization"`
	Name         types.String `tfsdk:"name"`
	Visibility   types.String `tfsdk:"visibility"`
	Repositories types.List   `tfsdk:"repositories"`
	Field        types.String `tfsdk:"field"`
}

// credentialDependabotSecretModel is one github_dependabot_secrets entry
// of a credential.
type credentialDependabotSecretModel struct {
	Repository types.String `tfsdk:"repository"`
	Name       types.String `tfsdk:"name"`
	Field      types.String `tfsdk:"field"`
}

// credentialVaultSecretModel is one vault_secrets entry of a credential:
// a token's (vaultSecretModel) with the field it receives.
type credentialVaultSecretModel struct {
	Path  types.String `tfsdk:"path"`
	Key   types.String `tfsdk:"key"`
	Field types.String `tfsdk:"field"`
}

// credentialAWSSecretModel is one aws_secrets entry of a credential.
type credentialAWSSecretModel struct {
	Name  types.String `tfsdk:"name"`
	Field types.String `tfsdk:"field"`
}

type postgresIssuerModel struct {
	AdminDSNEnv types.String `tfsdk:"admin_dsn_env"`
	Users       types.List   `tfsdk:"users"`
	MemberOf    types.String `tfsdk:"member_of"`
}

type mysqlIssuerModel struct {
	AdminDSNEnv types.String `tfsdk:"admin_dsn_env"`
	Users       types.List   `tfsdk:"users"`
	GrantsFrom  types.String `tfsdk:"grants_from"`
}

type redisIssuerModel struct {
	AdminURLEnv types.String `tfsdk:"admin_url_env"`
	User        types.String `tfsdk:"user"`
}

var (
	credentialSecretType = types.ObjectType{AttrTypes: map[string]attr.Type{
		"repository": types.StringType, "name": types.StringType, "environment": types.StringType, "field": types.StringType,
	}}
	credentialFileType = types.ObjectType{AttrTypes: map[string]attr.Type{
		"path": types.StringType, "key": types.StringType, "format": types.StringType, "mode": types.StringType,
		"owner": types.StringType, "group": types.StringType, "field": types.StringType,
	}}
	credentialOrganizationSecretType = withFieldType(githubOrganizationSecretType)
	credentialDependabotSecretType   = withFieldType(githubDependabotSecretType)
	credentialVaultSecretType        = withFieldType(vaultSecretType)
	credentialAWSSecretType          = withFieldType(awsSecretType)
	postgresIssuerType               = map[string]attr.Type{"admin_dsn_env": types.StringType, "users": types.ListType{ElemType: types.StringType}, "member_of": types.StringType}
	mysqlIssuerType                  = map[string]attr.Type{"admin_dsn_env": types.StringType, "users": types.ListType{ElemType: types.StringType}, "grants_from": types.StringType}
	redisIssuerType                  = map[string]attr.Type{"admin_url_env": types.StringType, "user": types.StringType}
)

// withFieldType is t with a string attribute field.
func withFieldType(t types.ObjectType) types.ObjectType {
	attrs := map[string]attr.Type{"field": types.StringType}
	for k, v := range t.AttrTypes {
		attrs[k] = v
	}
	return types.ObjectType{AttrTypes: attrs}
}

// issuerConfig decodes the issuer block; known is false while a part of it
// is not known yet.
func (m credentialModel) issuerConfig(ctx context.Context, diags *diag.Diagnostics) (c issuer.Config, known bool) {
	if m.Issuer.IsUnknown() || m.Issuer.IsNull() {
		return c, false
	}
	known = true
	attrs := m.Issuer.Attributes()
	opts := basetypes.ObjectAsOptions{}
	users := func(l types.List) []string {
		var out []types.String
		if l.IsUnknown() {
			known = false
			return nil
		}
		diags.Append(l.ElementsAs(ctx, &out, false)...)
		var s []string
		for _, u := range out {
			known = known && !u.IsUnknown()
			s = append(s, u.ValueString())
		}
		return s
	}
	for kind, v := range attrs {
		o, ok := v.(types.Object)
		if !ok || o.IsNull() {
			continue
		}
		if o.IsUnknown() {
			known = false
			continue
		}
		switch kind {
		case "postgres":
			var p postgresIssuerModel
			diags.Append(o.As(ctx, &p, opts)...)
			known = known && stringsKnown(p.AdminDSNEnv, p.MemberOf)
			c.Postgres = &issuer.PostgresConfig{AdminDSNEnv: p.AdminDSNEnv.ValueString(), Users: users(p.Users), MemberOf: p.MemberOf.ValueString()}
		case "mysql":
			var p mysqlIssuerModel
			diags.Append(o.As(ctx, &p, opts)...)
			known = known && stringsKnown(p.AdminDSNEnv, p.GrantsFrom)
			c.MySQL = &issuer.MySQLConfig{AdminDSNEnv: p.AdminDSNEnv.ValueString(), Users: users(p.Users), GrantsFrom: p.GrantsFrom.ValueString()}
		case "redis":
			var p redisIssuerModel
			diags.Append(o.As(ctx, &p, opts)...)
			known = known && stringsKnown(p.AdminURLEnv, p.User)
			c.Redis = &issuer.RedisConfig{AdminURLEnv: p.AdminURLEnv.ValueString(), User: p.User.ValueString()}
		}
	}
	return c, known
}

// issuerObject is an issuer configuration as the state holds it.
func issuerObject(ctx context.Context, c issuer.Config, diags *diag.Diagnostics) types.Object {
	obj := func(t map[string]attr.Type, v any) types.Object {
		o, d := types.ObjectValueFrom(ctx, t, v)
		diags.Append(d...)
		return o
	}
	usersList := func(us []string) types.List {
		l, d := types.ListValueFrom(ctx, types.StringType, us)
		diags.Append(d...)
		return l
	}
	vals := map[string]attr.Value{
		"postgres": types.ObjectNull(postgresIssuerType), "mysql": types.ObjectNull(mysqlIssuerType), "redis": types.ObjectNull(redisIssuerType),
	}
	switch {
	case c.Postgres != nil:
		vals["postgres"] = obj(postgresIssuerType, postgresIssuerModel{AdminDSNEnv: types.StringValue(c.Postgres.AdminDSNEnv),
			Users: usersList(c.Postgres.Users), MemberOf: optString(c.Postgres.MemberOf, types.StringNull())})
	case c.MySQL != nil:
		vals["mysql"] = obj(mysqlIssuerType, mysqlIssuerModel{AdminDSNEnv: types.StringValue(c.MySQL.AdminDSNEnv),
			Users: usersList(c.MySQL.Users), GrantsFrom: optString(c.MySQL.GrantsFrom, types.StringNull())})
	case c.Redis != nil:
		vals["redis"] = obj(redisIssuerType, redisIssuerModel{AdminURLEnv: types.StringValue(c.Redis.AdminURLEnv), User: types.StringValue(c.Redis.User)})
	}
	o, d := types.ObjectValue(issuerAttrTypes, vals)
	diags.Append(d...)
	return o
}

var issuerAttrTypes = map[string]attr.Type{
	"postgres": types.ObjectType{AttrTypes: postgresIssuerType},
	"mysql":    types.ObjectType{AttrTypes: mysqlIssuerType},
	"redis":    types.ObjectType{AttrTypes: redisIssuerType},
}

// credentialDeclared is one destination of a credential as declared, with
// the field it receives.
type credentialDeclared struct {
	declared
	field types.String
}

// destinations reads the destination lists; known is false when a part is
// not known yet.
func (m credentialModel) destinations(ctx context.Context, diags *diag.Diagnostics) (out []credentialDeclared, known bool) {
	known = true
	if l := m.GitHubSecrets; l.IsUnknown() {
		known = false
	} else if !l.IsNull() {
		es := listAs[credentialSecretModel](ctx, l, diags)
		for j, e := range es {
			known = known && stringsKnown(e.Repository, e.Name, e.Environment, e.Field)
			out = append(out, credentialDeclared{declared{path: fmt.Sprintf("github_secrets[%d]", j), kind: destination.KindRepositorySecret,
				config: destination.Config{Repository: e.Repository.ValueString(), Name: e.Name.ValueString(), Environment: e.Environment.ValueString(), Field: e.Field.ValueString()}}, e.Field})
		}
	}
	if l := m.GitHubOrganizationSecrets; l.IsUnknown() {
		known = false
	} else if !l.IsNull() {
		es := listAs[credentialOrganizationSecretModel](ctx, l, diags)
		for j, e := range es {
			c := destination.Config{Organization: e.Organization.ValueString(), Name: e.Name.ValueString(), Visibility: e.Visibility.ValueString(),
				Field: e.Field.ValueString()}
			known = known && stringsKnown(e.Organization, e.Name, e.Visibility, e.Field) && !e.Repositories.IsUnknown()
			if !e.Repositories.IsUnknown() {
				var repos []types.String
				diags.Append(e.Repositories.ElementsAs(ctx, &repos, false)...)
				for _, r := range repos {
					known = known && !r.IsUnknown()
					c.Repositories = append(c.Repositories, r.ValueString())
				}
			}
			out = append(out, credentialDeclared{declared{path: fmt.Sprintf("github_organization_secrets[%d]", j), kind: destination.KindOrganizationSecret, config: c}, e.Field})
		}
	}
	if l := m.GitHubDependabotSecrets; l.IsUnknown() {
		known = false
	} else if !l.IsNull() {
		es := listAs[credentialDependabotSecretModel](ctx, l, diags)
		for j, e := range es {
			known = known && stringsKnown(e.Repository, e.Name, e.Field)
			out = append(out, credentialDeclared{declared{path: fmt.Sprintf("github_dependabot_secrets[%d]", j), kind: destination.KindDependabotSecret,
				config: destination.Config{Repository: e.Repository.ValueString(), Name: e.Name.ValueString(), Field: e.Field.ValueString()}}, e.Field})
		}
	}
	if l := m.Files; l.IsUnknown() {
		known = false
	} else if !l.IsNull() {
		es := listAs[credentialFileModel](ctx, l, diags)
		for j, e := range es {
			known = known && stringsKnown(e.Path, e.Key, e.Format, e.Mode, e.Owner, e.Group, e.Field)
			c := destination.Config{Path: resolvePath(e.Path.ValueString()), Key: e.Key.ValueString(), Format: e.Format.ValueString(),
				Mode: e.Mode.ValueString(), Owner: e.Owner.ValueString(), Group: e.Group.ValueString(), Field: e.Field.ValueString()}
			if e.Format.IsNull() {
				c.Format = destination.FormatDotenv
			}
			if c.Format == destination.FormatDotenv && e.Key.IsNull() {
				known = known && !m.Name.IsUnknown()
				c.Key = defaultFileKey(m.Name.ValueString())
			}
			out = append(out, credentialDeclared{declared{path: fmt.Sprintf("files[%d]", j), kind: destination.KindFile, config: c}, e.Field})
		}
	}
	if l := m.VaultSecrets; l.IsUnknown() {
		known = false
	} else if !l.IsNull() {
		es := listAs[credentialVaultSecretModel](ctx, l, diags)
		for j, e := range es {
			c, ok := vaultSecretConfig(e.Path, e.Key, m.Name)
			c.Field = e.Field.ValueString()
			known = known && ok && !e.Field.IsUnknown()
			out = append(out, credentialDeclared{declared{path: fmt.Sprintf("vault_secrets[%d]", j), kind: destination.KindVaultKV, config: c}, e.Field})
		}
	}
	if l := m.AWSSecrets; l.IsUnknown() {
		known = false
	} else if !l.IsNull() {
		es := listAs[credentialAWSSecretModel](ctx, l, diags)
		for j, e := range es {
			c, ok := awsSecretConfig(e.Name, m.Name)
			c.Field = e.Field.ValueString()
			known = known && ok && !e.Field.IsUnknown()
			out = append(out, credentialDeclared{declared{path: fmt.Sprintf("aws_secrets[%d]", j), kind: destination.KindAWSSecret, config: c}, e.Field})
		}
	}
	return out, known
}

// lifetime returns the credential's lifetime; ok is false when a part is
// not known or not a duration.
func (m credentialModel) lifetime() (store.Lifetime, bool) {
	return tokenModel{TTL: m.TTL, RotateBefore: m.RotateBefore, Overlap: m.Overlap}.lifetime()
}

// spec builds the registry's declaration from a known plan.
func (m credentialModel) spec(ctx context.Context, diags *diag.Diagnostics) registry.CredentialSpec {
	cds, _ := m.destinations(ctx, diags)
	ds := make([]declared, len(cds))
	for i, d := range cds {
		ds[i] = d.declared
	}
	sds, err := storeDestinations(ds)
	if err != nil {
		diags.AddError("Invalid destination", err.Error())
	}
	c, _ := m.issuerConfig(ctx, diags)
	l, _ := m.lifetime()
	return registry.CredentialSpec{
		Name: m.Name.ValueString(), Owner: m.Owner.ValueString(), Description: m.Description.ValueString(),
		Lifetime: l, Issuer: c, Destinations: sds,
	}
}

// fromStore builds the state from the store, keeping the prior spelling of
// what the store holds in another form.
func (m credentialModel) fromStore(ctx context.Context, ti registry.TokenInfo, now func() (c tokenComputed), diags *diag.Diagnostics) credentialModel {
	prior := m
	m.ID, m.Name = types.StringValue(ti.Name), types.StringValue(ti.Name)
	m.Owner = optString(ti.Owner, prior.Owner)
	m.Description = optString(ti.Description, prior.Description)
	m.TTL = keepDuration(ti.Lifetime.TTL, prior.TTL)
	m.RotateBefore = keepDuration(ti.Lifetime.RotateBefore, prior.RotateBefore)
	m.Overlap = keepDuration(ti.Lifetime.Overlap, prior.Overlap)
	if m.RotationTriggers.IsUnknown() {
		m.RotationTriggers = types.MapNull(types.StringType)
	}
	cfg, err := registry.IssuerOf(ti.Token)
	if err != nil {
		diags.AddError("Cannot read credential "+ti.Name, err.Error())
		return m
	}
	if pc, known := prior.issuerConfig(ctx, diags); !known || !sameIssuer(pc, cfg) {
		m.Issuer = issuerObject(ctx, cfg, diags)
	}
	if pd, ok := prior.stored(ctx, diags); !ok || !rotation.SameDestinations(pd, ti.Destinations) {
		m.destinationsFromStore(ctx, ti, diags)
	}
	c := now()
	m.Fingerprint, m.CurrentVersion, m.IssuedAt = c.fingerprint, c.currentVersion, c.issuedAt
	m.ExpiresAt, m.NextRotationAt, m.Status = c.expiresAt, c.nextRotationAt, c.status
	m.User = types.StringNull()
	if ti.Current != nil {
		m.User = types.StringValue(ti.Current.User)
	}
	return m
}

func sameIssuer(a, b issuer.Config) bool {
	return fmt.Sprintf("%+v%+v%+v", a.Postgres, a.MySQL, a.Redis) == fmt.Sprintf("%+v%+v%+v", b.Postgres, b.MySQL, b.Redis)
}

// stored is m's destinations as the store holds them; ok is false when one
// is not known yet or not valid.
func (m credentialModel) stored(ctx context.Context, diags *diag.Diagnostics) ([]store.Destination, bool) {
	cds, known := m.destinations(ctx, diags)
	ds := make([]declared, len(cds))
	for i, d := range cds {
		ds[i] = d.declared
	}
	return storedOf(ds, known)
}

func (m *credentialModel) destinationsFromStore(ctx context.Context, ti registry.TokenInfo, diags *diag.Diagnostics) {
	var secrets []credentialSecretModel
	var files []credentialFileModel
	var orgs []credentialOrganizationSecretModel
	var dependabot []credentialDependabotSecretModel
	var vaults []credentialVaultSecretModel
	var awss []credentialAWSSecretModel
	// The prior vault_secrets, as a token's, for the spelling of their keys.
	var priorVaults []vaultSecretModel
	if l := m.VaultSecrets; !l.IsNull() && !l.IsUnknown() {
		es := listAs[credentialVaultSecretModel](ctx, l, diags)
		for _, e := range es {
			priorVaults = append(priorVaults, vaultSecretModel{Path: e.Path, Key: e.Key})
		}
	}
	for _, d := range ti.Destinations {
		c, err := destination.Decode(d)
		if err != nil {
			diags.AddAttributeError(path.Root("name"), "Cannot read credential "+ti.Name, err.Error())
			return
		}
		field := optString(c.Field, types.StringNull())
		switch d.Kind {
		case destination.KindRepositorySecret:
			secrets = append(secrets, credentialSecretModel{Repository: types.StringValue(c.Repository), Name: types.StringValue(c.Name),
				Environment: optString(c.Environment, types.StringNull()), Field: field})
		case destination.KindFile:
			key := types.StringNull()
			if c.Format == destination.FormatDotenv && c.Key != defaultFileKey(ti.Name) {
				key = types.StringValue(c.Key)
			}
			files = append(files, credentialFileModel{Path: types.StringValue(c.Path), Key: key, Format: types.StringValue(c.Format),
				Mode: optString(c.Mode, types.StringNull()), Owner: optString(c.Owner, types.StringNull()), Group: optString(c.Group, types.StringNull()), Field: field})
		case destination.KindOrganizationSecret:
			repos := types.ListNull(types.StringType)
			if len(c.Repositories) > 0 {
				var d diag.Diagnostics
				repos, d = types.ListValueFrom(ctx, types.StringType, c.Repositories)
				diags.Append(d...)
			}
			orgs = append(orgs, credentialOrganizationSecretModel{Organization: types.StringValue(c.Organization), Name: types.StringValue(c.Name),
				Visibility: types.StringValue(c.Visibility), Repositories: repos, Field: field})
		case destination.KindDependabotSecret:
			dependabot = append(dependabot, credentialDependabotSecretModel{Repository: types.StringValue(c.Repository), Name: types.StringValue(c.Name), Field: field})
		case destination.KindVaultKV:
			v := vaultSecretFromStore(c, ti.Name, priorVaults, len(vaults))
			vaults = append(vaults, credentialVaultSecretModel{Path: v.Path, Key: v.Key, Field: field})
		case destination.KindAWSSecret:
			awss = append(awss, credentialAWSSecretModel{Name: types.StringValue(c.Name), Field: field})
		}
	}
	m.GitHubSecrets = optList(ctx, credentialSecretType, secrets, m.GitHubSecrets, diags)
	m.GitHubOrganizationSecrets = optList(ctx, credentialOrganizationSecretType, orgs, m.GitHubOrganizationSecrets, diags)
	m.GitHubDependabotSecrets = optList(ctx, credentialDependabotSecretType, dependabot, m.GitHubDependabotSecrets, diags)
	m.Files = optList(ctx, credentialFileType, files, m.Files, diags)
	m.VaultSecrets = optList(ctx, credentialVaultSecretType, vaults, m.VaultSecrets, diags)
	m.AWSSecrets = optList(ctx, credentialAWSSecretType, awss, m.AWSSecrets, diags)
}
