package provider

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Lifetime defaults of a token, documented in the schema.
const (
	defaultTTL          = "90d"
	defaultRotateBefore = "14d"
	defaultOverlap      = "1d"
)

var (
	_ resource.ResourceWithConfigure      = &tokenResource{}
	_ resource.ResourceWithValidateConfig = &tokenResource{}
	_ resource.ResourceWithModifyPlan     = &tokenResource{}
	_ resource.ResourceWithImportState    = &tokenResource{}
)

// tokenResource declares a token, issues its first value and delivers it to
// its destinations. No attribute ever holds the value.
type tokenResource struct {
	data *providerData
}

func newTokenResource() resource.Resource { return &tokenResource{} }

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
}

func (r *tokenResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_token"
}

func (r *tokenResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{
			Computed:            true,
			MarkdownDescription: desc,
			PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		}
	}
	lifetime := func(desc, def string) schema.StringAttribute {
		return schema.StringAttribute{
			Optional:            true,
			Computed:            true,
			CustomType:          durationType{},
			Default:             stringdefault.StaticString(def),
			MarkdownDescription: desc + " Accepts Go durations plus days and weeks (`90d`, `2w`, `1d12h`); `24h` and `1d` are the same value. Defaults to `" + def + "`.",
			PlanModifiers:       []planmodifier.String{keepEquivalentDuration{}},
		}
	}
	secretName := "The secret's name: letters, digits and `_`, not starting with a digit or with `GITHUB_`, such as `DEPLOY_TOKEN`."
	resp.Schema = schema.Schema{
		MarkdownDescription: "An API token: its owner, scopes and roles, how long each value lives and when it is rotated, and where " +
			"its value is delivered. Creating the resource issues the first value and writes it to every destination; the value is " +
			"never stored in Terraform state or shown in a plan, and no attribute holds it.\n\n" +
			"Changing `scopes`, `roles`, `owner`, `description` or the lifetime updates the token in place without a new value. " +
			"Changing a destination or `rotation_triggers` rotates the token on apply: a new value is issued and delivered to every " +
			"destination, the previous one stays valid for `overlap`, and destinations that were removed are cleaned up. " +
			"Destroying the resource revokes every value and removes what tokenward wrote, and nothing else.",
		Attributes: map[string]schema.Attribute{
			"id": computed("The token's name."),
			"name": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The token's name, unique in the store: letters, digits, `_`, `.` and `-`, starting with a letter " +
					"or digit, such as `ci-deploy`. Changing it replaces the token (a new token, new value; the old one is revoked).",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"owner": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "Who answers for the token, such as a team (`platform`) or an email address. The provider's `policy` can require it.",
			},
			"description": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "What the token is for.",
			},
			"scopes": schema.SetAttribute{
				Optional:    true,
				ElementType: types.StringType,
				MarkdownDescription: "Scopes granted to the token, `resource:action` such as `billing:read`, or `resource:*`. Each must be " +
					"declared (`tokenward_scope`). A change applies to the live values at once, without a rotation.",
			},
			"roles": schema.SetAttribute{
				Optional:    true,
				ElementType: types.StringType,
				MarkdownDescription: "Roles granted to the token (`tokenward_role`); the token holds their scopes too. A change applies " +
					"at once, without a rotation.",
			},
			"ttl":           lifetime("How long each value of the token is valid.", defaultTTL),
			"rotate_before": lifetime("How long before a value expires its rotation is due; must be shorter than `ttl`.", defaultRotateBefore),
			"overlap": lifetime("How long the previous value stays valid after a rotation, so consumers can pick up the new one; "+
				"at most `rotate_before`, and never past the previous value's own expiry.", defaultOverlap),
			"rotation_triggers": schema.MapAttribute{
				Optional:    true,
				ElementType: types.StringType,
				MarkdownDescription: "Arbitrary values that rotate the token on apply when any of them changes, as `time_rotating`'s " +
					"`triggers` replace a resource; for example `{ incident = \"2026-03-01\" }` to rotate after a leak. They are kept only " +
					"in Terraform state, not in the store, so an imported token has none.",
			},
			"github_secrets": schema.ListNestedAttribute{
				Optional: true,
				MarkdownDescription: "GitHub Actions repository secrets, or environment secrets when `environment` is set, that receive " +
					"the token's value. Needs GitHub credentials (the provider's `github` block, or `TOKENWARD_GITHUB_TOKEN`, then `GITHUB_TOKEN`).",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"repository":  schema.StringAttribute{Required: true, MarkdownDescription: "The repository, `owner/name`, such as `acme/api`."},
					"name":        schema.StringAttribute{Required: true, MarkdownDescription: secretName},
					"environment": schema.StringAttribute{Optional: true, MarkdownDescription: "An environment of the repository, such as `production`; makes the secret an environment secret."},
				}},
			},
			"github_organization_secrets": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "GitHub Actions organization secrets that receive the token's value. Needs GitHub credentials allowed to write organization secrets.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"organization": schema.StringAttribute{Required: true, MarkdownDescription: "The organization, such as `acme`."},
					"name":         schema.StringAttribute{Required: true, MarkdownDescription: secretName},
					"visibility": schema.StringAttribute{Required: true,
						MarkdownDescription: "Which repositories of the organization can use the secret: `all`, `private` or `selected`."},
					"repositories": schema.ListAttribute{Optional: true, ElementType: types.StringType,
						MarkdownDescription: "With `visibility = \"selected\"`, the repositories that can use the secret, as `name` or `owner/name`."},
				}},
			},
			"github_dependabot_secrets": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "Dependabot secrets of repositories that receive the token's value. Needs GitHub credentials.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"repository": schema.StringAttribute{Required: true, MarkdownDescription: "The repository, `owner/name`, such as `acme/api`."},
					"name":       schema.StringAttribute{Required: true, MarkdownDescription: secretName},
				}},
			},
			"files": schema.ListNestedAttribute{
				Optional: true,
				MarkdownDescription: "Local files that receive the token's value, written atomically. A `dotenv` file " +
					"gets one `KEY=value` line and keeps its other lines; a `raw` file holds only the value. A new file gets `mode` " +
					"(`0600` by default) and the declared `owner` and `group`. Changing `path`, `key`, `format`, `mode`, `owner` or " +
					"`group` is a destination change, so it rotates the token: the new value is written with them. The provider's " +
					"`policy` can bound where files go (`allowed_paths`).",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"path": schema.StringAttribute{Required: true, MarkdownDescription: "The file, such as `/etc/app/token` or " +
						"`\"${path.module}/secrets/app.env\"`. A relative path is resolved against Terraform's working directory when the " +
						"plan is made, into `resolved_path`; the store keeps and every later rotation writes that one file, wherever " +
						"`tokenward rotate` runs."},
					"resolved_path": schema.StringAttribute{Computed: true,
						MarkdownDescription: "The absolute, cleaned `path` the token is delivered to: `path` resolved against Terraform's working " +
							"directory at plan time (`secrets/app.env` planned from `/srv/infra` is `/srv/infra/secrets/app.env`). It is what " +
							"the store keeps, what `tokenward rotate` writes and what `tokenward review` and the `policy` check."},
					"key": schema.StringAttribute{Optional: true,
						MarkdownDescription: "For `dotenv`, the variable name. Defaults to the token's name in upper case with every other " +
							"character than a letter or digit as `_` (`ci-deploy` → `CI_DEPLOY`). Not allowed with `raw`."},
					"format": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(destination.FormatDotenv),
						MarkdownDescription: "`dotenv` (a `KEY=value` line) or `raw` (the whole file is the value). Defaults to `dotenv`."},
					"mode": schema.StringAttribute{Optional: true,
						MarkdownDescription: "The file's permission bits in octal, such as `\"0640\"` so that the consumer's group can read it: " +
							"at most `0777`, without setuid, setgid or sticky bits. Unset, a new file gets `0600` and an existing file keeps " +
							"its mode, never wider than `0640`. A `dotenv` file that holds other lines keeps them only for the readers it " +
							"had: a wider `mode`, `owner` or `group` than the existing file's is refused until you `chown`/`chmod` the file yourself."},
					"owner": schema.StringAttribute{Optional: true,
						MarkdownDescription: "The user the file belongs to, a name (`app`) or a numeric id (`1001`). Unset, a new file belongs " +
							"to the user that writes it and an existing one keeps its owner. Giving a file to another user needs root."},
					"group": schema.StringAttribute{Optional: true,
						MarkdownDescription: "The group the file belongs to, a name (`app`) or a numeric id (`1001`), such as the consumer's " +
							"group with `mode = \"0640\"`. Unset, a new file gets the writer's group and an existing one keeps its group."},
				}},
			},
			"fingerprint": computed("The current value's fingerprint, `tw_` + its version id + `…` + its last four characters: safe to " +
				"show, and enough to tell which value a consumer holds."),
			"current_version":  computed("The id of the current version. Known after apply when a change rotates the token."),
			"issued_at":        computed("When the current value became current (RFC 3339)."),
			"expires_at":       computed("When the current value expires (RFC 3339)."),
			"next_rotation_at": computed("When the current value is due for rotation, `expires_at` minus `rotate_before` (RFC 3339)."),
			"status": computed("`active`; `due` (past `next_rotation_at`, waiting for the scheduled rotation); `rotating` (a new value " +
				"is issued and not yet delivered everywhere; the current one stays valid); `expired`; or `unissued`."),
		},
	}
}

func (r *tokenResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = configured(req.ProviderData, &resp.Diagnostics)
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
	lists := []types.List{m.GitHubSecrets, m.GitHubOrganizationSecrets, m.GitHubDependabotSecrets, m.Files}
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
			var es []githubSecretModel
			diags.Append(l.ElementsAs(ctx, &es, false)...)
			for j, e := range es {
				add(j, stringsKnown(e.Repository, e.Name, e.Environment),
					destination.Config{Repository: e.Repository.ValueString(), Name: e.Name.ValueString(), Environment: e.Environment.ValueString()})
			}
		case destination.KindOrganizationSecret:
			var es []githubOrganizationSecretModel
			diags.Append(l.ElementsAs(ctx, &es, false)...)
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
			var es []githubDependabotSecretModel
			diags.Append(l.ElementsAs(ctx, &es, false)...)
			for j, e := range es {
				add(j, stringsKnown(e.Repository, e.Name), destination.Config{Repository: e.Repository.ValueString(), Name: e.Name.ValueString()})
			}
		case destination.KindFile:
			var es []fileModel
			diags.Append(l.ElementsAs(ctx, &es, false)...)
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
	sds, err := storeDestinations(ds)
	if err != nil {
		diags.AddError("Invalid destination", err.Error())
	}
	l, _ := m.lifetime()
	return registry.TokenSpec{
		Name: m.Name.ValueString(), Owner: m.Owner.ValueString(), Description: m.Description.ValueString(),
		Scopes: stringSet(ctx, m.Scopes, diags), Roles: stringSet(ctx, m.Roles, diags),
		Lifetime: l, Destinations: sds,
	}
}

// ValidateConfig checks what needs no store: names, scopes, the lifetime
// rules and every destination, each on its attribute.
func (r *tokenResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m tokenModel
	resp.Diagnostics.Append(getModel(ctx, req.Config.Schema.Type(), req.Config.Raw, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.Name.IsNull() && !m.Name.IsUnknown() {
		if err := registry.CheckName("name", m.Name.ValueString()); err != nil {
			addInvalid(&resp.Diagnostics, path.Root("name"), "Invalid token name", err)
		}
	}
	checkSet := func(attr string, s types.Set, check func(string) error) {
		if s.IsNull() || s.IsUnknown() {
			return
		}
		for _, e := range s.Elements() {
			v, ok := e.(types.String)
			if !ok || v.IsUnknown() || v.IsNull() {
				continue
			}
			if err := check(v.ValueString()); err != nil {
				reason := err.Error()
				var ie *registry.InvalidError
				if errors.As(err, &ie) {
					reason = ie.Reason
				}
				resp.Diagnostics.AddAttributeError(path.Root(attr), "Invalid "+strings.TrimSuffix(attr, "s"), attr+": "+reason+".")
			}
		}
	}
	checkSet("scopes", m.Scopes, registry.CheckScopeName)
	checkSet("roles", m.Roles, func(s string) error { return registry.CheckName("roles", s) })
	if l, ok := m.lifetime(); ok {
		if err := registry.CheckLifetime(l); err != nil {
			addInvalid(&resp.Diagnostics, path.Root("ttl"), "Invalid token lifetime", err)
		}
	}
	checkFiles(ctx, m.Files, &resp.Diagnostics)
	ds, _ := m.destinations(ctx, &resp.Diagnostics)
	seen := map[string]string{}
	for _, d := range ds {
		if field, v, limit, long := tooLongDestination(d); long {
			resp.Diagnostics.AddAttributeError(fieldPath(d.path+"."+field), "Invalid destination",
				fmt.Sprintf("%s.%s: %s is %d characters long; it is at most %d.", d.path, field, quoteCut(v), len(v), limit))
			continue
		}
		sd, err := destination.New(d.kind, d.config)
		if err != nil {
			var de *destination.Error
			field := d.path
			if errors.As(err, &de) {
				field += "." + de.Field
			}
			resp.Diagnostics.AddAttributeError(fieldPath(field), "Invalid destination",
				fmt.Sprintf("%s: %s.", field, strings.TrimPrefix(err.Error(), fieldOf(err)+": ")))
			continue
		}
		if d.kind == destination.KindOrganizationSecret {
			checkSelected(d, &resp.Diagnostics)
		}
		if first, dup := seen[sd.Key]; dup {
			resp.Diagnostics.AddAttributeError(fieldPath(d.path), "Duplicate destination",
				fmt.Sprintf("%s is the same destination as %s (%s); a token delivers to each place once. Remove one of them.", d.path, first, sd.Key))
			continue
		}
		seen[sd.Key] = d.path
	}
}

// tooLongDestination reports the first attribute of d longer than its
// limit, GitHub's for its names, so that the error can say so instead of
// quoting all of it back.
func tooLongDestination(d declared) (field, value string, limit int, long bool) {
	c := d.config
	for _, f := range []struct {
		field, value string
		limit        int
	}{
		{"repository", c.Repository, 39 + 1 + 100}, // owner/name
		{"organization", c.Organization, 39},
		{"environment", c.Environment, 255},
		{"name", c.Name, 255},
		{"key", c.Key, 255},
		{"path", c.Path, 4095}, // PATH_MAX, with its NUL
	} {
		if len(f.value) > f.limit {
			return f.field, f.value, f.limit, true
		}
	}
	for i, r := range c.Repositories {
		if len(r) > 140 {
			return fmt.Sprintf("repositories[%d]", i), r, 140, true
		}
	}
	return "", "", 0, false
}

// fileIDPattern is a user or group as a name (POSIX portable characters,
// and a trailing $ as Samba's machine accounts have) or a numeric id.
var fileIDPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)

// maxFileID is the longest user or group name Linux tools accept.
const maxFileID = 32

// checkFiles checks the mode, owner and group of each file destination.
func checkFiles(ctx context.Context, l types.List, diags *diag.Diagnostics) {
	if l.IsNull() || l.IsUnknown() {
		return
	}
	var files []fileModel
	diags.Append(l.ElementsAs(ctx, &files, false)...)
	for i, f := range files {
		at := path.Root("files").AtListIndex(i)
		field := fmt.Sprintf("files[%d]", i)
		if v := f.Mode; !v.IsNull() && !v.IsUnknown() {
			if err := checkMode(v.ValueString()); err != nil {
				diags.AddAttributeError(at.AtName("mode"), "Invalid destination", fmt.Sprintf("%s.mode: %s.", field, err))
			}
		}
		for _, a := range []struct {
			name, of string
			v        types.String
		}{{"owner", "user", f.Owner}, {"group", "group", f.Group}} {
			if a.v.IsNull() || a.v.IsUnknown() {
				continue
			}
			s := a.v.ValueString()
			switch {
			case len(s) > maxFileID:
				diags.AddAttributeError(at.AtName(a.name), "Invalid destination", fmt.Sprintf("%s.%s: %s is %d characters long; a %s name "+
					"is at most %d characters, or give its numeric id.", field, a.name, quoteCut(s), len(s), a.of, maxFileID))
			case !fileIDPattern.MatchString(s):
				diags.AddAttributeError(at.AtName(a.name), "Invalid destination", fmt.Sprintf("%s.%s: %q must be a %s name, such as "+
					"app, or a numeric id, such as 1001.", field, a.name, s, a.of))
			}
		}
	}
}

// checkMode reports whether s is octal permission bits a token's file may
// have: at most 0777, since setuid, setgid and sticky mean nothing for a
// file that holds a value and could make it something else.
func checkMode(s string) error {
	n, err := strconv.ParseUint(s, 8, 32)
	switch {
	case err != nil: // ParseUint takes no sign, no 0o and no _
		return fmt.Errorf("%s must be octal permission bits, such as \"0640\" or \"0600\"", quoteCut(s))
	case n > 0o7777:
		return fmt.Errorf("%q is more than permission bits: give at most 0777, such as \"0640\"", s)
	case n&^0o777 != 0:
		return fmt.Errorf("%q sets setuid, setgid or sticky bits, which a token's file must not have: give at most 0777, such as \"0640\"", s)
	}
	return nil
}

// checkSelected checks the repositories an organization secret is visible
// to: names of the organization's repositories, or owner/name with the
// organization as owner.
func checkSelected(d declared, diags *diag.Diagnostics) {
	org := d.config.Organization
	for i, r := range d.config.Repositories {
		field := fmt.Sprintf("%s.repositories[%d]", d.path, i)
		full := r
		if !strings.Contains(r, "/") {
			full = org + "/" + r
		}
		owner, _, _ := strings.Cut(full, "/")
		switch {
		case destination.CheckRepository(full) != nil:
			diags.AddAttributeError(fieldPath(field), "Invalid destination",
				fmt.Sprintf("%s: %s must be a repository of %s, as name or %s/name.", field, quoteCut(r), org, org))
		case !strings.EqualFold(owner, org):
			diags.AddAttributeError(fieldPath(field), "Invalid destination",
				fmt.Sprintf("%s: %s is not a repository of %s; an organization secret is visible only to the organization's own repositories.", field, quoteCut(r), org))
		}
	}
}

func fieldOf(err error) string {
	var de *destination.Error
	if errors.As(err, &de) {
		return de.Field
	}
	return ""
}

// addInvalid adds a registry error as a diagnostic; an InvalidError goes on
// the attribute it names, anything else on fallback.
func addInvalid(diags *diag.Diagnostics, fallback path.Path, summary string, err error) {
	var ie *registry.InvalidError
	if errors.As(err, &ie) {
		diags.AddAttributeError(fieldPath(ie.Field), summary, fmt.Sprintf("%s %s.", ie.Field, ie.Reason))
		return
	}
	diags.AddAttributeError(fallback, summary, err.Error())
}

// rotates reports whether applying plan over state rotates the token: a
// destination or a rotation trigger changed, or the token has no value yet
// (its first issue failed half way). Destinations are compared as the
// store holds them, in any order, so another spelling of the same places
// (environment = "" or unset, repositories = [] or unset, a reordered
// list) does not rotate.
func rotates(ctx context.Context, plan, state tokenModel, diags *diag.Diagnostics) bool {
	if state.Status.ValueString() == statusUnissued || !plan.RotationTriggers.Equal(state.RotationTriggers) {
		return true
	}
	p, okP := plan.storedDestinations(ctx, diags)
	s, okS := state.storedDestinations(ctx, diags)
	return !okP || !okS || !sameDestinations(p, s)
}

// storedDestinations returns m's destinations as the store holds them; ok
// is false when one is not known yet or not valid.
func (m tokenModel) storedDestinations(ctx context.Context, diags *diag.Diagnostics) ([]store.Destination, bool) {
	ds, known := m.destinations(ctx, diags)
	if !known {
		return nil, false
	}
	sds, err := storeDestinations(ds)
	return sds, err == nil
}

// sameDestinations reports whether a and b are the same places with the
// same configuration, in any order.
func sameDestinations(a, b []store.Destination) bool {
	if len(a) != len(b) {
		return false
	}
	count := make(map[string]int, len(a))
	id := func(d store.Destination) string { return d.Key + "\x00" + string(d.Config) }
	for _, d := range a {
		count[id(d)]++
	}
	for _, d := range b {
		if count[id(d)] == 0 {
			return false
		}
		count[id(d)]--
	}
	return true
}

// ModifyPlan checks the provider's policy and GitHub credentials, and
// shows the values a rotation will change as known after apply.
func (r *tokenResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	if r.unchanged(ctx, req, resp) {
		return
	}
	var plan, state tokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	resolved := resolveFiles(ctx, &plan, state, &resp.Diagnostics)
	if r.data != nil {
		r.checkPolicy(ctx, plan, &resp.Diagnostics)
		r.checkGitHub(plan.Name, githubLists(plan), &resp.Diagnostics)
	}
	if req.State.Raw.IsNull() {
		// Create: the id is the name; the rest is known after apply.
		if !plan.Name.IsUnknown() {
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("id"), plan.Name)...)
		}
		if resolved {
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("files"), plan.Files)...)
		}
		return
	}
	if rotates(ctx, plan, state, &resp.Diagnostics) {
		plan.Fingerprint, plan.CurrentVersion, plan.IssuedAt = types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
		plan.ExpiresAt, plan.NextRotationAt, plan.Status = types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
	} else if !plan.RotateBefore.Equal(state.RotateBefore) {
		plan.NextRotationAt, plan.Status = types.StringUnknown(), types.StringUnknown()
		before, okB := plan.RotateBefore.Duration()
		expires, err := time.Parse(time.RFC3339, state.ExpiresAt.ValueString())
		if okB && err == nil {
			plan.NextRotationAt = types.StringValue(expires.Add(-before).UTC().Format(time.RFC3339))
		}
	} else if !resolved {
		return
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// resolveFiles sets the resolved_path of each file destination of plan
// whose path is known, and reports whether that changed the plan. A file
// the state holds with a relative path and no resolved_path was stored so
// by a provider that did not resolve paths, and every process that wrote it
// placed it against its own working directory: it is resolved now, once,
// with a warning that says where to.
func resolveFiles(ctx context.Context, plan *tokenModel, state tokenModel, diags *diag.Diagnostics) bool {
	if plan.Files.IsNull() || plan.Files.IsUnknown() {
		return false
	}
	var files []fileModel
	diags.Append(plan.Files.ElementsAs(ctx, &files, false)...)
	var before []fileModel
	if !state.Files.IsNull() && !state.Files.IsUnknown() {
		diags.Append(state.Files.ElementsAs(ctx, &before, false)...)
	}
	if diags.HasError() {
		return false
	}
	changed := false
	for i, f := range files {
		if f.Path.IsUnknown() || f.Path.IsNull() {
			continue
		}
		want := resolvePath(f.Path.ValueString())
		if f.ResolvedPath.ValueString() != want || f.ResolvedPath.IsNull() || f.ResolvedPath.IsUnknown() {
			files[i].ResolvedPath = types.StringValue(want)
			changed = true
		}
		for _, b := range before {
			if b.ResolvedPath.IsNull() && !filepath.IsAbs(b.Path.ValueString()) && resolvePath(b.Path.ValueString()) == want {
				diags.AddAttributeWarning(path.Root("files").AtListIndex(i).AtName("path"), "Relative file path resolved",
					fmt.Sprintf("The store holds files[%d] as the relative path %q, which tokenward rotate resolves against the folder it "+
						"runs in, so a rotation from another folder writes another file. This apply stores it as %s, resolved against "+
						"Terraform's working directory; if the token's consumer reads another file, change path to that one.",
						i, b.Path.ValueString(), want))
			}
		}
	}
	if !changed {
		return false
	}
	l, d := types.ListValueFrom(ctx, fileType, files)
	diags.Append(d...)
	if d.HasError() {
		return false
	}
	plan.Files = l
	return true
}

// filesResolved reports whether every file destination of a state has the
// resolved_path its path resolves to now.
func filesResolved(l types.List) bool {
	if l.IsNull() || l.IsUnknown() {
		return true
	}
	for _, e := range l.Elements() {
		o, ok := e.(types.Object)
		if !ok {
			return false
		}
		p, _ := o.Attributes()["path"].(types.String)
		rp, _ := o.Attributes()["resolved_path"].(types.String)
		if rp.IsNull() || rp.ValueString() != resolvePath(p.ValueString()) {
			return false
		}
	}
	return true
}

// unchanged runs the checks of ModifyPlan for a token whose plan is its
// state, the usual case in a plan of many tokens, and reports whether it
// did. It reads only the attributes the checks need: reading the whole plan
// and state into models cost more than all else ModifyPlan does. A policy
// needs the whole plan, and a token that has no value yet rotates, so both
// take the long way.
func (r *tokenResource) unchanged(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) bool {
	if req.State.Raw.IsNull() || !req.Plan.Raw.Equal(req.State.Raw) || (r.data != nil && !r.data.policy.Empty()) {
		return false
	}
	var files types.List
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("files"), &files)...)
	if resp.Diagnostics.HasError() || !filesResolved(files) {
		return false
	}
	var status types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("status"), &status)...)
	if resp.Diagnostics.HasError() || status.ValueString() == statusUnissued {
		return false
	}
	if r.data == nil || r.data.github {
		return true
	}
	var name types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("name"), &name)...)
	lists := githubLists(tokenModel{})
	for i := range lists {
		resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root(lists[i].attr), &lists[i].list)...)
	}
	if resp.Diagnostics.HasError() {
		return true
	}
	r.checkGitHub(name, lists, &resp.Diagnostics)
	return true
}

// checkPolicy adds a diagnostic on the attribute for every way plan breaks
// the provider's policy. At plan time it checks what is known; at apply,
// where everything is, all of it, with the roles' scopes as the store holds
// them then.
func (r *tokenResource) checkPolicy(ctx context.Context, plan tokenModel, diags *diag.Diagnostics) {
	pol := r.data.policy
	if pol.Empty() {
		return
	}
	l, lok := plan.lifetime()
	t := policy.Token{Name: plan.Name.ValueString(), Owner: plan.Owner.ValueString(), TTL: l.TTL, RotateBefore: l.RotateBefore, Overlap: l.Overlap}
	if !lok {
		// Not known yet: check the rest, and the lifetime at apply.
		t.TTL, t.Overlap = 0, pol.MinOverlap
	}
	if plan.Owner.IsUnknown() {
		t.Owner = "unknown"
	}
	// At plan time a scope or role may be unknown, such as the id of a
	// tokenward_scope created in the same apply: check the known ones, and
	// the rest at apply, where every one is known.
	t.Scopes = knownStrings(plan.Scopes)
	if len(pol.ForbiddenScopes) > 0 {
		t.Roles = map[string][]string{}
		for _, name := range knownStrings(plan.Roles) {
			if role, err := r.data.reg.Role(ctx, name); err == nil {
				t.Roles[name] = role.Scopes
			}
		}
	}
	ds, _ := plan.destinations(ctx, diags)
	for _, d := range ds {
		t.Destinations = append(t.Destinations, policy.Destination{Path: d.path, Kind: d.kind, Config: d.config})
	}
	for _, v := range pol.CheckToken(t) {
		diags.AddAttributeError(fieldPath(v.Field), "Token breaks the provider's policy",
			fmt.Sprintf("%s: %s. Change the token, or the provider's policy block if the policy is what should change.", v.Field, v.Message))
	}
}

// namedList is a destination list attribute and its value.
type namedList struct {
	attr string
	list types.List
}

// githubLists returns the plan's GitHub destination lists.
func githubLists(plan tokenModel) []namedList {
	return []namedList{
		{"github_secrets", plan.GitHubSecrets},
		{"github_organization_secrets", plan.GitHubOrganizationSecrets},
		{"github_dependabot_secrets", plan.GitHubDependabotSecrets},
	}
}

// checkGitHub reports GitHub destinations of token name when the provider
// has no GitHub credentials.
func (r *tokenResource) checkGitHub(name types.String, lists []namedList, diags *diag.Diagnostics) {
	if r.data.github {
		return
	}
	for _, l := range lists {
		if l.list.IsNull() || (!l.list.IsUnknown() && len(l.list.Elements()) == 0) {
			continue
		}
		diags.AddAttributeError(path.Root(l.attr), "GitHub credentials are not configured",
			fmt.Sprintf("Token %s delivers to GitHub (%s), so the provider needs GitHub credentials. Set the TOKENWARD_GITHUB_TOKEN (or "+
				"GITHUB_TOKEN) environment variable to a token allowed to write secrets, or configure the provider's github block: token, or app_id, "+
				"installation_id and private_key_file of a GitHub App (and api_url for GitHub Enterprise Server).",
				name.ValueString(), l.attr))
		return
	}
}

func (r *tokenResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan tokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := plan.spec(ctx, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	// What was unknown at plan time is known now: check the policy again
	// before anything is stored or delivered.
	r.checkPolicy(ctx, plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.data.reg.CreateToken(ctx, spec); err != nil {
		if errors.Is(err, registry.ErrExists) {
			resp.Diagnostics.AddAttributeError(path.Root("name"), "Token already exists",
				fmt.Sprintf("A token named %s exists in the tokenward store already. Import it (terraform import <address> %s) or choose another name.", spec.Name, spec.Name))
			return
		}
		addTokenError(&resp.Diagnostics, "Cannot create token "+spec.Name, err)
		return
	}
	res, err := r.data.engine.Rotate(ctx, spec.Name)
	if err != nil {
		// Undo, so that the next apply starts afresh: revoke what was
		// issued and remove what was delivered.
		var cleanup []error
		if derr := r.data.reg.DeleteToken(ctx, spec.Name); derr != nil {
			cleanup = append(cleanup, derr)
		}
		if werr := r.data.engine.Withdraw(ctx, delivered(spec.Destinations, res.Delivered)); werr != nil {
			cleanup = append(cleanup, werr)
		}
		detail := fmt.Sprintf("The token's first value could not be delivered: %s.\n\nNothing was kept: the token was removed from "+
			"the store, so fix the destination and apply again.", err)
		if len(cleanup) > 0 {
			detail += fmt.Sprintf("\n\nCleaning up failed too: %s. Check the store with the tokenward binary before applying again.", errors.Join(cleanup...))
		}
		resp.Diagnostics.AddError("Cannot issue token "+spec.Name, detail)
		return
	}
	r.refresh(ctx, &plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func addTokenError(diags *diag.Diagnostics, summary string, err error) {
	var ie *registry.InvalidError
	switch {
	case errors.As(err, &ie):
		diags.AddAttributeError(fieldPath(ie.Field), summary, fmt.Sprintf("%s %s.", ie.Field, ie.Reason))
	case errors.Is(err, registry.ErrNotFound):
		diags.AddError(summary, fmt.Sprintf("%s. Declare every scope (tokenward_scope) and role (tokenward_role) the token names, "+
			"and reference them (scopes = [tokenward_scope.x.name]) so Terraform creates them first.", err))
	default:
		diags.AddError(summary, err.Error())
	}
}

// refresh fills m's computed attributes from the store and reports whether
// the token exists.
func (r *tokenResource) refresh(ctx context.Context, m *tokenModel, diags *diag.Diagnostics) bool {
	ti, err := r.data.reg.Token(ctx, m.Name.ValueString())
	if errors.Is(err, registry.ErrNotFound) {
		return false
	}
	if err != nil {
		diags.AddError("Cannot read token "+m.Name.ValueString(), err.Error())
		return false
	}
	c := computedOf(ti, r.data.now())
	m.ID = types.StringValue(ti.Name)
	m.Fingerprint, m.CurrentVersion, m.IssuedAt = c.fingerprint, c.currentVersion, c.issuedAt
	m.ExpiresAt, m.NextRotationAt, m.Status = c.expiresAt, c.nextRotationAt, c.status
	return true
}

func (r *tokenResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state tokenModel
	resp.Diagnostics.Append(getModel(ctx, req.State.Schema.Type(), req.State.Raw, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	ti, err := r.data.reg.Token(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read token "+name, err.Error())
		return
	}
	m := r.fromStore(ctx, ti, state, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	// resp.State holds the prior state already. Setting it again costs as
	// much as reading it, and in a plan nearly every token is unchanged.
	if !sameModel(m, state) {
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	}
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
	s, d := types.SetValueFrom(ctx, types.StringType, vs)
	diags.Append(d...)
	return s
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
	var priorFiles []fileModel
	if !prior.Files.IsNull() && !prior.Files.IsUnknown() {
		diags.Append(prior.Files.ElementsAs(ctx, &priorFiles, false)...)
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
				var d diag.Diagnostics
				repos, d = types.ListValueFrom(ctx, types.StringType, c.Repositories)
				diags.Append(d...)
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
		}
	}
	m.GitHubSecrets = optList(ctx, githubSecretType, secrets, prior.GitHubSecrets, diags)
	m.GitHubOrganizationSecrets = optList(ctx, githubOrganizationSecretType, orgs, prior.GitHubOrganizationSecrets, diags)
	m.GitHubDependabotSecrets = optList(ctx, githubDependabotSecretType, dependabot, prior.GitHubDependabotSecrets, diags)
	m.Files = optList(ctx, fileType, files, prior.Files, diags)
	if m.GitHubSecrets.Equal(prior.GitHubSecrets) && m.GitHubOrganizationSecrets.Equal(prior.GitHubOrganizationSecrets) &&
		m.GitHubDependabotSecrets.Equal(prior.GitHubDependabotSecrets) && m.Files.Equal(prior.Files) {
		return
	}
	// The prior state may spell the same destinations another way, such as
	// environment = "" for none, or in another order: keep its spelling,
	// or the next plan would show a change that is none.
	if pd, ok := prior.storedDestinations(ctx, diags); ok && sameDestinations(pd, ti.Destinations) {
		m.GitHubSecrets, m.GitHubOrganizationSecrets = prior.GitHubSecrets, prior.GitHubOrganizationSecrets
		m.GitHubDependabotSecrets, m.Files = prior.GitHubDependabotSecrets, withResolved(ctx, prior.Files, diags)
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
	var fs []fileModel
	diags.Append(files.ElementsAs(ctx, &fs, false)...)
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
	l, d := types.ListValueFrom(ctx, fileType, fs)
	diags.Append(d...)
	return l
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
	l, d := types.ListValueFrom(ctx, t, vs)
	diags.Append(d...)
	return l
}

func (r *tokenResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state tokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := plan.spec(ctx, &resp.Diagnostics)
	before := state.spec(ctx, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.checkPolicy(ctx, plan, &resp.Diagnostics) // as in Create
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.data.reg.UpdateToken(ctx, spec); err != nil {
		addTokenError(&resp.Diagnostics, "Cannot update token "+spec.Name, err)
		return
	}
	if rotates(ctx, plan, state, &resp.Diagnostics) {
		if res, err := r.data.engine.Rotate(ctx, spec.Name); err != nil {
			// Put the destinations back as the state knows them, so the
			// next plan shows this change again and its apply retries the
			// rotation (with the same pending value).
			detail := fmt.Sprintf("Rotating the token to deliver to its new destinations failed: %s.\n\nThe current value stays valid "+
				"where it was delivered. Fix the destination and apply again: the rotation resumes with the same new value.", err)
			revert := spec
			revert.Destinations = before.Destinations
			if _, rerr := r.data.reg.UpdateToken(ctx, revert); rerr != nil {
				detail += fmt.Sprintf("\n\nRestoring the previous destinations failed too: %s.", rerr)
			}
			if werr := r.withdrawAdded(ctx, spec.Name, before.Destinations, delivered(spec.Destinations, res.Delivered)); werr != nil {
				detail += fmt.Sprintf("\n\nRemoving the new value from the new destinations failed too: %s. Delete it there by hand.", werr)
			}
			resp.Diagnostics.AddError("Cannot rotate token "+spec.Name, detail)
			return
		}
		var removed []store.Destination
		for _, old := range before.Destinations {
			if !hasKey(spec.Destinations, old.Key) {
				removed = append(removed, old)
			}
		}
		if err := r.data.engine.Withdraw(ctx, removed); err != nil {
			resp.Diagnostics.AddWarning("Could not remove the token from a removed destination",
				fmt.Sprintf("The token was rotated, so what is left there no longer verifies after the overlap, but it could not be deleted: %s. Delete it by hand.", err))
		}
	}
	planned := plan
	if !r.refresh(ctx, &plan, &resp.Diagnostics) && !resp.Diagnostics.HasError() {
		resp.Diagnostics.AddError("Token disappeared", fmt.Sprintf("Token %s was deleted from the store during the apply; apply again to create it.", spec.Name))
	}
	if resp.Diagnostics.HasError() {
		return
	}
	// Terraform requires what the plan knew to stay as planned. A rotation
	// by the scheduled workflow, or the clock passing next_rotation_at,
	// between plan and apply shows at the next refresh instead.
	keep := func(dst *types.String, p types.String) {
		if !p.IsUnknown() {
			*dst = p
		}
	}
	keep(&plan.Fingerprint, planned.Fingerprint)
	keep(&plan.CurrentVersion, planned.CurrentVersion)
	keep(&plan.IssuedAt, planned.IssuedAt)
	keep(&plan.ExpiresAt, planned.ExpiresAt)
	keep(&plan.NextRotationAt, planned.NextRotationAt)
	keep(&plan.Status, planned.Status)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// withdrawAdded removes the pending value of token name from the
// destinations of got that are not in kept, after a failed rotation put
// the token's destinations back to kept: nothing would rotate or remove
// what they hold. Each one is recorded as not delivered, so the rotation,
// when it resumes with the same pending value, writes it again.
func (r *tokenResource) withdrawAdded(ctx context.Context, name string, kept, got []store.Destination) error {
	var added []store.Destination
	for _, d := range got {
		if !hasKey(kept, d.Key) {
			added = append(added, d)
		}
	}
	if len(added) == 0 {
		return nil
	}
	ti, err := r.data.reg.Token(ctx, name)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range added {
		if err := r.data.engine.Withdraw(ctx, []store.Destination{d}); err != nil {
			errs = append(errs, err)
			continue
		}
		if ti.Pending != nil {
			cause := errors.New("withdrawn: the rotation failed and the destination was taken back from the token")
			if err := r.data.reg.RecordDelivery(ctx, name, ti.Pending.ID, d.Key, cause); err != nil {
				errs = append(errs, fmt.Errorf("record withdrawal from %s: %w", d.Key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// delivered returns the destinations of ds whose keys are in keys.
func delivered(ds []store.Destination, keys []string) []store.Destination {
	var out []store.Destination
	for _, d := range ds {
		if slices.Contains(keys, d.Key) {
			out = append(out, d)
		}
	}
	return out
}

func hasKey(ds []store.Destination, key string) bool {
	for _, d := range ds {
		if d.Key == key {
			return true
		}
	}
	return false
}

func (r *tokenResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state tokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	var ds []store.Destination
	if ti, err := r.data.reg.Token(ctx, name); err == nil {
		ds = ti.Destinations
	} else {
		// Deleted already, by a destroy that could not clean up: the state
		// says where the token was delivered.
		ds = state.spec(ctx, &resp.Diagnostics).Destinations
	}
	if err := r.data.reg.DeleteToken(ctx, name); err != nil && !errors.Is(err, registry.ErrNotFound) {
		resp.Diagnostics.AddError("Cannot delete token "+name, err.Error())
		return
	}
	if err := r.data.engine.Withdraw(ctx, ds); err != nil {
		resp.Diagnostics.AddError("Token revoked, but not removed from every destination",
			fmt.Sprintf("Every value of %s is revoked, but removing it failed: %s. Fix the destination and destroy again.", name, err))
	}
}

func (r *tokenResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := registry.CheckName("name", req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import id", "Import a token by its name, such as ci-deploy: "+err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
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
