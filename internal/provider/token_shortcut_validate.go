package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// ValidateResourceConfig answers a token's configuration that passes every
// check: the framework's ValidateResourceConfig (terraform-plugin-framework
// v1.19, internal/fwserver) configures a token resource, runs its config
// validators and ValidateConfig, and then each attribute's checks
// (fwserver.AttributeValidate): required and read-only, the value's own
// validation (xattr.ValidateableAttribute, or xattr.TypeWithValidate of its
// type), the attribute's validators and, for a nested attribute, its object
// validators and each nested attribute's checks. Here the same checks run,
// called as the framework calls them, and the answer is "no diagnostics"
// when none says anything; on the first that does, or on anything the walk
// does not know (a write-only attribute, an element that is null or
// unknown, a value of another type), the framework answers.
//
// Its walk is what the shortcut saves: the framework reaches every
// attribute's value by its path from the root, and the value of a nested
// attribute in every element so, about a quarter of the provider's CPU in
// a plan of 1,000 tokens (perf of bench/plan.sh).
func (s *tokenShortcut) ValidateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, bool) {
	g := s.res.Load()
	if req.TypeName != tokenTypeName || s.unusable != nil || g == nil || req.Config == nil {
		return nil, false
	}
	raw, ok := s.decode(req.Config)
	if !ok {
		return nil, false
	}
	var caps resource.ValidateConfigClientCapabilities
	if req.ClientCapabilities != nil {
		caps.WriteOnlyAttributesAllowed = req.ClientCapabilities.WriteOnlyAttributesAllowed
	}
	config := tfsdk.Config{Schema: s.schema, Raw: raw}
	if !schemaPasses(ctx, s.schema, config, caps.WriteOnlyAttributesAllowed) {
		return nil, false
	}
	vreq := resource.ValidateConfigRequest{ClientCapabilities: caps, Config: config}
	if cv, ok := any(g).(resource.ResourceWithConfigValidators); ok {
		for _, v := range cv.ConfigValidators(ctx) {
			var vresp resource.ValidateConfigResponse
			v.ValidateResource(ctx, vreq, &vresp)
			if len(vresp.Diagnostics) > 0 {
				return nil, false
			}
		}
	}
	if vc, ok := any(g).(resource.ResourceWithValidateConfig); ok {
		var vresp resource.ValidateConfigResponse
		vc.ValidateConfig(ctx, vreq, &vresp)
		if len(vresp.Diagnostics) > 0 {
			return nil, false
		}
	}
	return &tfprotov6.ValidateResourceConfigResponse{}, true
}

// schemaPasses is fwserver.SchemaValidate without a diagnostic: whether
// every attribute of config passes its checks.
func schemaPasses(ctx context.Context, sch schema.Schema, config tfsdk.Config, writeOnlyAllowed bool) bool {
	w := validateWalk{ctx: ctx, config: config, caps: validator.ValidateSchemaClientCapabilities{WriteOnlyAttributesAllowed: writeOnlyAllowed}}
	var attrs map[string]tftypes.Value
	if err := config.Raw.As(&attrs); err != nil || config.Raw.IsNull() || !config.Raw.IsKnown() || len(sch.Blocks) > 0 || sch.DeprecationMessage != "" {
		return false
	}
	for name, a := range sch.Attributes {
		v, ok := attrs[name]
		if !ok || !w.attribute(a, v, path.Root(name), path.MatchRoot(name)) {
			return false
		}
	}
	return true
}

// validateWalk runs the checks of one configuration's attributes; each
// method reports whether the checks passed without a diagnostic.
type validateWalk struct {
	ctx    context.Context
	config tfsdk.Config
	caps   validator.ValidateSchemaClientCapabilities
}

// attribute is fwserver.AttributeValidate for a's value tv at p (pe).
func (w *validateWalk) attribute(a schema.Attribute, tv tftypes.Value, p path.Path, pe path.Expression) bool {
	if (!a.IsRequired() && !a.IsOptional() && !a.IsComputed()) || a.IsWriteOnly() {
		return false
	}
	v, ok := w.value(a.GetType(), tv, p)
	if !ok {
		return false
	}
	null, unknown := v.IsNull(), v.IsUnknown()
	if (a.IsComputed() && !a.IsOptional() && !null) || (a.IsRequired() && null) {
		return false
	}
	if a.GetDeprecationMessage() != "" && !null && !unknown {
		return false
	}
	switch a := a.(type) {
	case schema.StringAttribute:
		sv, ok := v.(basetypes.StringValuable)
		if !ok {
			return false
		}
		c, d := sv.ToStringValue(w.ctx)
		if len(d) > 0 {
			return false
		}
		return runValidators(a.Validators, func(vl validator.String, resp *validator.StringResponse) {
			vl.ValidateString(w.ctx, validator.StringRequest{ClientCapabilities: w.caps, Config: w.config, ConfigValue: c, Path: p, PathExpression: pe}, resp)
		}, func(r *validator.StringResponse) diag.Diagnostics { return r.Diagnostics })
	case schema.BoolAttribute:
		bv, ok := v.(basetypes.BoolValuable)
		if !ok {
			return false
		}
		c, d := bv.ToBoolValue(w.ctx)
		if len(d) > 0 {
			return false
		}
		return runValidators(a.Validators, func(vl validator.Bool, resp *validator.BoolResponse) {
			vl.ValidateBool(w.ctx, validator.BoolRequest{ClientCapabilities: w.caps, Config: w.config, ConfigValue: c, Path: p, PathExpression: pe}, resp)
		}, func(r *validator.BoolResponse) diag.Diagnostics { return r.Diagnostics })
	case schema.Int64Attribute:
		iv, ok := v.(basetypes.Int64Valuable)
		if !ok {
			return false
		}
		c, d := iv.ToInt64Value(w.ctx)
		if len(d) > 0 {
			return false
		}
		return runValidators(a.Validators, func(vl validator.Int64, resp *validator.Int64Response) {
			vl.ValidateInt64(w.ctx, validator.Int64Request{ClientCapabilities: w.caps, Config: w.config, ConfigValue: c, Path: p, PathExpression: pe}, resp)
		}, func(r *validator.Int64Response) diag.Diagnostics { return r.Diagnostics })
	case schema.SetAttribute:
		sv, ok := v.(basetypes.SetValuable)
		if !ok {
			return false
		}
		c, d := sv.ToSetValue(w.ctx)
		if len(d) > 0 {
			return false
		}
		return runValidators(a.Validators, func(vl validator.Set, resp *validator.SetResponse) {
			vl.ValidateSet(w.ctx, validator.SetRequest{ClientCapabilities: w.caps, Config: w.config, ConfigValue: c, Path: p, PathExpression: pe}, resp)
		}, func(r *validator.SetResponse) diag.Diagnostics { return r.Diagnostics })
	case schema.MapAttribute:
		mv, ok := v.(basetypes.MapValuable)
		if !ok {
			return false
		}
		c, d := mv.ToMapValue(w.ctx)
		if len(d) > 0 {
			return false
		}
		return runValidators(a.Validators, func(vl validator.Map, resp *validator.MapResponse) {
			vl.ValidateMap(w.ctx, validator.MapRequest{ClientCapabilities: w.caps, Config: w.config, ConfigValue: c, Path: p, PathExpression: pe}, resp)
		}, func(r *validator.MapResponse) diag.Diagnostics { return r.Diagnostics })
	case schema.ListAttribute:
		lv, ok := v.(basetypes.ListValuable)
		if !ok {
			return false
		}
		c, d := lv.ToListValue(w.ctx)
		if len(d) > 0 {
			return false
		}
		return w.list(a.Validators, c, p, pe)
	case schema.ListNestedAttribute:
		lv, ok := v.(basetypes.ListValuable)
		if !ok {
			return false
		}
		c, d := lv.ToListValue(w.ctx)
		if len(d) > 0 || !w.list(a.Validators, c, p, pe) {
			return false
		}
		if null || unknown {
			return true // no elements to check
		}
		var elems []tftypes.Value
		if err := tv.As(&elems); err != nil || len(elems) != len(c.Elements()) {
			return false
		}
		for i, e := range elems {
			if e.IsNull() || !e.IsKnown() {
				return false
			}
			if !w.object(a.NestedObject.Validators, a.NestedObject.Attributes, c.Elements()[i], e, p.AtListIndex(i), pe.AtListIndex(i)) {
				return false
			}
		}
		return true
	case schema.SingleNestedAttribute:
		ov, ok := v.(basetypes.ObjectValuable)
		if !ok {
			return false
		}
		c, d := ov.ToObjectValue(w.ctx)
		if len(d) > 0 || !w.objectValidators(a.Validators, c, p, pe) {
			return false
		}
		if null || unknown {
			return true
		}
		// The framework checks the attribute's validators again, as its
		// nested object's.
		return w.object(a.Validators, a.Attributes, c, tv, p, pe)
	}
	return false // an attribute the walk does not know
}

// value is fwschemadata's ValueAtPath for a value reached: the value of
// type t, and its own validation.
func (w *validateWalk) value(t attr.Type, tv tftypes.Value, p path.Path) (attr.Value, bool) {
	v, err := t.ValueFromTerraform(w.ctx, tv)
	if err != nil {
		return nil, false
	}
	if va, ok := v.(xattr.ValidateableAttribute); ok {
		var resp xattr.ValidateAttributeResponse
		va.ValidateAttribute(w.ctx, xattr.ValidateAttributeRequest{Path: p}, &resp)
		return v, len(resp.Diagnostics) == 0
	}
	//lint:ignore SA1019 deprecated, and the framework still calls it, so the walk does too
	if tw, ok := t.(xattr.TypeWithValidate); ok {
		return v, len(tw.Validate(w.ctx, tv, p)) == 0
	}
	return v, true
}

func (w *validateWalk) list(vs []validator.List, c basetypes.ListValue, p path.Path, pe path.Expression) bool {
	return runValidators(vs, func(vl validator.List, resp *validator.ListResponse) {
		vl.ValidateList(w.ctx, validator.ListRequest{ClientCapabilities: w.caps, Config: w.config, ConfigValue: c, Path: p, PathExpression: pe}, resp)
	}, func(r *validator.ListResponse) diag.Diagnostics { return r.Diagnostics })
}

func (w *validateWalk) objectValidators(vs []validator.Object, c basetypes.ObjectValue, p path.Path, pe path.Expression) bool {
	return runValidators(vs, func(vl validator.Object, resp *validator.ObjectResponse) {
		vl.ValidateObject(w.ctx, validator.ObjectRequest{ClientCapabilities: w.caps, Config: w.config, ConfigValue: c, Path: p, PathExpression: pe}, resp)
	}, func(r *validator.ObjectResponse) diag.Diagnostics { return r.Diagnostics })
}

// object is fwserver.NestedAttributeObjectValidate: the object validators
// vs of the object value e (tv), then each nested attribute's checks.
func (w *validateWalk) object(vs []validator.Object, attrs map[string]schema.Attribute, e attr.Value, tv tftypes.Value, p path.Path, pe path.Expression) bool {
	ov, ok := e.(basetypes.ObjectValuable)
	if !ok {
		return false
	}
	o, d := ov.ToObjectValue(w.ctx)
	if len(d) > 0 || !w.objectValidators(vs, o, p, pe) {
		return false
	}
	var values map[string]tftypes.Value
	if err := tv.As(&values); err != nil {
		return false
	}
	for name, a := range attrs {
		v, ok := values[name]
		if !ok || !w.attribute(a, v, p.AtName(name), pe.AtName(name)) {
			return false
		}
	}
	return true
}

// runValidators calls each validator with a response of its own, as the
// framework does, and reports whether none said anything.
func runValidators[V any, R any](vs []V, call func(V, *R), diags func(*R) diag.Diagnostics) bool {
	for _, v := range vs {
		var resp R
		call(v, &resp)
		if len(diags(&resp)) > 0 {
			return false
		}
	}
	return true
}
