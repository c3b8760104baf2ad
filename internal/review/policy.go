package review

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	tfjson "github.com/hashicorp/terraform-json"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
)

// policyFields are the settings of a policy, as the provider's policy block
// names them.
var policyFields = []string{"max_ttl", "min_overlap", "require_owner", "forbidden_scopes", "max_privileged_scopes", "require_owner_for_privileged", "allowed_repositories", "allowed_paths", "on_revoked_version_used"}

// PolicyFromPlan reads the policy of the tokenward provider configurations
// in the plan's configuration: every provider block of the tokenward
// provider, whatever its local name, alias or module. It reports false when
// none sets a policy. The review applies the policy to every tokenward
// resource, so blocks that set different policies are refused, as is a
// policy written with variables or other expressions, which the plan's
// JSON does not resolve: the caller must then pass the policy explicitly.
func PolicyFromPlan(plan *tfjson.Plan) (policy.Policy, bool, error) {
	if plan.Config == nil {
		return policy.Policy{}, false, nil
	}
	keys := make([]string, 0, len(plan.Config.ProviderConfigs))
	for k := range plan.Config.ProviderConfigs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var found *policy.Policy
	var from string
	for _, k := range keys {
		pc := plan.Config.ProviderConfigs[k]
		if pc == nil || !(strings.HasSuffix(pc.FullName, "/tokenward/tokenward") || pc.FullName == "" && pc.Name == "tokenward") {
			continue
		}
		p, ok, err := blockPolicy(pc)
		switch {
		case err != nil:
			return policy.Policy{}, false, fmt.Errorf("the policy of provider %s: %w", k, err)
		case !ok:
			continue
		case found != nil && !reflect.DeepEqual(*found, p):
			return policy.Policy{}, false, fmt.Errorf("providers %s and %s set different policies, and the review applies one to every resource; "+
				"pass the policy to review with --policy FILE (the action's policy input)", from, k)
		}
		found, from = &p, k
	}
	if found == nil {
		return policy.Policy{}, false, nil
	}
	return *found, true, nil
}

// blockPolicy reads the policy attribute of one provider block.
func blockPolicy(pc *tfjson.ProviderConfig) (policy.Policy, bool, error) {
	e := pc.Expressions["policy"]
	if e == nil || e.ExpressionData == nil {
		return policy.Policy{}, false, nil
	}
	if e.ConstantValue == nil || e.ConstantValue == tfjson.UnknownConstantValue {
		refs := strings.Join(e.References, ", ")
		if refs == "" {
			refs = "expressions"
		}
		return policy.Policy{}, false, fmt.Errorf("the policy block uses %s, which the plan's JSON does not resolve; "+
			"write the policy in a file and pass it with --policy FILE (the action's policy input)", refs)
	}
	m, ok := e.ConstantValue.(map[string]any)
	if !ok {
		return policy.Policy{}, false, errors.New("the policy block is not an object")
	}
	p, err := decodePolicy(m)
	if err != nil {
		return policy.Policy{}, false, err
	}
	return p, true, nil
}

// LoadPolicy reads a policy file: the settings of the provider's policy
// block, in HCL or, for a .json file, in JSON:
//
//	max_ttl          = "90d"
//	min_overlap      = "1h"
//	require_owner    = true
//	forbidden_scopes = ["admin:*"]
//	max_privileged_scopes = 2        # privileged scopes one token may hold; 0 for no limit
//	require_owner_for_privileged = true
//	allowed_repositories = ["acme/*"]
//	allowed_paths    = ["/etc/app/*", "/srv/app/**"]
//	on_revoked_version_used = "alert" # or "revoke": read by tokenward serve --policy
//
// The settings may also be wrapped in `policy = { ... }`, as the provider
// block writes them.
func LoadPolicy(path string) (policy.Policy, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return policy.Policy{}, fmt.Errorf("read policy: %w", err)
	}
	p := hclparse.NewParser()
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.EqualFold(filepath.Ext(path), ".json") {
		f, diags = p.ParseJSON(src, path)
	} else {
		f, diags = p.ParseHCL(src, path)
	}
	if diags.HasErrors() {
		return policy.Policy{}, fmt.Errorf("read policy: %s", diags.Error())
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return policy.Policy{}, fmt.Errorf("read policy: %s (write settings as `name = value`, or `policy = { ... }`)", diags.Error())
	}
	m := map[string]any{}
	for name, a := range attrs {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return policy.Policy{}, fmt.Errorf("read policy: %s: use literal values, not variables or functions", diags.Error())
		}
		raw, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return policy.Policy{}, fmt.Errorf("read policy: %s: %w", name, err)
		}
		var g any
		if err := json.Unmarshal(raw, &g); err != nil {
			return policy.Policy{}, fmt.Errorf("read policy: %s: %w", name, err)
		}
		m[name] = g
	}
	if inner, ok := m["policy"].(map[string]any); ok && len(m) == 1 {
		m = inner
	}
	pol, err := decodePolicy(m)
	if err != nil {
		return policy.Policy{}, fmt.Errorf("read policy %s: %w", path, err)
	}
	return pol, nil
}

// decodePolicy reads the settings of a policy block from their JSON form
// and checks them.
func decodePolicy(m map[string]any) (policy.Policy, error) {
	var p policy.Policy
	var errs []string
	for k, v := range m {
		if v == nil {
			continue
		}
		var err error
		switch k {
		case "max_ttl":
			p.MaxTTL, err = durationField(k, v)
		case "min_overlap":
			p.MinOverlap, err = durationField(k, v)
		case "require_owner":
			b, ok := v.(bool)
			if !ok {
				err = fmt.Errorf("require_owner must be true or false")
			}
			p.RequireOwner = b
		case "forbidden_scopes":
			p.ForbiddenScopes, err = stringsField(k, v)
		case "max_privileged_scopes":
			n, ok := v.(float64)
			if !ok || n != math.Trunc(n) || n > math.MaxInt32 {
				err = fmt.Errorf("max_privileged_scopes must be a whole number, such as 2 (0 for no limit)")
			}
			p.MaxPrivilegedScopes = int(n)
		case "require_owner_for_privileged":
			b, ok := v.(bool)
			if !ok {
				err = fmt.Errorf("require_owner_for_privileged must be true or false")
			}
			p.RequireOwnerForPrivileged = b
		case "allowed_repositories":
			p.AllowedRepositories, err = stringsField(k, v)
		case "allowed_paths":
			p.AllowedPaths, err = stringsField(k, v)
		case "on_revoked_version_used":
			s, ok := v.(string)
			if !ok {
				err = fmt.Errorf("on_revoked_version_used must be \"alert\" or \"revoke\"")
			}
			p.OnRevokedVersionUsed = s
		default:
			err = fmt.Errorf("unknown setting %q: a policy has %s", k, strings.Join(policyFields, ", "))
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, v := range p.Check() {
		errs = append(errs, v.String())
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return policy.Policy{}, errors.New(strings.Join(errs, "; "))
	}
	return p, nil
}

func durationField(name string, v any) (d time.Duration, err error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%s must be a duration such as \"90d\"", name)
	}
	d, err = duration.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

func stringsField(name string, v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a list of strings", name)
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be a list of strings", name)
		}
		out = append(out, s)
	}
	return out, nil
}
