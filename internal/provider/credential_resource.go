package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

var (
	_ resource.ResourceWithConfigure      = &credentialResource{}
	_ resource.ResourceWithValidateConfig = &credentialResource{}
	_ resource.ResourceWithModifyPlan     = &credentialResource{}
	_ resource.ResourceWithImportState    = &credentialResource{}
)

// credentialResource declares a credential another system issues, such as
// a database password: it rotates it at its issuer and delivers it like a
// token. No attribute ever holds the password or the admin credential.
type credentialResource struct {
	resourceBase
}

func newCredentialResource() resource.Resource {
	return &credentialResource{resourceBase{id: importID{what: "credential", by: "name", attr: "name", example: "billing-db",
		check: func(id string) error { return registry.CheckName("name", id) }}}}
}

func (r *credentialResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_credential"
}

// credentialFields says which fields a destination can receive, for the
// schema.
const credentialFields = "Which part of the credential the destination receives: `password` (the default), `username`, or " +
	"`dsn` for PostgreSQL and MySQL (`url` for Redis): the admin DSN's host, port, database and options with the credential's user " +
	"and password, so a consumer that reads one connection string follows the alternating users by itself."

func (r *credentialResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc,
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	}
	lifetime := func(desc, def string) schema.StringAttribute {
		return schema.StringAttribute{
			Optional: true, Computed: true, CustomType: durationType{}, Default: stringdefault.StaticString(def),
			MarkdownDescription: desc + " Accepts Go durations plus days and weeks (`30d`, `2w`). Defaults to `" + def + "`.",
			PlanModifiers:       []planmodifier.String{keepEquivalentDuration{}},
		}
	}
	env := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Required: true, MarkdownDescription: desc + " The provider and `tokenward rotate` read it from their " +
			"environment; the value is never in the configuration, the state or the store."}
	}
	pair := func(kind, roleAttr, roleDesc string) schema.SingleNestedAttribute {
		return schema.SingleNestedAttribute{
			Optional: true,
			MarkdownDescription: "A " + kind + " issuer: two login users that alternate, so the previous password keeps working on " +
				"its own user through the overlap.",
			Attributes: map[string]schema.Attribute{
				"admin_dsn_env": env("The name of the environment variable holding the admin DSN tokenward rotates with, such as `BILLING_DB_ADMIN_DSN`."),
				"users": schema.ListAttribute{Required: true, ElementType: types.StringType,
					MarkdownDescription: "The two login users it alternates, such as `[\"billing_a\", \"billing_b\"]`; created if absent."},
				roleAttr: schema.StringAttribute{Optional: true, MarkdownDescription: roleDesc},
			},
		}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A credential another system issues — a PostgreSQL, MySQL/MariaDB or Redis password — rotated by tokenward " +
			"with the same four steps, lifetime and overlap as a token, into the same destinations. Creating the resource stages the " +
			"first password at the issuer and delivers it; neither it nor the admin credential is ever in Terraform state or a plan.\n\n" +
			"Changing `owner`, `description` or the lifetime updates the credential in place. Changing a destination or " +
			"`rotation_triggers` rotates it on apply. Changing `issuer` or `name` replaces it. Destroying the resource retires every " +
			"password at the issuer (the users get `NOLOGIN` / `ACCOUNT LOCK`; Redis drops the passwords) and removes what tokenward " +
			"wrote at the destinations.",
		Attributes: map[string]schema.Attribute{
			"id": computed("The credential's name."),
			"name": schema.StringAttribute{Required: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				MarkdownDescription: "The credential's name, unique among the store's tokens and credentials, such as `billing-db`."},
			"owner":       schema.StringAttribute{Optional: true, MarkdownDescription: "Who answers for the credential, such as `team-billing`."},
			"description": schema.StringAttribute{Optional: true, MarkdownDescription: "What the credential is for."},
			"ttl":         lifetime("How long each password is valid before it must have been replaced.", defaultTTL),
			"rotate_before": lifetime("How long before a password expires its rotation is due; shorter than `ttl`. The rotation "+
				"interval is `ttl` - `rotate_before`.", defaultRotateBefore),
			"overlap": lifetime("How long the previous password keeps working after a rotation; when it ends, the next run retires "+
				"it at the issuer. At most the rotation interval (`ttl` - `rotate_before`), since the next rotation reuses its slot: a "+
				"rotation inside the overlap (forced, or by a destination change on apply) retires the previous password first, ending its overlap early.", defaultOverlap),
			"rotation_triggers": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Arbitrary values that rotate the credential on apply when any of them changes, such as `{ incident = \"2026-03-01\" }`."},
			"issuer": schema.SingleNestedAttribute{
				Required:            true,
				MarkdownDescription: "The system that issues the credential: exactly one of `postgres`, `mysql` or `redis`. Changing it replaces the credential.",
				PlanModifiers:       []planmodifier.Object{objectplanmodifier.RequiresReplace()},
				Attributes: map[string]schema.Attribute{
					"postgres": pair("PostgreSQL", "member_of", "The `NOLOGIN` role that holds the privileges; both users are its members and `SET ROLE` to it, so what either creates is owned by it."),
					"mysql":    pair("MySQL or MariaDB", "grants_from", "The role (or user) whose grants both users get."),
					"redis": schema.SingleNestedAttribute{
						Optional:            true,
						MarkdownDescription: "A Redis ACL user that holds two passwords through the overlap. The user and its ACL rules are the operator's; tokenward manages only its passwords.",
						Attributes: map[string]schema.Attribute{
							"admin_url_env": env("The name of the environment variable holding the admin URL, such as `CACHE_ADMIN_URL`."),
							"user":          schema.StringAttribute{Required: true, MarkdownDescription: "The ACL user, such as `cache_app`."},
						},
					},
				},
			},
			"github_secrets": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "GitHub Actions repository secrets, or environment secrets when `environment` is set, that receive a field of the credential.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"repository":  schema.StringAttribute{Required: true, MarkdownDescription: "The repository, `owner/name`."},
					"name":        schema.StringAttribute{Required: true, MarkdownDescription: "The secret's name, such as `DB_PASSWORD`."},
					"environment": schema.StringAttribute{Optional: true, MarkdownDescription: "An environment of the repository; makes the secret an environment secret."},
					"field":       schema.StringAttribute{Optional: true, MarkdownDescription: credentialFields},
				}},
			},
			"github_organization_secrets": schema.ListNestedAttribute{
				Optional: true,
				MarkdownDescription: "GitHub Actions organization secrets that receive a field of the credential. Needs GitHub credentials " +
					"allowed to write organization secrets.",
				NestedObject: schema.NestedAttributeObject{Attributes: withField(githubOrganizationSecretAttributes(), credentialFields)},
			},
			"github_dependabot_secrets": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "Dependabot secrets of repositories that receive a field of the credential. Needs GitHub credentials.",
				NestedObject:        schema.NestedAttributeObject{Attributes: withField(githubDependabotSecretAttributes(), credentialFields)},
			},
			"files": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "Local files that receive a field of the credential, written as a token's are: a `dotenv` line or a `raw` file.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"path": schema.StringAttribute{Required: true, MarkdownDescription: "The file, such as `/srv/billing/db.env`."},
					"key": schema.StringAttribute{Optional: true,
						MarkdownDescription: "For `dotenv`, the variable name, such as `DATABASE_URL`. Defaults to the credential's name in upper case."},
					"format": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(destination.FormatDotenv),
						MarkdownDescription: "`dotenv` or `raw`. Defaults to `dotenv`."},
					"mode":  schema.StringAttribute{Optional: true, MarkdownDescription: "The file's permission bits in octal, such as `\"0640\"`; a new file gets `0600` by default."},
					"owner": schema.StringAttribute{Optional: true, MarkdownDescription: "The user the file belongs to."},
					"group": schema.StringAttribute{Optional: true, MarkdownDescription: "The group the file belongs to."},
					"field": schema.StringAttribute{Optional: true, MarkdownDescription: credentialFields},
				}},
			},
			"vault_secrets":    vaultSecretsAttribute("credential", withField(vaultSecretAttributes("credential"), credentialFields)),
			"aws_secrets":      awsSecretsAttribute("credential", withField(awsSecretAttributes(), credentialFields)),
			"fingerprint":      computed("The current password's fingerprint, `cred_` + its version id + `…` + the start of its SHA-256: safe to show."),
			"current_version":  computed("The id of the current version."),
			"user":             computed("The login user the current password belongs to: one of the issuer's two users, which alternate at each rotation."),
			"issued_at":        computed("When the current password became current (RFC 3339)."),
			"expires_at":       computed("When the current password expires (RFC 3339)."),
			"next_rotation_at": computed("When the current password is due for rotation (RFC 3339)."),
			"status":           computed("`active`, `due`, `rotating`, `expired` or `unissued`, as for a token."),
		},
	}
}

// ValidateConfig checks what needs no store, on the attribute at fault:
// exactly one issuer kind with valid names and an environment variable's
// name (never a DSN), each destination's field, and the lifetime,
// including an overlap no longer than the rotation interval.
func (r *credentialResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m credentialModel
	resp.Diagnostics.Append(getModel(ctx, req.Config.Schema.Type(), req.Config.Raw, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.Name.IsNull() && !m.Name.IsUnknown() {
		if err := registry.CheckName("name", m.Name.ValueString()); err != nil {
			addRegistryError(&resp.Diagnostics, "Invalid credential name", err, errorFields{fallback: path.Root("name")})
		}
	}
	kind := ""
	if c, known := m.issuerConfig(ctx, &resp.Diagnostics); known && checkAdminEnv(c, &resp.Diagnostics) {
		if err := c.Check(); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("issuer"), "Invalid issuer", strings.TrimPrefix(err.Error(), "issuer: ")+".")
		}
		kind = registry.IssuerKind(c)
	}
	if l, ok := m.lifetime(); ok {
		if err := registry.CheckCredentialLifetime(l); err != nil {
			field := "ttl"
			var ie *registry.InvalidError
			if errors.As(err, &ie) {
				field = ie.Field
			}
			resp.Diagnostics.AddAttributeError(path.Root(field), "Invalid credential lifetime", err.Error()+".")
		}
	}
	ds, _ := m.destinations(ctx, &resp.Diagnostics)
	seen := map[string]string{}
	for _, d := range ds {
		if kind != "" && !d.field.IsUnknown() {
			if err := registry.CheckField(kind, d.field.ValueString()); err != nil {
				resp.Diagnostics.AddAttributeError(fieldPath(d.path+".field"), "Invalid field", d.path+".field: "+strings.TrimPrefix(err.Error(), "invalid field: ")+".")
			}
		}
		sd, err := destination.New(d.kind, d.config)
		if err != nil {
			resp.Diagnostics.AddAttributeError(fieldPath(d.path), "Invalid destination", fmt.Sprintf("%s: %s.", d.path, err))
			continue
		}
		if first, dup := seen[sd.Key]; dup {
			resp.Diagnostics.AddAttributeError(fieldPath(d.path), "Duplicate destination",
				fmt.Sprintf("%s is the same destination as %s (%s); a credential delivers to each place once. Remove one of them.", d.path, first, sd.Key))
			continue
		}
		seen[sd.Key] = d.path
	}
}

// envName is a portable environment variable's name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkAdminEnv refuses an admin variable that is not a variable's name,
// without quoting it: what is written there by mistake is often the DSN
// itself, password and all, and a diagnostic must not repeat it.
func checkAdminEnv(c issuer.Config, diags *diag.Diagnostics) bool {
	var at path.Path
	var v string
	switch {
	case c.Postgres != nil:
		at, v = path.Root("issuer").AtName("postgres").AtName("admin_dsn_env"), c.Postgres.AdminDSNEnv
	case c.MySQL != nil:
		at, v = path.Root("issuer").AtName("mysql").AtName("admin_dsn_env"), c.MySQL.AdminDSNEnv
	case c.Redis != nil:
		at, v = path.Root("issuer").AtName("redis").AtName("admin_url_env"), c.Redis.AdminURLEnv
	default:
		return true
	}
	if v == "" || envName.MatchString(v) {
		return true
	}
	detail := "Name the environment variable that holds the admin credential, such as BILLING_DB_ADMIN_DSN (letters, digits and _), " +
		"and set that variable where the provider and tokenward rotate run."
	if strings.ContainsAny(v, ":@/") {
		detail += " What is written here looks like a connection string: never put it in the configuration, where it would reach " +
			"version control; remove it, and change that password if it was committed."
	}
	diags.AddAttributeError(at, "Invalid admin credential variable", detail)
	return false
}

// ModifyPlan refuses vault_secrets when the provider has no Vault
// settings, and says which applies rotate: a new destination, or a change of
// rotation_triggers, makes the computed attributes of the new version
// unknown until apply.
func (r *credentialResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan, state credentialModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.data != nil {
		r.data.checkVault("credential", plan.Name, plan.VaultSecrets, &resp.Diagnostics)
	}
	if req.State.Raw.IsNull() {
		return
	}
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !r.rotates(ctx, plan, state) {
		return
	}
	for _, a := range []string{"fingerprint", "current_version", "user", "issued_at", "expires_at", "next_rotation_at", "status"} {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(a), types.StringUnknown())...)
	}
}

// rotates tells whether applying plan over state issues a new password.
func (r *credentialResource) rotates(ctx context.Context, plan, state credentialModel) bool {
	if !plan.RotationTriggers.Equal(state.RotationTriggers) || state.CurrentVersion.IsNull() {
		return true
	}
	var ignored diag.Diagnostics // a destination that does not decode rotates; ValidateConfig reports it
	pd, ok := plan.stored(ctx, &ignored)
	sd, sok := state.stored(ctx, &ignored)
	return !ok || !sok || !rotation.SameDestinations(pd, sd)
}

func (r *credentialResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan credentialModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := plan.spec(ctx, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.data.engine.IssueCredential(ctx, spec); err != nil {
		var undone *rotation.UndoError
		switch {
		case errors.As(err, &undone):
			detail := fmt.Sprintf("The credential's first password could not be staged and delivered: %s.\n\nNothing was kept: it was "+
				"retired at the issuer and removed from the store, so fix the cause and apply again.", undone.Err)
			if cleanup := errors.Join(undone.Restore, undone.Withdraw); cleanup != nil {
				detail += fmt.Sprintf("\n\nCleaning up failed too: %s. Check the store with the tokenward binary before applying again.", cleanup)
			}
			resp.Diagnostics.AddError("Cannot issue credential "+spec.Name, detail)
		case exists(err):
			r.addExists(&resp.Diagnostics, spec.Name)
		default:
			addRegistryError(&resp.Diagnostics, "Cannot create credential "+spec.Name, err, errorFields{})
		}
		return
	}
	r.refresh(ctx, &plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// refresh reads the credential's computed attributes back into m.
func (r *credentialResource) refresh(ctx context.Context, m *credentialModel, diags *diag.Diagnostics) {
	ti, err := r.data.reg.Credential(ctx, m.Name.ValueString())
	if err != nil {
		diags.AddError("Cannot read credential "+m.Name.ValueString(), err.Error())
		return
	}
	c := computedOf(ti, r.data.now())
	m.ID = types.StringValue(ti.Name)
	m.Fingerprint, m.CurrentVersion, m.IssuedAt = c.fingerprint, c.currentVersion, c.issuedAt
	m.ExpiresAt, m.NextRotationAt, m.Status = c.expiresAt, c.nextRotationAt, c.status
	m.User = types.StringNull()
	if ti.Current != nil {
		m.User = types.StringValue(ti.Current.User)
	}
}

func (r *credentialResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state credentialModel
	resp.Diagnostics.Append(getModel(ctx, req.State.Schema.Type(), req.State.Raw, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	ti, err := r.data.reg.Credential(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read credential "+name, err.Error())
		return
	}
	m := state.fromStore(ctx, ti, func() tokenComputed { return computedOf(ti, r.data.now()) }, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *credentialResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state credentialModel
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
	done, err := r.data.engine.RedeclareCredential(ctx, rotation.CredentialRedeclaration{
		CredentialSpec: spec, Before: before.Destinations, Rotate: r.rotates(ctx, plan, state),
	})
	var undone *rotation.UndoError
	switch {
	case errors.As(err, &undone):
		detail := fmt.Sprintf("Rotating the credential failed: %s.\n\nThe current password keeps working where it was delivered. "+
			"Fix the cause and apply again: the rotation resumes with the same new password.", undone.Err)
		if cleanup := errors.Join(undone.Restore, undone.Withdraw); cleanup != nil {
			detail += fmt.Sprintf("\n\nUndoing the change failed too: %s.", cleanup)
		}
		resp.Diagnostics.AddError("Cannot rotate credential "+spec.Name, detail)
		return
	case err != nil:
		addRegistryError(&resp.Diagnostics, "Cannot update credential "+spec.Name, err, errorFields{})
		return
	}
	if done.Leftover != nil {
		resp.Diagnostics.AddWarning("Could not remove the credential from a removed destination",
			fmt.Sprintf("The credential was rotated, and what is left there stops working when the overlap ends, but it could not be deleted: %s. Delete it by hand.", done.Leftover))
	}
	planned := plan
	r.refresh(ctx, &plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	// What the plan knew stays as planned; a rotation between plan and
	// apply by the scheduled workflow shows at the next refresh.
	for _, p := range []struct{ dst, was *types.String }{
		{&plan.Fingerprint, &planned.Fingerprint}, {&plan.CurrentVersion, &planned.CurrentVersion}, {&plan.User, &planned.User},
		{&plan.IssuedAt, &planned.IssuedAt}, {&plan.ExpiresAt, &planned.ExpiresAt}, {&plan.NextRotationAt, &planned.NextRotationAt},
		{&plan.Status, &planned.Status},
	} {
		if !p.was.IsUnknown() {
			*p.dst = *p.was
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *credentialResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state credentialModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	err := r.data.engine.DeleteCredential(ctx, name, true)
	if errors.Is(err, registry.ErrNotFound) {
		// Deleted already, by a destroy that could not clean up: the
		// state says where it was delivered.
		err = r.data.engine.Withdraw(ctx, state.spec(ctx, &resp.Diagnostics).Destinations)
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot destroy credential "+name,
			fmt.Sprintf("%s.\n\nNothing is lost: fix the cause (the issuer must be reachable with its admin credential to retire the passwords) and destroy again.", err))
	}
}
