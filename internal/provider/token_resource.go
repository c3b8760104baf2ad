package provider

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
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
	resourceBase
}

func newTokenResource() resource.Resource {
	return &tokenResource{resourceBase{id: importID{what: "token", by: "name", attr: "name", example: "ci-deploy",
		check: func(id string) error { return registry.CheckName("name", id) }}}}
}

func (r *tokenResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_token"
}

// tokenModelType is the type of the token resource's configuration, plan
// and state, for getModel: the schema is the same for every RPC, and
// building its type is about 1% of a plan's provider CPU each time.
var tokenModelType = sync.OnceValue(func() attr.Type {
	var resp resource.SchemaResponse
	(&tokenResource{}).Schema(context.Background(), resource.SchemaRequest{}, &resp)
	return resp.Schema.Type()
})

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
	secretName := githubSecretName
	resp.Schema = schema.Schema{
		MarkdownDescription: "An API token: its owner, scopes and roles, how long each value lives and when it is rotated, and where " +
			"its value is delivered. Creating the resource issues the first value and writes it to every destination; the value is " +
			"never stored in Terraform state or shown in a plan, and no attribute holds it.\n\n" +
			"Changing `scopes`, `roles`, `owner`, `description`, the lifetime, `allowed_cidrs` or `rate_limit` updates the token in " +
			"place without a new value. " +
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
			"allowed_cidrs": allowedCIDRsAttribute(),
			"rate_limit":    rateLimitAttribute(),
			"honeytoken":    honeytokenAttribute(),
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
				NestedObject:        schema.NestedAttributeObject{Attributes: githubOrganizationSecretAttributes()},
			},
			"github_dependabot_secrets": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "Dependabot secrets of repositories that receive the token's value. Needs GitHub credentials.",
				NestedObject:        schema.NestedAttributeObject{Attributes: githubDependabotSecretAttributes()},
			},
			"files": schema.ListNestedAttribute{
				Optional: true,
				MarkdownDescription: "Local files that receive the token's value, written atomically. A `dotenv` file " +
					"gets one `KEY=value` line and keeps its other lines; a `raw` file holds only the value and a final newline (read it as `$(cat file)` does, or trim it). A new file gets `mode` " +
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
			"vault_secrets": vaultSecretsAttribute("token", vaultSecretAttributes("token")),
			"aws_secrets":   awsSecretsAttribute("token", awsSecretAttributes()),
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

func (r *tokenResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan tokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ds, _ := plan.destinations(ctx, &resp.Diagnostics)
	spec := plan.specOf(ctx, ds, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	// What was unknown at plan time is known now: check the policy again
	// before anything is stored or delivered.
	r.checkPolicy(ctx, plan, ds, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.data.engine.Issue(ctx, spec); err != nil {
		var undone *rotation.UndoError
		switch {
		case errors.As(err, &undone):
			detail := fmt.Sprintf("The token's first value could not be delivered: %s.\n\nNothing was kept: the token was removed from "+
				"the store, so fix the destination and apply again.", undone.Err)
			if cleanup := errors.Join(undone.Restore, undone.Withdraw); cleanup != nil {
				detail += fmt.Sprintf("\n\nCleaning up failed too: %s. Check the store with the tokenward binary before applying again.", cleanup)
			}
			resp.Diagnostics.AddError("Cannot issue token "+spec.Name, detail)
		case exists(err):
			r.addExists(&resp.Diagnostics, spec.Name)
		default:
			addRegistryError(&resp.Diagnostics, "Cannot create token "+spec.Name, err, tokenFields)
		}
		return
	}
	r.refresh(ctx, &plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// refresh fills m's computed attributes from the store and reports whether
// the token exists.
func (r *tokenResource) refresh(ctx context.Context, m *tokenModel, diags *diag.Diagnostics) bool {
	ti, err := r.data.reg.Token(ctx, m.Name.ValueString())
	if errors.Is(err, registry.ErrNotFound) {
		return false
	}
	if err == nil {
		err = registry.NotACredential(ti.Token)
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
	resp.Diagnostics.Append(getModel(ctx, tokenModelType(), req.State.Raw, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	// A plan reads every token: from the snapshot, current as of the
	// store's last change.
	ti, err := r.data.tokens.token(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err == nil {
		err = registry.NotACredential(ti.Token)
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

func (r *tokenResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state tokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ds, known := plan.destinations(ctx, &resp.Diagnostics)
	spec := plan.specOf(ctx, ds, &resp.Diagnostics)
	before := state.spec(ctx, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.checkPolicy(ctx, plan, ds, &resp.Diagnostics) // as in Create
	if resp.Diagnostics.HasError() {
		return
	}
	done, err := r.data.engine.Redeclare(ctx, rotation.Redeclaration{
		TokenSpec: spec, Before: before.Destinations, Rotate: rotates(ctx, plan, ds, known, state, &resp.Diagnostics),
	})
	var undone *rotation.UndoError
	switch {
	case errors.As(err, &undone):
		detail := fmt.Sprintf("Rotating the token to deliver to its new destinations failed: %s.\n\nThe current value stays valid "+
			"where it was delivered. Fix the destination and apply again: the rotation resumes with the same new value.", undone.Err)
		if undone.Restore != nil {
			detail += fmt.Sprintf("\n\nRestoring the previous destinations failed too: %s.", undone.Restore)
		}
		if undone.Withdraw != nil {
			detail += fmt.Sprintf("\n\nRemoving the new value from the new destinations failed too: %s. Delete it there by hand.", undone.Withdraw)
		}
		resp.Diagnostics.AddError("Cannot rotate token "+spec.Name, detail)
		return
	case err != nil:
		addRegistryError(&resp.Diagnostics, "Cannot update token "+spec.Name, err, tokenFields)
		return
	}
	if done.Leftover != nil {
		resp.Diagnostics.AddWarning("Could not remove the token from a removed destination",
			fmt.Sprintf("The token was rotated, so what is left there no longer verifies after the overlap, but it could not be deleted: %s. Delete it by hand.", done.Leftover))
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

func (r *tokenResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state tokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	var ds []store.Destination
	if ti, err := r.data.reg.Token(ctx, name); err == nil {
		if err := registry.NotACredential(ti.Token); err != nil {
			resp.Diagnostics.AddError("Cannot delete token "+name, err.Error())
			return
		}
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
