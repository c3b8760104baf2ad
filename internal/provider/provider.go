// Package provider is the tokenward Terraform provider: it parses
// configuration, calls the registry and renders results. It holds no domain
// logic of its own.
package provider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/pluginserver"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Provider is the tokenward provider.
type Provider struct {
	version string
	getenv  func(string) string
	// newGitHub builds the writer of GitHub secrets, the first time a token
	// with GitHub destinations is delivered or withdrawn.
	newGitHub func(destination.GitHubConfig) (destination.Writer, error)
	// openIssuer connects to a credential's issuer; nil is issuer.Open
	// with the provider's environment. Tests set a fake's.
	openIssuer rotation.Opener

	shortcutOnce sync.Once
	shortcut     *tokenShortcut
}

// Shortcut answers a plan's RPCs of unchanged tokens without the
// framework's per-attribute passes (see tokenShortcut); pluginserver asks
// for it when it serves the provider.
func (p *Provider) Shortcut() pluginserver.Shortcut { return p.tokenShortcut() }

func (p *Provider) tokenShortcut() *tokenShortcut {
	p.shortcutOnce.Do(func() { p.shortcut = newTokenShortcut() })
	return p.shortcut
}

// New returns a constructor of the provider at a version, as
// providerserver.Serve and the acceptance tests want it.
func New(version string, getenv func(string) string) func() provider.Provider {
	return func() provider.Provider {
		return &Provider{version: version, getenv: getenv, newGitHub: newGitHubWriter}
	}
}

// issuers is how the provider's engine connects to credentials' issuers:
// with the admin credentials of the provider's environment.
func (p *Provider) issuers() rotation.Opener {
	if p.openIssuer != nil {
		return p.openIssuer
	}
	return func(ctx context.Context, c issuer.Config) (issuer.Issuer, error) {
		return issuer.Open(ctx, c, p.getenv)
	}
}

// newGitHubWriter builds the GitHub secrets writer.
func newGitHubWriter(cfg destination.GitHubConfig) (destination.Writer, error) {
	gh, err := destination.NewGitHub(cfg)
	if err != nil {
		return nil, err // not a nil *GitHub in a non-nil Writer
	}
	return gh, nil
}

type providerModel struct {
	Store         types.String `tfsdk:"store"`
	MasterKeyFile types.String `tfsdk:"master_key_file"`
	GitHub        *githubModel `tfsdk:"github"`
	Policy        *policyModel `tfsdk:"policy"`
	Vault         *vaultModel  `tfsdk:"vault"`
	AWS           *awsModel    `tfsdk:"aws"`
}

type githubModel struct {
	Token          types.String `tfsdk:"token"`
	AppID          types.Int64  `tfsdk:"app_id"`
	InstallationID types.Int64  `tfsdk:"installation_id"`
	PrivateKeyFile types.String `tfsdk:"private_key_file"`
	APIURL         types.String `tfsdk:"api_url"`
}

type policyModel struct {
	MaxTTL              durationValue `tfsdk:"max_ttl"`
	MinOverlap          durationValue `tfsdk:"min_overlap"`
	RequireOwner        types.Bool    `tfsdk:"require_owner"`
	ForbiddenScopes     types.List    `tfsdk:"forbidden_scopes"`
	MaxPrivileged       types.Int64   `tfsdk:"max_privileged_scopes"`
	OwnerForPrivileged  types.Bool    `tfsdk:"require_owner_for_privileged"`
	AllowedRepositories types.List    `tfsdk:"allowed_repositories"`
	AllowedPaths        types.List    `tfsdk:"allowed_paths"`
	OnRevokedUsed       types.String  `tfsdk:"on_revoked_version_used"`
}

// Metadata names the provider.
func (p *Provider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "tokenward"
	resp.Version = p.version
}

// Schema describes the provider configuration.
// ConfigValidators refuses a NUL byte in the provider block, as every
// resource and data source does in its own.
func (p *Provider) ConfigValidators(context.Context) []provider.ConfigValidator {
	return []provider.ConfigValidator{noNUL{}}
}

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
					"Defaults to the `TOKENWARD_STORE` environment variable. The provider creates the store (the file, or the tables " +
					"in an empty database) only on a first apply, when Terraform's state holds no tokenward resource: the plan says " +
					"so and creates nothing. While the state holds tokenward resources, a store that does not exist or holds no " +
					"tokenward records fails the plan as lost or mistyped, naming the path.",
			},
			"master_key_file": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "A file holding the base64 master key (32 bytes), first key primary, older keys after it. " +
					"When unset, the key comes from `TOKENWARD_MASTER_KEY`, then the file `TOKENWARD_MASTER_KEY_FILE` names.",
			},
			"github": schema.SingleNestedAttribute{
				Optional: true,
				MarkdownDescription: "Credentials for writing GitHub secrets, needed only when a token has GitHub destinations " +
					"(`github_secrets`, `github_organization_secrets`, `github_dependabot_secrets`). Give a `token`, or a GitHub App's " +
					"`app_id`, `installation_id` and `private_key_file`. Without credentials here the provider reads them from the environment " +
					"as the tokenward binary does: `TOKENWARD_GITHUB_TOKEN`, then `GITHUB_TOKEN`; or `TOKENWARD_GITHUB_APP_ID`, `TOKENWARD_GITHUB_APP_INSTALLATION_ID` and " +
					"`TOKENWARD_GITHUB_APP_PRIVATE_KEY_FILE`; and `GITHUB_API_URL`. Writes are paced one second apart, as GitHub asks " +
					"(`TOKENWARD_GITHUB_PACE` changes it).",
				Attributes: map[string]schema.Attribute{
					"token": schema.StringAttribute{
						Optional:  true,
						Sensitive: true,
						MarkdownDescription: "A GitHub token allowed to write secrets (fine-grained: the Secrets, Dependabot secrets and, for " +
							"organization secrets, Organization secrets permissions, read and write). Defaults to `TOKENWARD_GITHUB_TOKEN`, then " +
							"`GITHUB_TOKEN`; an empty string counts as unset. Prefer the environment variable to a literal.",
					},
					"app_id": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "The id of a GitHub App to authenticate as, with `installation_id` and `private_key_file`, instead of `token`.",
					},
					"installation_id": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "The id of the GitHub App's installation on the organization or account that owns the repositories.",
					},
					"private_key_file": schema.StringAttribute{
						Optional:            true,
						MarkdownDescription: "A file holding the GitHub App's private key (PEM), such as `github-app.pem`. Read only when a GitHub secret is written.",
					},
					"api_url": schema.StringAttribute{
						Optional: true,
						MarkdownDescription: "The GitHub REST API URL, for GitHub Enterprise Server (`https://github.example.com/api/v3`). " +
							"Defaults to `GITHUB_API_URL`, then `https://api.github.com`.",
					},
				},
			},
			"vault": vaultProviderAttribute(),
			"aws":   awsProviderAttribute(),
			"policy": schema.SingleNestedAttribute{
				Optional: true,
				MarkdownDescription: "Organisation limits every `tokenward_token` must meet. A token that breaks one fails at plan time " +
					"with an error on the attribute at fault. Leave the block out to allow everything.",
				Attributes: map[string]schema.Attribute{
					"max_ttl": schema.StringAttribute{
						Optional:            true,
						CustomType:          durationType{},
						MarkdownDescription: "The longest `ttl` a token may have, such as `90d`. No limit when unset.",
					},
					"min_overlap": schema.StringAttribute{
						Optional:            true,
						CustomType:          durationType{},
						MarkdownDescription: "The shortest `overlap` a token may have, such as `1h`, so consumers have time to pick up a rotated value. No limit when unset.",
					},
					"require_owner": schema.BoolAttribute{
						Optional:            true,
						MarkdownDescription: "Whether every token must name an `owner`. Defaults to `false`.",
					},
					"forbidden_scopes": schema.ListAttribute{
						Optional:    true,
						ElementType: types.StringType,
						MarkdownDescription: "Scopes no token may hold, directly or through a role: `*` (every scope), `resource:*` " +
							"(every action of a resource, such as `admin:*`) or an exact scope (`billing:delete`). A token holding " +
							"`billing:*` breaks a forbidden `billing:delete`, since it grants it.",
					},
					"max_privileged_scopes": schema.Int64Attribute{
						Optional: true,
						MarkdownDescription: "How many privileged scopes (`tokenward_scope`'s `privileged`) one token may hold, directly, " +
							"through its roles or through a wildcard such as `billing:*`, such as `2`. No limit when unset or `0`. " +
							"Honeytokens are exempt: their scopes grant nothing. A scope declared privileged in the same run is counted at plan time " +
							"when the token references it (`tokenward_scope.refund.name`), otherwise when the token is applied.",
					},
					"require_owner_for_privileged": schema.BoolAttribute{
						Optional: true,
						MarkdownDescription: "Whether a token that holds a privileged scope must name an `owner`, even when " +
							"`require_owner` is off. Defaults to `false`. Honeytokens are exempt.",
					},
					"allowed_repositories": schema.ListAttribute{
						Optional:    true,
						ElementType: types.StringType,
						MarkdownDescription: "The only repositories GitHub destinations may deliver to, as `owner/name` globs such as " +
							"`acme/*` or `acme/api-*`. Applies to repository, environment and Dependabot secrets and to the repositories " +
							"of organization secrets. Every repository is allowed when unset.",
					},
					"allowed_paths": schema.ListAttribute{
						Optional:    true,
						ElementType: types.StringType,
						MarkdownDescription: "The only files `files` destinations may write, as absolute path globs: `*` matches within one " +
							"folder (`/etc/app/*`), a trailing `/**` anything under a folder (`/srv/app/**`). Each destination's `resolved_path` " +
							"is checked, cleaned, so `/srv/app/../../root/x` is `/root/x` and refused. Every path is allowed when unset; " +
							"`tokenward review` flags paths that hand over a host (`authorized_keys`, `/root/`, `/etc/sudoers`, ...) whatever it says.",
					},
					"on_revoked_version_used": schema.StringAttribute{
						Optional: true,
						MarkdownDescription: "What `tokenward serve` does when a revoked version of a token, or a previous one past its " +
							"overlap, is presented: `alert` (the default) raises a `revoked_version_used` alert; `revoke` also revokes every " +
							"version of the token (it verifies no more until rotated) and the alert says so. The server reads it from the " +
							"policy file it is given (`tokenward serve --policy FILE`, the same file `tokenward review --policy` reads).",
					},
				},
			},
		},
	}
}

// Configure opens the store and the keyring and hands the registry to the
// resources and data sources. A store that does not exist is not created
// here: a plan reads it as empty, and only a first apply's first change
// creates it (see guardedResource for when that is refused).
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
	cfg.GitHub = cfg.GitHub.withoutEmpty()
	checkGitHub(cfg.GitHub, &resp.Diagnostics)
	checkSecretManagerSettings(cfg.Vault, cfg.AWS, &resp.Diagnostics)
	pol := readPolicy(ctx, cfg.Policy, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	reg, err := registry.OpenDeferred(ctx, registry.Config{
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
	for _, w := range registry.Warnings(registry.Config{MasterKeyFile: cfg.MasterKeyFile.ValueString(), Getenv: p.getenv}) {
		resp.Diagnostics.AddWarning(w.Summary, w.Detail)
	}
	loadGitHub, hasGitHub := p.githubConfig(cfg.GitHub)
	writer := destination.NewRouter(&lazyWriter{build: func() (destination.Writer, error) {
		gc, err := loadGitHub()
		if err != nil {
			return nil, err
		}
		return p.newGitHub(gc)
	}}, p.secretManagerWriters(cfg.Vault, cfg.AWS)...)
	data := &providerData{
		now:    reg.Now,
		reg:    reg,
		policy: pol,
		writer: writer,
		engine: rotation.New(reg, writer, rotation.WithIssuers(p.issuers())),
		github: hasGitHub,
		tokens: newTokenSnapshot(reg),
		vault:  p.vaultConfigured(cfg.Vault),
	}
	resp.ResourceData = data
	resp.DataSourceData = data
	p.tokenShortcut().configure(ctx, data)
}

// withoutEmpty returns m with every empty string as null, and nil when
// nothing is left: github = { token = var.github_token } with the variable
// defaulting to "" means no token here, so the environment's counts.
func (m *githubModel) withoutEmpty() *githubModel {
	if m == nil {
		return nil
	}
	out := *m
	for _, v := range []*types.String{&out.Token, &out.PrivateKeyFile, &out.APIURL} {
		if !v.IsUnknown() && v.ValueString() == "" {
			*v = types.StringNull()
		}
	}
	if out.Token.IsNull() && out.AppID.IsNull() && out.InstallationID.IsNull() && out.PrivateKeyFile.IsNull() && out.APIURL.IsNull() {
		return nil
	}
	return &out
}

// githubConfig resolves the GitHub credentials: the github block when it
// gives a token or a GitHub App, else the environment as the tokenward
// binary reads it (TOKENWARD_GITHUB_TOKEN, then GITHUB_TOKEN; or TOKENWARD_GITHUB_APP_ID,
// TOKENWARD_GITHUB_APP_INSTALLATION_ID and TOKENWARD_GITHUB_APP_PRIVATE_KEY
// or _FILE). api_url falls back to GITHUB_API_URL; writes are paced by
// TOKENWARD_GITHUB_PACE, one second by default, as GitHub asks. load reads
// the private key file and reports bad settings, so it runs only when a
// GitHub destination is written; configured says whether any credentials
// are set.
func (p *Provider) githubConfig(m *githubModel) (load func() (destination.GitHubConfig, error), configured bool) {
	apiURL := ""
	if m != nil {
		apiURL = m.APIURL.ValueString()
	}
	if m == nil || (m.Token.IsNull() && m.AppID.IsNull()) {
		cfg, ok, err := destination.GitHubConfigFromEnv(p.getenv)
		if apiURL != "" {
			cfg.APIURL = apiURL
		}
		return func() (destination.GitHubConfig, error) {
			switch {
			case err != nil:
				return cfg, fmt.Errorf("GitHub credentials from the environment: %w", err)
			case !ok:
				return cfg, destination.ErrNoGitHub
			}
			return cfg, nil
		}, ok || err != nil
	}
	cfg := destination.GitHubConfig{
		Token: m.Token.ValueString(), AppID: m.AppID.ValueInt64(), InstallationID: m.InstallationID.ValueInt64(),
		APIURL: apiURL, Pace: time.Second,
	}
	if cfg.APIURL == "" {
		cfg.APIURL = p.getenv(destination.EnvGitHubAPIURL)
	}
	keyFile := m.PrivateKeyFile.ValueString()
	return func() (destination.GitHubConfig, error) {
		if s := p.getenv(destination.EnvGitHubPace); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return cfg, fmt.Errorf("%s: %q is not a duration such as 1s or 500ms", destination.EnvGitHubPace, s)
			}
			cfg.Pace = d
		}
		if keyFile != "" {
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return cfg, fmt.Errorf("read the GitHub App private key (github.private_key_file): %w", err)
			}
			cfg.PrivateKey = key
		}
		return cfg, nil
	}, true
}

// checkGitHub reports a github block that is not known yet or incomplete,
// on the attribute at fault.
func checkGitHub(m *githubModel, diags *diag.Diagnostics) {
	if m == nil {
		return
	}
	at := path.Root("github")
	for name, v := range map[string]interface{ IsUnknown() bool }{
		"token": m.Token, "app_id": m.AppID, "installation_id": m.InstallationID, "private_key_file": m.PrivateKeyFile, "api_url": m.APIURL,
	} {
		if v.IsUnknown() {
			diags.AddAttributeError(at.AtName(name), "GitHub setting is not known yet",
				"The github block must be known at plan time: use literals, variables or environment variables, not attributes of other resources.")
		}
	}
	if diags.HasError() {
		return
	}
	app := !m.AppID.IsNull() || !m.InstallationID.IsNull() || !m.PrivateKeyFile.IsNull()
	if app && !m.Token.IsNull() {
		diags.AddAttributeError(at.AtName("token"), "Conflicting GitHub credentials",
			"Give either token or a GitHub App (app_id, installation_id and private_key_file), not both.")
		return
	}
	if app {
		for name, null := range map[string]bool{"app_id": m.AppID.IsNull(), "installation_id": m.InstallationID.IsNull(), "private_key_file": m.PrivateKeyFile.IsNull()} {
			if null {
				diags.AddAttributeError(at.AtName(name), "Incomplete GitHub App credentials",
					"A GitHub App needs app_id, installation_id and private_key_file; set "+name+" too.")
			}
		}
	}
}

// readPolicy builds the policy from its block and checks it.
func readPolicy(ctx context.Context, m *policyModel, diags *diag.Diagnostics) policy.Policy {
	var pol policy.Policy
	if m == nil {
		return pol
	}
	at := path.Root("policy")
	if m.MaxTTL.IsUnknown() || m.MinOverlap.IsUnknown() || m.RequireOwner.IsUnknown() ||
		m.ForbiddenScopes.IsUnknown() || m.MaxPrivileged.IsUnknown() || m.OwnerForPrivileged.IsUnknown() || m.AllowedRepositories.IsUnknown() || m.AllowedPaths.IsUnknown() || m.OnRevokedUsed.IsUnknown() {
		diags.AddAttributeError(at, "Policy is not known yet",
			"The policy block must be known at plan time: use literals, variables or locals, not attributes of other resources.")
		return pol
	}
	pol.MaxTTL, _ = m.MaxTTL.Duration()
	pol.MinOverlap, _ = m.MinOverlap.Duration()
	pol.RequireOwner = m.RequireOwner.ValueBool()
	pol.RequireOwnerForPrivileged = m.OwnerForPrivileged.ValueBool()
	if n := m.MaxPrivileged.ValueInt64(); n > math.MaxInt32 {
		diags.AddAttributeError(at.AtName("max_privileged_scopes"), "Invalid policy", fmt.Sprintf("max_privileged_scopes is %d; give a count of scopes, such as 2, or 0 for no limit.", n))
	} else {
		pol.MaxPrivilegedScopes = int(n)
	}
	pol.OnRevokedVersionUsed = m.OnRevokedUsed.ValueString()
	diags.Append(m.ForbiddenScopes.ElementsAs(ctx, &pol.ForbiddenScopes, false)...)
	diags.Append(m.AllowedRepositories.ElementsAs(ctx, &pol.AllowedRepositories, false)...)
	diags.Append(m.AllowedPaths.ElementsAs(ctx, &pol.AllowedPaths, false)...)
	if diags.HasError() {
		return pol
	}
	for _, v := range pol.Check() {
		diags.AddAttributeError(fieldPath("policy."+v.Field), "Invalid policy", v.Message+".")
	}
	return pol
}

// providerData is what Configure hands to every resource and data source.
type providerData struct {
	now    func() time.Time // the registry's clock: TOKENWARD_NOW or the wall clock
	reg    *registry.Registry
	policy policy.Policy
	writer destination.Writer // files; GitHub, Vault and AWS secrets when their settings are there
	engine *rotation.Engine
	github bool // GitHub credentials are configured
	// tokens is what the token resource's Read reads.
	tokens *tokenSnapshot
	vault  bool // a Vault address or credentials are configured
	// warnCreate says once per run that a first apply creates the store.
	warnCreate sync.Once
	// storeID is the store's id (registry.StoreID) once it is known.
	storeMu sync.Mutex
	storeID string
	// planned is whether each tokenward_scope this run planned is
	// privileged, so a token planned after the scope it references is
	// checked against the policy with what the scope will be, before the
	// store knows it.
	plannedMu sync.Mutex
	planned   map[string]bool
	// plannedRoles is the scopes of each tokenward_role this run planned,
	// for the same reason: a role planned before the token that holds it.
	plannedRoles map[string][]string
}

// planRole records the scopes role name is planned to grant.
func (d *providerData) planRole(name string, scopes []string) {
	d.plannedMu.Lock()
	defer d.plannedMu.Unlock()
	if d.plannedRoles == nil {
		d.plannedRoles = map[string][]string{}
	}
	d.plannedRoles[name] = scopes
}

// roleScopes returns the scopes of role name as this run plans it or, when
// it plans no such role, as the store holds it; false when neither knows it.
func (d *providerData) roleScopes(ctx context.Context, name string) ([]string, bool) {
	d.plannedMu.Lock()
	scopes, ok := d.plannedRoles[name]
	d.plannedMu.Unlock()
	if ok {
		return scopes, true
	}
	role, err := d.reg.Role(ctx, name)
	return role.Scopes, err == nil
}

// planScope records that scope name is planned privileged or not.
func (d *providerData) planScope(name string, privileged bool) {
	d.plannedMu.Lock()
	defer d.plannedMu.Unlock()
	if d.planned == nil {
		d.planned = map[string]bool{}
	}
	d.planned[name] = privileged
}

// privilegedScopes returns the names of the privileged scopes: the built-in
// ones, and those the store holds or this run plans as privileged. A scope
// the store holds as privileged stays so when this run plans it otherwise:
// the demotion counts for grants once applied, so a plan cannot demote a
// scope and grant it past the policy in one run.
func (d *providerData) privilegedScopes(ctx context.Context) ([]string, error) {
	scopes, err := d.reg.Scopes(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	is := map[string]bool{}
	for _, s := range registry.BuiltInScopes() {
		is[s.Name] = s.Privileged
	}
	for _, s := range scopes {
		is[s.Name] = s.Privileged
	}
	d.plannedMu.Lock()
	for name, p := range d.planned {
		is[name] = is[name] || p
	}
	d.plannedMu.Unlock()
	var out []string
	for name, p := range is {
		if p {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// lazyWriter builds a writer the first time it is used, so credentials are
// read (and a GitHub App's key file opened) only when a destination needs
// them.
type lazyWriter struct {
	build func() (destination.Writer, error)
	once  sync.Once
	w     destination.Writer
	err   error
}

func (l *lazyWriter) get() (destination.Writer, error) {
	l.once.Do(func() { l.w, l.err = l.build() })
	return l.w, l.err
}

func (l *lazyWriter) Write(ctx context.Context, d store.Destination, value string) error {
	w, err := l.get()
	if err != nil {
		return fmt.Errorf("deliver to %s: %w", d.Key, err)
	}
	return w.Write(ctx, d, value)
}

func (l *lazyWriter) Delete(ctx context.Context, d store.Destination) error {
	w, err := l.get()
	if err != nil {
		return fmt.Errorf("withdraw from %s: %w", d.Key, err)
	}
	return w.Delete(ctx, d)
}

// fieldPath turns an attribute path written as text, such as
// "github_secrets[0].repository" or "ttl", into a path.
func fieldPath(field string) path.Path {
	var p path.Path
	for i, part := range strings.Split(field, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if i == 0 {
			p = path.Root(name)
		} else {
			p = p.AtName(name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			var n int
			if _, err := fmt.Sscanf(idx, "%d", &n); err == nil {
				p = p.AtListIndex(n)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return p
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
		guarded(newScopeResource),
		guarded(newRoleResource),
		guarded(newSettingResource),
		guarded(newUserConfigResource),
		tokenResourceFactory,
		guarded(newCredentialResource),
	}
}

// tokenResourceFactory builds the token resource, for the framework and
// for the token shortcut alike.
var tokenResourceFactory = guarded(newTokenResource)

// DataSources lists the provider's data sources.
func (p *Provider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newScopesDataSource, newUserConfigDataSource, newTokenDataSource}
}
