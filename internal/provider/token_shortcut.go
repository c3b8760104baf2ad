package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/defaults"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/pluginserver"
)

// tokenShortcut answers the four RPCs Terraform makes for every token of
// a plan, for a token that did not change, without the framework's
// per-attribute passes (see pluginserver.Shortcut for the figures):
//
//   - ValidateResourceConfig of a configuration that passes every check:
//     the same checks, called as the framework calls them, on values
//     decoded once (token_shortcut_validate.go);
//   - UpgradeResourceState of a state at the schema's version: decoded from
//     its JSON and encoded again, the framework's passthrough;
//   - ReadResource: the token's own Read, called with the decoded state,
//     finds it as the store holds it, and the state is answered unchanged;
//   - PlanResourceChange where the proposed state is the prior state: the
//     schema's defaults and plan modifiers change nothing (checked), and
//     the resource's ModifyPlan, called as the framework calls it, neither
//     changes the plan nor says anything.
//
// Anything else — a change, a diagnostic, a private state the framework
// wrote keys of its own into, an unknown value — is declined and the
// framework answers, running the same code again. The acceptance tests run
// with pluginserver.WithShortcutCheck, which compares every answer given
// here with the framework's.
type tokenShortcut struct {
	schema schema.Schema
	typ    tftypes.Type
	// unusable says why the shortcut declines everything, when the schema
	// has a default or plan modifier it cannot prove idle on an unchanged
	// token; nil when it answers.
	unusable error
	defaults []fieldDefault
	// res is the token resource configured with the provider's data, as
	// the framework configures one for each RPC; nil until configured.
	res atomic.Pointer[guardedResource]
}

var _ pluginserver.Shortcut = (*tokenShortcut)(nil)

// fieldDefault is a default of the schema: the value a null in the
// configuration plans for an attribute, or for an attribute of each
// element of a list of objects (nested is then that attribute).
type fieldDefault struct {
	attr, nested string
	value        tftypes.Value
}

const tokenTypeName = "tokenward_token"

func newTokenShortcut() *tokenShortcut {
	ctx := context.Background()
	var resp resource.SchemaResponse
	newTokenResource().(*tokenResource).Schema(ctx, resource.SchemaRequest{}, &resp)
	s := &tokenShortcut{schema: resp.Schema, typ: resp.Schema.Type().TerraformType(ctx)}
	if resp.Diagnostics.HasError() {
		s.unusable = fmt.Errorf("the schema fails: %v", resp.Diagnostics)
	} else {
		s.unusable = s.inspect(ctx)
	}
	return s
}

// configure gives the shortcut the provider's data: its token resource is
// built and configured as the framework builds and configures one for
// each RPC (Provider.Resources, Configure).
func (s *tokenShortcut) configure(ctx context.Context, data any) {
	g, ok := tokenResourceFactory().(*guardedResource)
	if !ok {
		return // not the guarded resource inspect was told about: decline
	}
	var resp resource.ConfigureResponse
	g.Configure(ctx, resource.ConfigureRequest{ProviderData: data}, &resp)
	// The framework configures a resource for each RPC and answers with
	// whatever Configure says: only one that says nothing is a shortcut's.
	if len(resp.Diagnostics) > 0 || g.data == nil {
		return
	}
	s.res.Store(g)
}

// idleModifiers are the plan modifiers that leave a planned value alone
// when it equals the prior state's, as it does in every plan the shortcut
// answers: UseStateForUnknown acts on an unknown value only, the framework's
// RequiresReplace and RequiresReplaceIf return at once when plan and state
// are equal, and so does keepEquivalentDuration.
var idleModifiers = map[reflect.Type]bool{
	reflect.TypeOf(stringplanmodifier.UseStateForUnknown()): true,
	reflect.TypeOf(stringplanmodifier.RequiresReplace()):    true,
	reflect.TypeOf(honeytokenReplace):                       true,
	reflect.TypeOf(keepEquivalentDuration{}):                true,
}

// staticDefaults are the defaults whose value is the same at any path and
// time, so inspect can take it once.
var staticDefaults = map[reflect.Type]bool{
	reflect.TypeOf(stringdefault.StaticString("")): true,
	reflect.TypeOf(booldefault.StaticBool(false)):  true,
	reflect.TypeOf(int64default.StaticInt64(0)):    true,
}

// knownAttributes are the attribute types inspect reads: it finds their
// plan modifiers in a PlanModifiers field, their default in a Default
// field, and a list's nested object in NestedObject.
var knownAttributes = map[reflect.Type]bool{
	reflect.TypeOf(schema.StringAttribute{}):       true,
	reflect.TypeOf(schema.BoolAttribute{}):         true,
	reflect.TypeOf(schema.Int64Attribute{}):        true,
	reflect.TypeOf(schema.SetAttribute{}):          true,
	reflect.TypeOf(schema.ListAttribute{}):         true,
	reflect.TypeOf(schema.MapAttribute{}):          true,
	reflect.TypeOf(schema.ListNestedAttribute{}):   true,
	reflect.TypeOf(schema.SingleNestedAttribute{}): true,
}

// inspect collects the schema's defaults and checks its plan modifiers;
// the error says what the shortcut cannot answer for.
func (s *tokenShortcut) inspect(ctx context.Context) error {
	if len(s.schema.Blocks) > 0 {
		return fmt.Errorf("the schema has blocks")
	}
	if _, ok := newTokenResource().(resource.ResourceWithIdentity); ok {
		return fmt.Errorf("the resource has an identity, which the shortcut does not answer")
	}
	for name, a := range s.schema.Attributes {
		d, err := inspectAttribute(ctx, name, a)
		if err != nil {
			return err
		}
		if d != nil {
			s.defaults = append(s.defaults, fieldDefault{attr: name, value: *d})
		}
		var nested map[string]schema.Attribute
		switch a := a.(type) {
		case schema.ListNestedAttribute:
			nested = a.NestedObject.Attributes
		case schema.SingleNestedAttribute:
			nested = a.Attributes
		}
		for n, na := range nested {
			if _, deeper := na.(schema.NestedAttribute); deeper {
				return fmt.Errorf("%s.%s: nested attributes two levels deep are not supported", name, n)
			}
			d, err := inspectAttribute(ctx, name+"."+n, na)
			if err != nil {
				return err
			}
			if d == nil {
				continue
			}
			if _, list := a.(schema.ListNestedAttribute); !list {
				return fmt.Errorf("%s.%s: a default in a single nested attribute is not supported", name, n)
			}
			s.defaults = append(s.defaults, fieldDefault{attr: name, nested: n, value: *d})
		}
	}
	return nil
}

// inspectAttribute checks a's plan modifiers (and its nested object's) and
// returns its default as a value, nil for none.
func inspectAttribute(ctx context.Context, name string, a schema.Attribute) (*tftypes.Value, error) {
	v := reflect.ValueOf(a)
	if !knownAttributes[v.Type()] {
		return nil, fmt.Errorf("%s: a %T is not supported", name, a)
	}
	idle := func(mods reflect.Value) error {
		for i := range mods.Len() {
			if m := mods.Index(i).Interface(); !idleModifiers[reflect.TypeOf(m)] {
				return fmt.Errorf("%s: plan modifier %T is not known to leave an unchanged value alone", name, m)
			}
		}
		return nil
	}
	if err := idle(v.FieldByName("PlanModifiers")); err != nil {
		return nil, err
	}
	if obj := v.FieldByName("NestedObject"); obj.IsValid() {
		if err := idle(obj.FieldByName("PlanModifiers")); err != nil {
			return nil, err
		}
	}
	def := v.FieldByName("Default")
	if !def.IsValid() || def.IsNil() {
		return nil, nil
	}
	if !staticDefaults[def.Elem().Type()] {
		return nil, fmt.Errorf("%s: default %s is not known to be static", name, def.Elem().Type())
	}
	p := path.Root(name)
	var value interface {
		ToTerraformValue(context.Context) (tftypes.Value, error)
	}
	var diags diag.Diagnostics
	switch d := def.Interface().(type) {
	case defaults.String:
		var resp defaults.StringResponse
		d.DefaultString(ctx, defaults.StringRequest{Path: p}, &resp)
		value, diags = resp.PlanValue, resp.Diagnostics
	case defaults.Bool:
		var resp defaults.BoolResponse
		d.DefaultBool(ctx, defaults.BoolRequest{Path: p}, &resp)
		value, diags = resp.PlanValue, resp.Diagnostics
	case defaults.Int64:
		var resp defaults.Int64Response
		d.DefaultInt64(ctx, defaults.Int64Request{Path: p}, &resp)
		value, diags = resp.PlanValue, resp.Diagnostics
	default:
		return nil, fmt.Errorf("%s: a %T default is not supported", name, d)
	}
	if diags.HasError() {
		return nil, fmt.Errorf("%s: its default fails", name)
	}
	tv, err := value.ToTerraformValue(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &tv, nil
}

// ValueType is the token's state type.
func (s *tokenShortcut) ValueType(typeName string) (tftypes.Type, bool) {
	if typeName != tokenTypeName {
		return nil, false
	}
	return s.typ, true
}

// UpgradeResourceState answers a state at the schema's version as the
// framework does: decoded from its JSON, attributes the schema no longer
// has dropped, and encoded again.
func (s *tokenShortcut) UpgradeResourceState(_ context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, bool) {
	if req.TypeName != tokenTypeName || s.unusable != nil || req.Version != s.schema.Version || req.RawState == nil ||
		req.RawState.JSON == nil || len(req.RawState.Flatmap) > 0 {
		return nil, false
	}
	v, err := req.RawState.UnmarshalWithOpts(s.typ, tfprotov6.UnmarshalOpts{
		ValueFromJSONOpts: tftypes.ValueFromJSONOpts{IgnoreUndefinedAttributes: true},
	})
	if err != nil {
		return nil, false
	}
	dv, err := tfprotov6.NewDynamicValue(s.typ, v)
	if err != nil {
		return nil, false
	}
	return &tfprotov6.UpgradeResourceStateResponse{UpgradedState: &dv}, true
}

// ReadResource answers a token the store holds as the state has it.
func (s *tokenShortcut) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, bool) {
	g := s.res.Load()
	if req.TypeName != tokenTypeName || s.unusable != nil || g == nil || req.CurrentState == nil || req.CurrentIdentity != nil {
		return nil, false
	}
	priv, ok := providerPrivate(req.Private)
	if !ok {
		return nil, false
	}
	state, ok := s.decode(req.CurrentState)
	if !ok {
		return nil, false
	}
	var diags diag.Diagnostics
	if g.elsewhere(ctx, priv, &diags) || len(diags) > 0 {
		return nil, false
	}
	// The framework's ReadResource passes the state as request and as
	// response, and no private state here: elsewhere ran above, and
	// remember's key is checked below.
	readResp := resource.ReadResponse{State: tfsdk.State{Schema: s.schema, Raw: state}}
	g.Read(ctx, resource.ReadRequest{State: tfsdk.State{Schema: s.schema, Raw: state}}, &readResp)
	if len(readResp.Diagnostics) > 0 || readResp.Deferred != nil || !readResp.State.Raw.Equal(state) {
		return nil, false
	}
	// The framework's Read would record the store in the private state
	// (guardedResource.remember): answer only when it holds it already.
	id, err := g.storeID(ctx)
	if err != nil || id == "" {
		return nil, false
	}
	want, _ := json.Marshal(id)
	if !bytes.Equal(priv[privateStoreKey], want) {
		return nil, false
	}
	return &tfprotov6.ReadResourceResponse{NewState: req.CurrentState, Private: req.Private}, true
}

// PlanResourceChange answers the plan of a token whose proposed state is
// its prior state, when nothing changes it: the plan is the prior state.
func (s *tokenShortcut) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, bool) {
	g := s.res.Load()
	if req.TypeName != tokenTypeName || s.unusable != nil || g == nil || req.PriorState == nil || req.ProposedNewState == nil ||
		req.Config == nil || req.PriorIdentity != nil {
		return nil, false
	}
	// Terraform encodes both with one encoder: equal bytes, equal values.
	if req.PriorState.JSON != nil || req.ProposedNewState.JSON != nil || len(req.PriorState.MsgPack) == 0 ||
		!bytes.Equal(req.PriorState.MsgPack, req.ProposedNewState.MsgPack) {
		return nil, false
	}
	priv, ok := providerPrivate(req.PriorPrivate)
	if !ok {
		return nil, false
	}
	prior, ok := s.decode(req.PriorState)
	if !ok {
		return nil, false
	}
	config, err := req.Config.Unmarshal(s.typ)
	if err != nil || config.IsNull() || !config.IsFullyKnown() {
		return nil, false
	}
	if !s.defaultsHold(config, prior) {
		return nil, false
	}
	var diags diag.Diagnostics
	if g.elsewhere(ctx, priv, &diags) || len(diags) > 0 {
		return nil, false
	}
	modReq := resource.ModifyPlanRequest{
		Config: tfsdk.Config{Schema: s.schema, Raw: config},
		Plan:   tfsdk.Plan{Schema: s.schema, Raw: prior},
		State:  tfsdk.State{Schema: s.schema, Raw: prior},
	}
	modResp := resource.ModifyPlanResponse{Plan: tfsdk.Plan{Schema: s.schema, Raw: prior}}
	g.ModifyPlan(ctx, modReq, &modResp)
	if len(modResp.Diagnostics) > 0 || len(modResp.RequiresReplace) > 0 || modResp.Deferred != nil || !modResp.Plan.Raw.Equal(prior) {
		return nil, false
	}
	return &tfprotov6.PlanResourceChangeResponse{PlannedState: req.PriorState, PlannedPrivate: req.PriorPrivate}, true
}

// decode is a state that exists, fully known, or false.
func (s *tokenShortcut) decode(dv *tfprotov6.DynamicValue) (tftypes.Value, bool) {
	v, err := dv.Unmarshal(s.typ)
	if err != nil || v.IsNull() || !v.IsFullyKnown() {
		return tftypes.Value{}, false
	}
	return v, true
}

// defaultsHold reports whether the framework's defaults leave prior as it
// is: every attribute the configuration leaves null that has a default
// holds the default already.
func (s *tokenShortcut) defaultsHold(config, prior tftypes.Value) bool {
	var ca, pa map[string]tftypes.Value
	if config.As(&ca) != nil || prior.As(&pa) != nil {
		return false
	}
	for _, d := range s.defaults {
		if d.nested == "" {
			if ca[d.attr].IsNull() && !pa[d.attr].Equal(d.value) {
				return false
			}
			continue
		}
		var ce, pe []tftypes.Value
		if ca[d.attr].IsNull() {
			continue
		}
		if ca[d.attr].As(&ce) != nil || pa[d.attr].As(&pe) != nil || len(ce) != len(pe) {
			return false
		}
		for i := range ce {
			var c, p map[string]tftypes.Value
			if ce[i].As(&c) != nil || pe[i].As(&p) != nil {
				return false
			}
			if c[d.nested].IsNull() && !p[d.nested].Equal(d.value) {
				return false
			}
		}
	}
	return true
}

// providerPrivate is a resource's private state as the framework keeps it
// (a JSON object of base64 values, each UTF-8 JSON: privatestate.NewData),
// when it holds the provider's keys only; false for anything else: keys of
// the framework's own (as after an import), or what the framework would
// refuse, which only it answers.
func providerPrivate(raw []byte) (privateKeys, bool) {
	if len(raw) == 0 {
		return privateKeys{}, true
	}
	var keys privateKeys
	if err := json.Unmarshal(raw, (*map[string][]byte)(&keys)); err != nil || keys == nil {
		return nil, false
	}
	for k, v := range keys {
		if strings.HasPrefix(k, ".") || !utf8.Valid(v) || !json.Valid(v) {
			return nil, false
		}
	}
	return keys, true
}

// privateKeys is the provider's keys of a private state, read as the
// framework's private state is by guardedResource.elsewhere.
type privateKeys map[string][]byte

// GetKey is the value of key, nil when it has none.
func (p privateKeys) GetKey(_ context.Context, key string) ([]byte, diag.Diagnostics) {
	return p[key], nil
}
