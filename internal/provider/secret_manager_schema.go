package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
)

// The secret-manager destinations, vault_secrets and aws_secrets, as schema
// pieces, models and translations, for every resource that delivers a value
// (tokenward_token; tokenward_credential adds its `field` to each object's
// attributes and decodes with its own model).

// vaultSecretModel is one entry of vault_secrets.
type vaultSecretModel struct {
	Path types.String `tfsdk:"path"`
	Key  types.String `tfsdk:"key"`
}

// awsSecretModel is one entry of aws_secrets.
type awsSecretModel struct {
	Name types.String `tfsdk:"name"`
}

var (
	vaultSecretType = types.ObjectType{AttrTypes: map[string]attr.Type{"path": types.StringType, "key": types.StringType}}
	awsSecretType   = types.ObjectType{AttrTypes: map[string]attr.Type{"name": types.StringType}}
)

// vaultSecretAttributes are the attributes of one vault_secrets entry;
// what names the resource's kind ("token", "credential") for the
// descriptions.
func vaultSecretAttributes(what string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"path": schema.StringAttribute{Required: true,
			MarkdownDescription: "The secret's path within the KV v2 mount (the provider's `vault.mount`, `secret` by default), such as " +
				"`apps/billing`: segments of letters, digits and `_ . @ + = ~ -` separated by `/`, without the mount and without the " +
				"API's `data/`."},
		"key": schema.StringAttribute{Optional: true,
			MarkdownDescription: "The field of the secret's data that holds the value, such as `API_TOKEN`. Defaults to the " + what +
				"'s name in upper case with every other character than a letter or digit as `_` (`ci-deploy` → `CI_DEPLOY`), as a " +
				"file's `key` does. Several entries of one " + what + " may share a `path` with different keys."},
	}
}

// vaultSecretsAttribute is the vault_secrets list of a resource of kind what.
func vaultSecretsAttribute(what string, attrs map[string]schema.Attribute) schema.ListNestedAttribute {
	return schema.ListNestedAttribute{
		Optional: true,
		MarkdownDescription: "HashiCorp Vault or OpenBao KV version 2 secrets that receive the " + what + "'s value, each as one field of " +
			"the secret's data, written with check-and-set so that a concurrent change is never lost (a conflict is retried once, " +
			"then reported). A secret tokenward creates is marked in its `custom_metadata` as `managed-by = tokenward/<name>`; an " +
			"existing secret without that mark is never overwritten or deleted: the apply fails and says how to hand it over " +
			"(`vault kv metadata patch -custom-metadata=managed-by=tokenward/<name> PATH`). Destroying the " + what + " removes its " +
			"field, and the whole secret (every version) when no other field is left. The address and mount come from the " +
			"provider's `vault` block or `TOKENWARD_VAULT_ADDR`/`VAULT_ADDR`, the Vault token from `TOKENWARD_VAULT_TOKEN` or " +
			"`VAULT_TOKEN`, or an AppRole from `TOKENWARD_VAULT_ROLE_ID` and `TOKENWARD_VAULT_SECRET_ID`. " +
			"Example: `vault_secrets = [{ path = \"apps/billing\", key = \"API_TOKEN\" }]`.",
		NestedObject: schema.NestedAttributeObject{Attributes: attrs},
	}
}

// withField is attrs with an optional `field` attribute described by
// desc: which part of a credential the entry receives.
func withField(attrs map[string]schema.Attribute, desc string) map[string]schema.Attribute {
	attrs["field"] = schema.StringAttribute{Optional: true, MarkdownDescription: desc}
	return attrs
}

// awsSecretAttributes are the attributes of one aws_secrets entry.
func awsSecretAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"name": schema.StringAttribute{Required: true,
			MarkdownDescription: "The secret's name, such as `billing/api-token`: 1 to 512 letters, digits and `/ _ + = . @ -`, not an ARN " +
				"and not ending in a hyphen and six characters (which Secrets Manager reads as an ARN's suffix)."},
	}
}

// awsSecretsAttribute is the aws_secrets list of a resource of kind what.
func awsSecretsAttribute(what string, attrs map[string]schema.Attribute) schema.ListNestedAttribute {
	return schema.ListNestedAttribute{
		Optional: true,
		MarkdownDescription: "AWS Secrets Manager secrets whose value (`SecretString`) is the " + what + "'s value. A secret that does " +
			"not exist is created, tagged `managed-by = tokenward/<name>`; an existing secret without that tag is never overwritten or " +
			"deleted. Each rotation writes a new version, which Secrets Manager labels `AWSCURRENT` while the previous one becomes " +
			"`AWSPREVIOUS`, so a consumer can fall back to it during the overlap. A secret of this " + what + "'s that is scheduled for " +
			"deletion is restored; one that is not its own is an error. Destroying the " + what + " schedules its secrets' deletion " +
			"with a recovery window (`aws.recovery_window_days`, 30 by default). Credentials come from the AWS SDK's default chain " +
			"(`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, web identity, SSO, an instance or task role), the region " +
			"from the provider's `aws.region` or `AWS_REGION`. Example: `aws_secrets = [{ name = \"billing/api-token\" }]`.",
		NestedObject: schema.NestedAttributeObject{Attributes: attrs},
	}
}

// vaultSecretConfig is one vault_secrets entry as a destination of the
// resource named name; known is false while a part is unknown. A null key
// is defaultKey(name).
func vaultSecretConfig(path, key, name types.String) (c destination.Config, known bool) {
	c = destination.Config{Path: path.ValueString(), Key: key.ValueString(), ManagedBy: name.ValueString()}
	if key.IsNull() {
		c.Key = defaultFileKey(name.ValueString())
	}
	return c, stringsKnown(path, key, name)
}

// awsSecretConfig is one aws_secrets entry as a destination of the
// resource named name; known is false while a part is unknown.
func awsSecretConfig(secretName, name types.String) (c destination.Config, known bool) {
	return destination.Config{Name: secretName.ValueString(), ManagedBy: name.ValueString()}, stringsKnown(secretName, name)
}

// vaultSecretFromStore is a stored vault_kv destination as the state shows
// it: the key unset when it is the default and the prior entry at the same
// place in the list left it unset.
func vaultSecretFromStore(c destination.Config, name string, prior []vaultSecretModel, i int) vaultSecretModel {
	key := types.StringValue(c.Key)
	explicit := i < len(prior) && !prior[i].Key.IsNull()
	if c.Key == defaultFileKey(name) && !explicit {
		key = types.StringNull()
	}
	return vaultSecretModel{Path: types.StringValue(c.Path), Key: key}
}

// priorVaultSecrets decodes a prior state's vault_secrets.
func priorVaultSecrets(ctx context.Context, l types.List, diags *diag.Diagnostics) []vaultSecretModel {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	return listAs[vaultSecretModel](ctx, l, diags)
}

// checkVault reports the vault_secrets of the resource named name when the
// provider has no Vault settings at all, at plan time. (AWS credentials
// come from the SDK's chain, which only an apply resolves.)
func (d *providerData) checkVault(what string, name types.String, vault types.List, diags *diag.Diagnostics) {
	if d.vault || vault.IsNull() || (!vault.IsUnknown() && len(vault.Elements()) == 0) {
		return
	}
	diags.AddAttributeError(fieldPath("vault_secrets"), "Vault is not configured",
		fmt.Sprintf("The %s %s delivers to Vault (vault_secrets), so the provider needs its address and credentials: set the provider's "+
			"vault.address (or TOKENWARD_VAULT_ADDR, or VAULT_ADDR), and TOKENWARD_VAULT_TOKEN (or VAULT_TOKEN) to a Vault token, or an "+
			"AppRole's TOKENWARD_VAULT_ROLE_ID and TOKENWARD_VAULT_SECRET_ID.", what, name.ValueString()))
}
