package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
)

// durationType is a string attribute holding a duration with tokenward's
// units (90d, 1d12h, 2w). Two spellings of one length, such as 24h and 1d,
// are semantically equal, so rewriting one as the other never shows a diff.
type durationType struct {
	basetypes.StringType
}

var (
	_ basetypes.StringTypable                    = durationType{}
	_ basetypes.StringValuableWithSemanticEquals = durationValue{}
	_ xattr.ValidateableAttribute                = durationValue{}
)

func (t durationType) Equal(o attr.Type) bool {
	_, ok := o.(durationType)
	return ok
}

func (t durationType) String() string { return "provider.durationType" }

func (t durationType) ValueFromString(_ context.Context, in basetypes.StringValue) (basetypes.StringValuable, diag.Diagnostics) {
	return durationValue{StringValue: in}, nil
}

func (t durationType) ValueFromTerraform(ctx context.Context, in tftypes.Value) (attr.Value, error) {
	v, err := t.StringType.ValueFromTerraform(ctx, in)
	if err != nil {
		return nil, err
	}
	s, ok := v.(basetypes.StringValue)
	if !ok {
		return nil, fmt.Errorf("unexpected value type %T", v)
	}
	return durationValue{StringValue: s}, nil
}

func (t durationType) ValueType(context.Context) attr.Value { return durationValue{} }

// durationValue is a value of durationType.
type durationValue struct {
	basetypes.StringValue
}

func durationNull() durationValue { return durationValue{StringValue: basetypes.NewStringNull()} }

func durationUnknown() durationValue { return durationValue{StringValue: basetypes.NewStringUnknown()} }

func durationOf(d time.Duration) durationValue {
	return durationValue{StringValue: basetypes.NewStringValue(duration.Format(d))}
}

func (v durationValue) Type(context.Context) attr.Type { return durationType{} }

func (v durationValue) Equal(o attr.Value) bool {
	other, ok := o.(durationValue)
	return ok && v.StringValue.Equal(other.StringValue)
}

// Duration returns the parsed duration; ok is false when the value is null,
// unknown or not a duration.
func (v durationValue) Duration() (d time.Duration, ok bool) {
	if v.IsNull() || v.IsUnknown() {
		return 0, false
	}
	d, err := duration.Parse(v.ValueString())
	return d, err == nil
}

// StringSemanticEquals reports whether two durations have the same length.
func (v durationValue) StringSemanticEquals(_ context.Context, other basetypes.StringValuable) (bool, diag.Diagnostics) {
	var diags diag.Diagnostics
	o, ok := other.(durationValue)
	if !ok {
		diags.AddError("Semantic equality check error",
			fmt.Sprintf("A duration was compared with a %T; this is a bug in the tokenward provider.", other))
		return false, diags
	}
	a, okA := v.Duration()
	b, okB := o.Duration()
	return okA && okB && a == b, diags
}

// ValidateAttribute rejects what is not a duration, at plan time.
func (v durationValue) ValidateAttribute(_ context.Context, req xattr.ValidateAttributeRequest, resp *xattr.ValidateAttributeResponse) {
	if v.IsNull() || v.IsUnknown() {
		return
	}
	if _, err := duration.Parse(v.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%s. Write a number and a unit: w (weeks), d (days), h, m or s, combined as in 90d, 2w or 1d12h.", err))
	}
}

// keepEquivalentDuration is a plan modifier that keeps the prior state's
// spelling when the configuration writes the same length another way (1d
// where the state holds 24h), so the plan shows no change.
type keepEquivalentDuration struct{}

func (keepEquivalentDuration) Description(context.Context) string {
	return "Keeps the current spelling of a duration when the configuration writes the same length differently."
}

func (m keepEquivalentDuration) MarkdownDescription(ctx context.Context) string {
	return m.Description(ctx)
}

func (keepEquivalentDuration) PlanModifyString(ctx context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.StateValue.IsNull() || req.StateValue.IsUnknown() || req.PlanValue.IsNull() || req.PlanValue.IsUnknown() {
		return
	}
	if req.PlanValue.Equal(req.StateValue) {
		return
	}
	equal, diags := durationValue{StringValue: req.StateValue}.StringSemanticEquals(ctx, durationValue{StringValue: req.PlanValue})
	resp.Diagnostics.Append(diags...)
	if equal {
		resp.PlanValue = req.StateValue
	}
}
