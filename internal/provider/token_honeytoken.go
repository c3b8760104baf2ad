package provider

import (
	"context"

	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
)

// The token's honeytoken attribute: a decoy, issued and delivered like any
// token, never valid. It is fixed for the token's life: changing it
// replaces the token.

const honeytokenDescription = "Whether the token is a honeytoken: a decoy, issued and delivered like any token (to a decoy secret or " +
	"file, such as a `.env` an intruder would read), whose values never verify. `tokenward serve` and `tokenward verify` answer " +
	"them exactly as they answer an unknown token (`not_found`, `{\"active\": false}`, 401), also when one is used as a caller's " +
	"credential, and every presentation raises the `honeytoken_used` alert with the source, user agent and path. Its scopes " +
	"are bait: `tokenward review` marks the token as a honeytoken and does not flag them as grants, and the policy's " +
	"`forbidden_scopes` does not apply to them. `tokenward rotate` leaves honeytokens alone unless given `--honeytokens` " +
	"or the token's name."

func honeytokenAttribute() schema.BoolAttribute {
	return schema.BoolAttribute{
		Optional: true,
		Computed: true,
		Default:  booldefault.StaticBool(false),
		MarkdownDescription: honeytokenDescription + " Defaults to `false`. Changing it replaces the token, with new values: in " +
			"place, a planted decoy value would start to verify, or the value a real token's consumers hold would turn into a decoy.",
		PlanModifiers: []planmodifier.Bool{honeytokenReplace},
	}
}

// honeytokenReplace replaces the token when honeytoken changes, but not
// when a state written before the attribute existed holds none and the
// plan holds the default: that token is no honeytoken either.
var honeytokenReplace = boolplanmodifier.RequiresReplaceIf(
	func(_ context.Context, req planmodifier.BoolRequest, resp *boolplanmodifier.RequiresReplaceIfFuncResponse) {
		resp.RequiresReplace = req.PlanValue.IsUnknown() || req.PlanValue.ValueBool() != req.StateValue.ValueBool()
	},
	"Changing honeytoken replaces the token.", "Changing `honeytoken` replaces the token.")

func honeytokenDataAttribute() dsschema.BoolAttribute {
	return dsschema.BoolAttribute{Computed: true, MarkdownDescription: honeytokenDescription}
}
