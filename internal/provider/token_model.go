package provider

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// tokenModel is the token resource's configuration, plan and state. This
// file holds it and its translation to the registry's declaration
// (spec) and from what the store holds (fromStore).
type tokenModel struct {
	ID                        types.String  `tfsdk:"id"`
	Name                      types.String  `tfsdk:"name"`
	Owner                     types.String  `tfsdk:"owner"`
	Description               types.String  `tfsdk:"description"`
	Scopes                    types.Set     `tfsdk:"scopes"`
	Roles                     types.Set     `tfsdk:"roles"`
	TTL                       durationValue `tfsdk:"ttl"`
	RotateBefore              durationValue `tfsdk:"rotate_before"`
	Overlap                   durationValue `tfsdk:"overlap"`
	RotationTriggers          types.Map     `tfsdk:"rotation_triggers"`
	GitHubSecrets             types.List    `tfsdk:"github_secrets"`
	GitHubOrganizationSecrets types.List    `tfsdk:"github_organization_secrets"`
	GitHubDependabotSecrets   types.List    `tfsdk:"github_dependabot_secrets"`
	Files                     types.List    `tfsdk:"files"`
	VaultSecrets              types.List    `tfsdk:"vault_secrets"`
	AWSSecrets                types.List    `tfsdk:"aws_secrets"`
	AllowedCIDRs              types.Set     `tfsdk:"allowed_cidrs"`
	RateLimit                 types.Object  `tfsdk:"rate_limit"`
	Honeytoken                types.Bool    `tfsdk:"honeytoken"`
	Fingerprint               types.String  `tfsdk:"fingerprint"`
	CurrentVersion            types.String  `tfsdk:"current_version"`
	IssuedAt                  types.String  `tfsdk:"issued_at"`
	ExpiresAt                 types.String  `tfsdk:"expires_at"`
	NextRotationAt            types.String  `tfsdk:"next_rotation_at"`
	Status                    types.String  `tfsdk:"status"`
}

type githubSecretModel struct {
	Repository  types.String `tfsdk:"repository"`
	Name        types.String `tfsdk:"name"`
	Environment types.String `tfsdk:"environment"`
}

type githubOrganizationSecretModel struct {
	Organization types.String `tfsdk:"organization"`
	Name         types.String `tfsdk:"name"`
	Visibility   types.String `tfsdk:"visibility"`
	Repositories types.List   `tfsdk:"repositories"`
}

type githubDependabotSecretModel struct {
	Repository types.String `tfsdk:"repository"`
	Name       types.String `tfsdk:"name"`
}

type fileModel struct {
	Path         types.String `tfsdk:"path"`
	ResolvedPath types.String `tfsdk:"resolved_path"`
	Key          types.String `tfsdk:"key"`
	Format       types.String `tfsdk:"format"`
	Mode         types.String `tfsdk:"mode"`
	Owner        types.String `tfsdk:"owner"`
	Group        types.String `tfsdk:"group"`
}

var (
	githubSecretType = types.ObjectType{AttrTypes: map[string]attr.Type{
		"repository": types.StringType, "name": types.StringType, "environment": types.StringType,
	}}
	githubOrganizationSecretType = types.ObjectType{AttrTypes: map[string]attr.Type{
		"organization": types.StringType, "name": types.StringType, "visibility": types.StringType,
		"repositories": types.ListType{ElemType: types.StringType},
	}}
	githubDependabotSecretType = types.ObjectType{AttrTypes: map[string]attr.Type{
		"repository": types.StringType, "name": types.StringType,
	}}
	fileType = types.ObjectType{AttrTypes: map[string]attr.Type{
		"path": types.StringType, "resolved_path": types.StringType, "key": types.StringType, "format": types.StringType,
		"mode": types.StringType, "owner": types.StringType, "group": types.StringType,
	}}
)

// The destination lists, in the order their destinations are stored.
var destinationLists = []struct {
	attr string
	kind string
}{
	{"github_secrets", destination.KindRepositorySecret},
	{"github_organization_secrets", destination.KindOrganizationSecret},
	{"github_dependabot_secrets", destination.KindDependabotSecret},
	{"files", destination.KindFile},
	{"vault_secrets", destination.KindVaultKV},
	{"aws_secrets", destination.KindAWSSecret},
}

// declared is one destination as the configuration declares it, with the
// attribute path it was declared at.
type declared struct {
	path   string // such as "files[0]"
	kind   string
	config destination.Config
}

// defaultFileKey is the dotenv variable a file destination gets without a
// key: the token name in upper case, other characters than letters and
// digits as '_', with a '_' in front when it would start with a digit.
func defaultFileKey(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// destinations reads the destination lists. known is false when any part
// is not known yet; the known ones are returned all the same.
func (m tokenModel) destinations(ctx context.Context, diags *diag.Diagnostics) (out []declared, known bool) {
	known = true
	lists := []types.List{m.GitHubSecrets, m.GitHubOrganizationSecrets, m.GitHubDependabotSecrets, m.Files, m.VaultSecrets, m.AWSSecrets}
	for i, l := range lists {
		if l.IsUnknown() {
			known = false
			continue
		}
		if l.IsNull() {
			continue
		}
		at := destinationLists[i].attr
		kind := destinationLists[i].kind
		add := func(j int, ok bool, c destination.Config) {
			if !ok {
				known = false
				return
			}
			out = append(out, declared{path: fmt.Sprintf("%s[%d]", at, j), kind: kind, config: c})
		}
		switch kind {
		case destination.KindRepositorySecret:
			es := listAs[githubSecretModel](ctx, l, diags)
			for j, e := range es {
				add(j, stringsKnown(e.Repository, e.Name, e.Environment),
					destination.Config{Repository: e.Repository.ValueString(), Name: e.Name.ValueString(), Environment: e.Environment.ValueString()})
			}
		case destination.KindOrganizationSecret:
			es := listAs[githubOrganizationSecretModel](ctx, l, diags)
			for j, e := range es {
				c := destination.Config{Organization: e.Organization.ValueString(), Name: e.Name.ValueString(), Visibility: e.Visibility.ValueString()}
				ok := stringsKnown(e.Organization, e.Name, e.Visibility) && !e.Repositories.IsUnknown()
				if ok {
					var repos []types.String
					diags.Append(e.Repositories.ElementsAs(ctx, &repos, false)...)
					for _, r := range repos {
						ok = ok && !r.IsUnknown()
						c.Repositories = append(c.Repositories, r.ValueString())
					}
				}
				add(j, ok, c)
			}
		case destination.KindDependabotSecret:
			es := listAs[githubDependabotSecretModel](ctx, l, diags)
			for j, e := range es {
				add(j, stringsKnown(e.Repository, e.Name), destination.Config{Repository: e.Repository.ValueString(), Name: e.Name.ValueString()})
			}
		case destination.KindFile:
			es := listAs[fileModel](ctx, l, diags)
			for j, e := range es {
				c := destination.Config{Path: e.resolved(), Key: e.Key.ValueString(), Format: e.Format.ValueString(),
					Mode: e.Mode.ValueString(), Owner: e.Owner.ValueString(), Group: e.Group.ValueString()}
				if e.Format.IsNull() {
					c.Format = destination.FormatDotenv
				}
				ok := stringsKnown(e.Path, e.Key, e.Format, e.Mode, e.Owner, e.Group)
				if c.Format == destination.FormatDotenv && e.Key.IsNull() {
					ok = ok && !m.Name.IsUnknown()
					c.Key = defaultFileKey(m.Name.ValueString())
				}
				add(j, ok, c)
			}
		case destination.KindVaultKV:
			es := listAs[vaultSecretModel](ctx, l, diags)
			for j, e := range es {
				c, ok := vaultSecretConfig(e.Path, e.Key, m.Name)
				add(j, ok, c)
			}
		case destination.KindAWSSecret:
			es := listAs[awsSecretModel](ctx, l, diags)
			for j, e := range es {
				c, ok := awsSecretConfig(e.Name, m.Name)
				add(j, ok, c)
			}
		}
	}
	return out, known
}

// resolved is the file's path as the store keeps it: resolved_path when
// the plan has set it; else path made absolute against the working
// directory, which is Terraform's (and the provider's, which Terraform
// starts there). A prior state of a provider without resolved_path has
// none, and its relative path meant the same file to Terraform.
func (e fileModel) resolved() string {
	if !e.ResolvedPath.IsNull() && !e.ResolvedPath.IsUnknown() && e.ResolvedPath.ValueString() != "" {
		return e.ResolvedPath.ValueString()
	}
	return resolvePath(e.Path.ValueString())
}

// resolvePath makes p absolute and clean against the working directory; p
// as it is when it is empty or the working directory cannot be read.
func resolvePath(p string) string {
	if p == "" {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}

func stringsKnown(vs ...types.String) bool {
	for _, v := range vs {
		if v.IsUnknown() {
			return false
		}
	}
	return true
}

// storeDestinations maps declared destinations to the store's.
func storeDestinations(ds []declared) ([]store.Destination, error) {
	out := make([]store.Destination, 0, len(ds))
	for _, d := range ds {
		sd, err := destination.New(d.kind, d.config)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.path, err)
		}
		out = append(out, sd)
	}
	return out, nil
}

// lifetime returns the token's lifetime; ok is false when a part is not
// known or not a duration.
func (m tokenModel) lifetime() (l store.Lifetime, ok bool) {
	or := func(v durationValue, def string) durationValue {
		if v.IsNull() {
			return durationValue{StringValue: types.StringValue(def)}
		}
		return v
	}
	var okT, okR, okO bool
	l.TTL, okT = or(m.TTL, defaultTTL).Duration()
	l.RotateBefore, okR = or(m.RotateBefore, defaultRotateBefore).Duration()
	l.Overlap, okO = or(m.Overlap, defaultOverlap).Duration()
	return l, okT && okR && okO
}

func stringSet(ctx context.Context, s types.Set, diags *diag.Diagnostics) []string {
	var out []string
	if s.IsNull() || s.IsUnknown() {
		return out
	}
	diags.Append(s.ElementsAs(ctx, &out, false)...)
	return out
}

// spec builds the registry's declaration of the token from a known plan.
func (m tokenModel) spec(ctx context.Context, diags *diag.Diagnostics) registry.TokenSpec {
	ds, _ := m.destinations(ctx, diags)
	return m.specOf(ctx, ds, diags)
}

// specOf is spec with m's destinations decoded already, as ds.
func (m tokenModel) specOf(ctx context.Context, ds []declared, diags *diag.Diagnostics) registry.TokenSpec {
	sds, err := storeDestinations(ds)
	if err != nil {
		diags.AddError("Invalid destination", err.Error())
	}
	l, _ := m.lifetime()
	rl, _ := m.rateLimit(ctx, diags)
	return registry.TokenSpec{
		Name: m.Name.ValueString(), Owner: m.Owner.ValueString(), Description: m.Description.ValueString(),
		Scopes: stringSet(ctx, m.Scopes, diags), Roles: stringSet(ctx, m.Roles, diags),
		Lifetime: l, Destinations: sds,
		AllowedCIDRs: stringSet(ctx, m.AllowedCIDRs, diags), RateLimit: rl,
		Honeytoken: m.Honeytoken.ValueBool(),
	}
}

// storedDestinations returns m's destinations as the store holds them; ok
// is false when one is not known yet or not valid.
func (m tokenModel) storedDestinations(ctx context.Context, diags *diag.Diagnostics) ([]store.Destination, bool) {
	return storedOf(m.destinations(ctx, diags))
}

// storedOf is storedDestinations of destinations decoded already.
func storedOf(ds []declared, known bool) ([]store.Destination, bool) {
	if !known {
		return nil, false
	}
	sds, err := storeDestinations(ds)
	return sds, err == nil
}

// sameModel reports whether every attribute of a equals b's. It walks the
// fields by reflection so that an attribute added to tokenModel is compared
// without a change here.
func sameModel(a, b tokenModel) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		x, okX := va.Field(i).Interface().(attr.Value)
		y, okY := vb.Field(i).Interface().(attr.Value)
		if !okX || !okY || !x.Equal(y) {
			return false
		}
	}
	return true
}

// optString is v, null when empty and the prior value was null.
func optString(v string, prior types.String) types.String {
	if v == "" && prior.IsNull() {
		return types.StringNull()
	}
	return types.StringValue(v)
}

// keepDuration is prior when it is the same length as d, else d's
// canonical form.
func keepDuration(d time.Duration, prior durationValue) durationValue {
	if p, ok := prior.Duration(); ok && p == d {
		return prior
	}
	return durationOf(d)
}

func optSet(ctx context.Context, vs []string, prior types.Set, diags *diag.Diagnostics) types.Set {
	if len(vs) == 0 && prior.IsNull() {
		return types.SetNull(types.StringType)
	}
	return stringSetFrom(ctx, vs, diags)
}

// fromStore builds the resource's state from the store, keeping the prior
// spelling of what the store holds in another form.
func (r *tokenResource) fromStore(ctx context.Context, ti registry.TokenInfo, prior tokenModel, diags *diag.Diagnostics) tokenModel {
	m := prior
	m.ID, m.Name = types.StringValue(ti.Name), types.StringValue(ti.Name)
	m.Owner = optString(ti.Owner, prior.Owner)
	m.Description = optString(ti.Description, prior.Description)
	m.Scopes = optSet(ctx, ti.Scopes, prior.Scopes, diags)
	m.Roles = optSet(ctx, ti.Roles, prior.Roles, diags)
	m.TTL = keepDuration(ti.Lifetime.TTL, prior.TTL)
	m.RotateBefore = keepDuration(ti.Lifetime.RotateBefore, prior.RotateBefore)
	m.Overlap = keepDuration(ti.Lifetime.Overlap, prior.Overlap)
	m.AllowedCIDRs = optSet(ctx, ti.AllowedCIDRs, prior.AllowedCIDRs, diags)
	m.RateLimit = rateLimitFromStore(ctx, ti.RateLimit, prior.RateLimit, diags)
	m.Honeytoken = types.BoolValue(ti.Honeytoken)
	if m.RotationTriggers.IsUnknown() {
		m.RotationTriggers = types.MapNull(types.StringType)
	}
	r.destinationsFromStore(ctx, ti, prior, &m, diags)
	c := computedOf(ti, r.data.now())
	m.Fingerprint, m.CurrentVersion, m.IssuedAt = c.fingerprint, c.currentVersion, c.issuedAt
	m.ExpiresAt, m.NextRotationAt, m.Status = c.expiresAt, c.nextRotationAt, c.status
	return m
}

func (r *tokenResource) destinationsFromStore(ctx context.Context, ti registry.TokenInfo, prior tokenModel, m *tokenModel, diags *diag.Diagnostics) {
	var secrets []githubSecretModel
	var orgs []githubOrganizationSecretModel
	var dependabot []githubDependabotSecretModel
	var files []fileModel
	var vaults []vaultSecretModel
	var awss []awsSecretModel
	priorVaults := priorVaultSecrets(ctx, prior.VaultSecrets, diags)
	var priorFiles []fileModel
	if !prior.Files.IsNull() && !prior.Files.IsUnknown() {
		priorFiles = listAs[fileModel](ctx, prior.Files, diags)
	}
	for _, d := range ti.Destinations {
		c, err := destination.Decode(d)
		if err != nil {
			diags.AddError("Cannot read token "+ti.Name, err.Error())
			return
		}
		switch d.Kind {
		case destination.KindRepositorySecret:
			env := types.StringNull()
			if c.Environment != "" {
				env = types.StringValue(c.Environment)
			}
			secrets = append(secrets, githubSecretModel{Repository: types.StringValue(c.Repository), Name: types.StringValue(c.Name), Environment: env})
		case destination.KindOrganizationSecret:
			repos := types.ListNull(types.StringType)
			if len(c.Repositories) > 0 {
				repos = stringListFrom(ctx, c.Repositories, diags)
			}
			orgs = append(orgs, githubOrganizationSecretModel{Organization: types.StringValue(c.Organization), Name: types.StringValue(c.Name),
				Visibility: types.StringValue(c.Visibility), Repositories: repos})
		case destination.KindDependabotSecret:
			dependabot = append(dependabot, githubDependabotSecretModel{Repository: types.StringValue(c.Repository), Name: types.StringValue(c.Name)})
		case destination.KindFile:
			key := types.StringNull()
			if c.Format == destination.FormatDotenv {
				// A key equal to the default stays unset unless the
				// configuration wrote it out.
				explicit := len(files) < len(priorFiles) && !priorFiles[len(files)].Key.IsNull()
				if c.Key != defaultFileKey(ti.Name) || explicit {
					key = types.StringValue(c.Key)
				}
			}
			files = append(files, fileFromStore(c, priorFiles, key))
		case destination.KindVaultKV:
			vaults = append(vaults, vaultSecretFromStore(c, ti.Name, priorVaults, len(vaults)))
		case destination.KindAWSSecret:
			awss = append(awss, awsSecretModel{Name: types.StringValue(c.Name)})
		}
	}
	m.GitHubSecrets = optList(ctx, githubSecretType, secrets, prior.GitHubSecrets, diags)
	m.GitHubOrganizationSecrets = optList(ctx, githubOrganizationSecretType, orgs, prior.GitHubOrganizationSecrets, diags)
	m.GitHubDependabotSecrets = optList(ctx, githubDependabotSecretType, dependabot, prior.GitHubDependabotSecrets, diags)
	m.Files = optList(ctx, fileType, files, prior.Files, diags)
	m.VaultSecrets = optList(ctx, vaultSecretType, vaults, prior.VaultSecrets, diags)
	m.AWSSecrets = optList(ctx, awsSecretType, awss, prior.AWSSecrets, diags)
	if m.GitHubSecrets.Equal(prior.GitHubSecrets) && m.GitHubOrganizationSecrets.Equal(prior.GitHubOrganizationSecrets) &&
		m.GitHubDependabotSecrets.Equal(prior.GitHubDependabotSecrets) && m.Files.Equal(prior.Files) &&
		m.VaultSecrets.Equal(prior.VaultSecrets) && m.AWSSecrets.Equal(prior.AWSSecrets) {
		return
	}
	// The prior state may spell the same destinations another way, such as
	// environment = "" for none, or in another order: keep its spelling,
	// or the next plan would show a change that is none.
	if pd, ok := prior.storedDestinations(ctx, diags); ok && rotation.SameDestinations(pd, ti.Destinations) {
		m.GitHubSecrets, m.GitHubOrganizationSecrets = prior.GitHubSecrets, prior.GitHubOrganizationSecrets
		m.GitHubDependabotSecrets, m.Files = prior.GitHubDependabotSecrets, withResolved(ctx, prior.Files, diags)
		m.VaultSecrets, m.AWSSecrets = prior.VaultSecrets, prior.AWSSecrets
	}
}

// withResolved is files with resolved_path set where a state written
// before the attribute existed has none and the path is absolute: the
// store holds that path, so the refresh records it rather than the next
// plan showing every such token as changed.
func withResolved(ctx context.Context, files types.List, diags *diag.Diagnostics) types.List {
	if files.IsNull() || files.IsUnknown() {
		return files
	}
	fs := listAs[fileModel](ctx, files, diags)
	changed := false
	for i, f := range fs {
		if f.ResolvedPath.IsNull() && filepath.IsAbs(f.Path.ValueString()) {
			fs[i].ResolvedPath = types.StringValue(filepath.Clean(f.Path.ValueString()))
			changed = true
		}
	}
	if !changed || diags.HasError() {
		return files
	}
	return listFrom(ctx, fileType, fs, diags)
}

// fileFromStore is a stored file destination as the state shows it. The
// store keeps the resolved path; path keeps the spelling of the prior
// entry that resolved to it (as the configuration wrote it, such as
// secrets/app.env), or the stored path itself, as after an import. A
// stored path that is relative, from a provider that did not resolve
// paths, has no resolved_path until the next apply resolves it.
func fileFromStore(c destination.Config, prior []fileModel, key types.String) fileModel {
	f := fileModel{Path: types.StringValue(c.Path), ResolvedPath: types.StringValue(filepath.Clean(c.Path)), Key: key, Format: types.StringValue(c.Format),
		Mode: optString(c.Mode, types.StringNull()), Owner: optString(c.Owner, types.StringNull()), Group: optString(c.Group, types.StringNull())}
	if !filepath.IsAbs(c.Path) {
		f.ResolvedPath = types.StringNull()
	}
	for _, p := range prior {
		if p.Path.IsUnknown() || p.Path.IsNull() {
			continue
		}
		if p.ResolvedPath.ValueString() == c.Path || (p.ResolvedPath.IsNull() && p.Path.ValueString() == c.Path) {
			f.Path = p.Path
			break
		}
	}
	return f
}

func optList[T any](ctx context.Context, t types.ObjectType, vs []T, prior types.List, diags *diag.Diagnostics) types.List {
	if len(vs) == 0 && (prior.IsNull() || prior.IsUnknown()) {
		return types.ListNull(t)
	}
	if vs == nil {
		vs = []T{}
	}
	return listFrom(ctx, t, vs, diags)
}

// tokenComputed holds the attributes the store decides.
type tokenComputed struct {
	fingerprint, currentVersion, issuedAt, expiresAt, nextRotationAt, status types.String
}

// Token statuses.
const (
	statusActive   = "active"
	statusDue      = "due"
	statusRotating = "rotating"
	statusExpired  = "expired"
	statusUnissued = "unissued"
)

func rfc3339(t time.Time) types.String {
	if t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339))
}

func computedOf(ti registry.TokenInfo, now time.Time) tokenComputed {
	c := tokenComputed{
		fingerprint: types.StringNull(), currentVersion: types.StringNull(), issuedAt: types.StringNull(),
		expiresAt: types.StringNull(), nextRotationAt: types.StringNull(), status: types.StringValue(statusUnissued),
	}
	cur := ti.Current
	if cur == nil {
		return c
	}
	c.fingerprint, c.currentVersion = types.StringValue(cur.Fingerprint), types.StringValue(cur.ID)
	c.issuedAt, c.expiresAt, c.nextRotationAt = rfc3339(cur.ActivatedAt), rfc3339(cur.ExpiresAt), rfc3339(ti.NextRotationAt())
	switch {
	case !now.Before(cur.ExpiresAt):
		c.status = types.StringValue(statusExpired)
	case ti.Pending != nil:
		c.status = types.StringValue(statusRotating)
	case !now.Before(ti.NextRotationAt()):
		c.status = types.StringValue(statusDue)
	default:
		c.status = types.StringValue(statusActive)
	}
	return c
}
