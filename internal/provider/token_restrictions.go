package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// The token's restrictions, which tokenward serve enforces: allowed_cidrs
// and rate_limit. Changing them updates the token in place.

// rateLimitModel is the rate_limit attribute.
type rateLimitModel struct {
	Requests types.Int64   `tfsdk:"requests"`
	Per      durationValue `tfsdk:"per"`
}

var rateLimitType = types.ObjectType{AttrTypes: map[string]attr.Type{"requests": types.Int64Type, "per": durationType{}}}

// The schema descriptions, shared by the resource and the data source.
const (
	allowedCIDRsDescription = "The networks the token may be used from, as IPv4 or IPv6 CIDRs in canonical form, such as " +
		"`[\"10.0.0.0/8\", \"2001:db8::/32\"]` (one address is `192.0.2.7/32`). `tokenward serve` answers a use from any other " +
		"address as `ip_denied`. The address is the client's: the peer's, or the one a proxy listed in `--trusted-proxies` " +
		"forwards, or the `source_ip` a caller of the verify or introspection endpoint sends. Where the client's address is not " +
		"known, as behind Apache's `mod_auth_openidc`, which sends none, a token with `allowed_cidrs` is inactive: it fails " +
		"closed."
	rateLimitDescription = "How often `tokenward serve` accepts the token: at most `requests` uses per `per`, such as " +
		"`{ requests = 100, per = \"1m\" }`; past it a use is `rate_limited` (and the forward-auth endpoint answers 403 with " +
		"`Retry-After`). The limit is per token and per server instance: each instance counts on its own, so N instances behind " +
		"a load balancer allow up to N times the limit."
)

func allowedCIDRsAttribute() schema.SetAttribute {
	return schema.SetAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: allowedCIDRsDescription +
		" Unset or empty, any address may use the token. A change applies at once, without a rotation."}
}

func rateLimitAttribute() schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		Optional:            true,
		MarkdownDescription: rateLimitDescription + " Unset, the token has no rate limit. A change applies at once, without a rotation.",
		Attributes: map[string]schema.Attribute{
			"requests": schema.Int64Attribute{Required: true,
				MarkdownDescription: "How many uses the window allows, at least 1, such as `100`."},
			"per": schema.StringAttribute{Required: true, CustomType: durationType{},
				MarkdownDescription: "The window the uses are counted over, at least `1s`, such as `1m` or `1h`; accepts the units of `ttl`.",
				PlanModifiers:       []planmodifier.String{keepEquivalentDuration{}}},
		},
	}
}

// rateLimit is m's rate limit, the zero value when it has none; ok is false
// when a part is not known or not valid yet.
func (m tokenModel) rateLimit(ctx context.Context, diags *diag.Diagnostics) (l store.RateLimit, ok bool) {
	if m.RateLimit.IsNull() {
		return store.RateLimit{}, true
	}
	if m.RateLimit.IsUnknown() {
		return store.RateLimit{}, false
	}
	var rl rateLimitModel
	diags.Append(m.RateLimit.As(ctx, &rl, basetypes.ObjectAsOptions{})...)
	per, okPer := rl.Per.Duration()
	if rl.Requests.IsUnknown() || rl.Requests.IsNull() || !okPer {
		return store.RateLimit{}, false
	}
	return store.RateLimit{Requests: int(rl.Requests.ValueInt64()), Per: per}, true
}

// rateLimitFromStore is the stored rate limit as state, keeping prior's
// spelling of per when it is the same length.
func rateLimitFromStore(ctx context.Context, l store.RateLimit, prior types.Object, diags *diag.Diagnostics) types.Object {
	if l == (store.RateLimit{}) {
		return types.ObjectNull(rateLimitType.AttrTypes)
	}
	per := durationOf(l.Per)
	if !prior.IsNull() && !prior.IsUnknown() {
		var p rateLimitModel
		diags.Append(prior.As(ctx, &p, basetypes.ObjectAsOptions{})...)
		per = keepDuration(l.Per, p.Per)
	}
	o, d := types.ObjectValueFrom(ctx, rateLimitType.AttrTypes, rateLimitModel{Requests: types.Int64Value(int64(l.Requests)), Per: per})
	diags.Append(d...)
	return o
}

// checkRestrictions adds a diagnostic on each bad network of allowed_cidrs
// and on a bad part of rate_limit, at plan time.
func checkRestrictions(ctx context.Context, m tokenModel, diags *diag.Diagnostics) {
	if !m.AllowedCIDRs.IsNull() && !m.AllowedCIDRs.IsUnknown() {
		for _, e := range m.AllowedCIDRs.Elements() {
			v, ok := e.(types.String)
			if !ok || v.IsUnknown() || v.IsNull() {
				continue
			}
			if err := registry.CheckCIDR(v.ValueString()); err != nil {
				diags.AddAttributeError(path.Root("allowed_cidrs").AtSetValue(v), "Invalid network", "allowed_cidrs: "+reasonOf(err)+".")
			}
		}
	}
	if m.RateLimit.IsNull() || m.RateLimit.IsUnknown() {
		return
	}
	var rl rateLimitModel
	diags.Append(m.RateLimit.As(ctx, &rl, basetypes.ObjectAsOptions{})...)
	if !rl.Requests.IsNull() && !rl.Requests.IsUnknown() && rl.Requests.ValueInt64() < 1 {
		diags.AddAttributeError(path.Root("rate_limit").AtName("requests"), "Invalid rate limit",
			fmt.Sprintf("rate_limit.requests: %d must be at least 1, such as 100 with per = \"1m\" for 100 uses a minute; remove rate_limit for no limit.", rl.Requests.ValueInt64()))
	}
	if per, ok := rl.Per.Duration(); ok && per < registry.MinRateLimitPer {
		diags.AddAttributeError(path.Root("rate_limit").AtName("per"), "Invalid rate limit",
			fmt.Sprintf("rate_limit.per: %s is shorter than %s; count uses over %s or longer, such as \"1m\".",
				duration.Format(per), duration.Format(registry.MinRateLimitPer), duration.Format(registry.MinRateLimitPer)))
	}
}

// reasonOf is an InvalidError's reason, or err's message.
func reasonOf(err error) string {
	var ie *registry.InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return err.Error()
}

// rateLimitDataType is rate_limit as the tokenward_token data source shows
// it, per in its canonical spelling.
var rateLimitDataType = types.ObjectType{AttrTypes: map[string]attr.Type{"requests": types.Int64Type, "per": types.StringType}}

func rateLimitData(l store.RateLimit, diags *diag.Diagnostics) types.Object {
	if l == (store.RateLimit{}) {
		return types.ObjectNull(rateLimitDataType.AttrTypes)
	}
	o, d := types.ObjectValue(rateLimitDataType.AttrTypes, map[string]attr.Value{
		"requests": types.Int64Value(int64(l.Requests)), "per": types.StringValue(duration.Format(l.Per))})
	diags.Append(d...)
	return o
}
