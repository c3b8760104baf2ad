package provider

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
)

// The plan-time checks of the token resource: ValidateConfig, ModifyPlan
// and the provider's policy.

// ValidateConfig checks what needs no store: names, scopes, the lifetime
// rules, the restrictions and every destination, each on its attribute.
func (r *tokenResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m tokenModel
	resp.Diagnostics.Append(getModel(ctx, tokenModelType(), req.Config.Raw, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.Name.IsNull() && !m.Name.IsUnknown() {
		if err := registry.CheckName("name", m.Name.ValueString()); err != nil {
			addRegistryError(&resp.Diagnostics, "Invalid token name", err, errorFields{fallback: path.Root("name")})
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
	checkSet("scopes", m.Scopes, registry.CheckGrantedScope)
	checkSet("roles", m.Roles, func(s string) error { return registry.CheckName("roles", s) })
	if l, ok := m.lifetime(); ok {
		if err := registry.CheckLifetime(l); err != nil {
			addRegistryError(&resp.Diagnostics, "Invalid token lifetime", err, errorFields{fallback: path.Root("ttl")})
		}
	}
	checkFiles(ctx, m.Files, &resp.Diagnostics)
	checkRestrictions(ctx, m, &resp.Diagnostics)
	ds, _ := m.destinations(ctx, &resp.Diagnostics)
	seen := map[string]string{}
	for _, d := range ds {
		if field, v, limit, long := tooLongDestination(d); long {
			resp.Diagnostics.AddAttributeError(fieldPath(d.path+"."+field), "Invalid destination",
				fmt.Sprintf("%s.%s: %s is %d characters long; it is at most %d.", d.path, field, registry.Quote(v), len(v), limit))
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
	nameLimit := 255 // GitHub's
	if d.kind == destination.KindAWSSecret {
		nameLimit = 512
	}
	for _, f := range []struct {
		field, value string
		limit        int
	}{
		{"repository", c.Repository, 39 + 1 + 100}, // owner/name
		{"organization", c.Organization, 39},
		{"environment", c.Environment, 255},
		{"name", c.Name, nameLimit},
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
	files := listAs[fileModel](ctx, l, diags)
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
					"is at most %d characters, or give its numeric id.", field, a.name, registry.Quote(s), len(s), a.of, maxFileID))
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
		return fmt.Errorf("%s must be octal permission bits, such as \"0640\" or \"0600\"", registry.Quote(s))
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
				fmt.Sprintf("%s: %s must be a repository of %s, as name or %s/name.", field, registry.Quote(r), org, org))
		case !strings.EqualFold(owner, org):
			diags.AddAttributeError(fieldPath(field), "Invalid destination",
				fmt.Sprintf("%s: %s is not a repository of %s; an organization secret is visible only to the organization's own repositories.", field, registry.Quote(r), org))
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

// rotates reports whether applying plan over state rotates the token: a
// destination or a rotation trigger changed, or the token has no value yet
// (its first issue failed half way). Destinations are compared as the
// store holds them, in any order, so another spelling of the same places
// (environment = "" or unset, repositories = [] or unset, a reordered
// list) does not rotate. planned and known are plan's destinations,
// decoded already.
func rotates(ctx context.Context, plan tokenModel, planned []declared, known bool, state tokenModel, diags *diag.Diagnostics) bool {
	if state.Status.ValueString() == statusUnissued || !plan.RotationTriggers.Equal(state.RotationTriggers) {
		return true
	}
	p, okP := storedOf(planned, known)
	s, okS := state.storedDestinations(ctx, diags)
	return !okP || !okS || !rotation.SameDestinations(p, s)
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
	// The destinations as resolved, decoded once for the checks and the
	// rotation below.
	ds, known := plan.destinations(ctx, &resp.Diagnostics)
	if r.data != nil {
		r.checkPolicy(ctx, plan, ds, &resp.Diagnostics)
		r.checkGitHub(plan.Name, githubLists(plan), &resp.Diagnostics)
		r.data.checkVault("token", plan.Name, plan.VaultSecrets, &resp.Diagnostics)
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
	if rotates(ctx, plan, ds, known, state, &resp.Diagnostics) {
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
	files := listAs[fileModel](ctx, plan.Files, diags)
	var before []fileModel
	if !state.Files.IsNull() && !state.Files.IsUnknown() {
		before = listAs[fileModel](ctx, state.Files, diags)
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
	var d diag.Diagnostics
	l := listFrom(ctx, fileType, files, &d)
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
	// The state is the plan: decoded once, rather than an attribute at a
	// time (the framework's GetAttribute walks the schema for each).
	var state tokenModel
	resp.Diagnostics.Append(getModel(ctx, tokenModelType(), req.State.Raw, &state)...)
	if resp.Diagnostics.HasError() || !filesResolved(state.Files) || state.Status.ValueString() == statusUnissued {
		return false
	}
	if r.data == nil || (r.data.github && r.data.vault) {
		return true
	}
	// An unchanged token still needs the credentials of its destinations:
	// a plan says so when they were taken away.
	if !r.data.github {
		r.checkGitHub(state.Name, githubLists(state), &resp.Diagnostics)
	}
	if !r.data.vault {
		r.data.checkVault("token", state.Name, state.VaultSecrets, &resp.Diagnostics)
	}
	return true
}

// checkPolicy adds a diagnostic on the attribute for every way plan breaks
// the provider's policy. At plan time it checks what is known; at apply,
// where everything is, all of it, with the roles' scopes as the store holds
// them then. Which scopes are privileged, and the scopes of roles, come
// from the tokenward_scope and tokenward_role resources planned before the
// token in this run (those it references) and from the store.
// ds are plan's destinations, decoded already.
func (r *tokenResource) checkPolicy(ctx context.Context, plan tokenModel, ds []declared, diags *diag.Diagnostics) {
	pol := r.data.policy
	if pol.Empty() {
		return
	}
	l, lok := plan.lifetime()
	t := policy.Token{Name: plan.Name.ValueString(), Owner: plan.Owner.ValueString(), TTL: l.TTL, RotateBefore: l.RotateBefore, Overlap: l.Overlap,
		Honeytoken: plan.Honeytoken.ValueBool()}
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
	privileged := pol.MaxPrivilegedScopes > 0 || pol.RequireOwnerForPrivileged
	if len(pol.ForbiddenScopes) > 0 || privileged {
		t.Roles = map[string][]string{}
		for _, name := range knownStrings(plan.Roles) {
			if scopes, ok := r.data.roleScopes(ctx, name); ok {
				t.Roles[name] = scopes
			}
		}
	}
	if privileged {
		names, err := r.data.privilegedScopes(ctx)
		if err != nil {
			diags.AddError("Cannot check the policy", fmt.Sprintf("read which scopes are privileged: %v", err))
			return
		}
		t.Privileged = policy.PrivilegedHeld(names, t.Scopes, t.Roles)
	}
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
