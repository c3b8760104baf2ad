package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
)

// The provider block's vault and aws settings, and the writers built from
// them. No credential is ever an attribute: Vault tokens, AppRole secret ids
// and AWS keys come from the environment only.

type vaultModel struct {
	Address      types.String `tfsdk:"address"`
	Mount        types.String `tfsdk:"mount"`
	AppRoleMount types.String `tfsdk:"approle_mount"`
}

type awsModel struct {
	Region             types.String `tfsdk:"region"`
	Endpoint           types.String `tfsdk:"endpoint"`
	RecoveryWindowDays types.Int64  `tfsdk:"recovery_window_days"`
}

func vaultProviderAttribute() schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		Optional: true,
		MarkdownDescription: "Where `vault_secrets` destinations are written: a HashiCorp Vault or OpenBao server and its KV version 2 mount. " +
			"Credentials are never set here: the provider (and the tokenward binary) read a Vault token from `TOKENWARD_VAULT_TOKEN`, " +
			"then `VAULT_TOKEN`, or log in with AppRole from `TOKENWARD_VAULT_ROLE_ID` and `TOKENWARD_VAULT_SECRET_ID`. TLS follows the " +
			"Vault client's variables (`VAULT_CACERT`, `VAULT_CLIENT_CERT`, ...), and `VAULT_NAMESPACE` selects an Enterprise namespace. " +
			"The token needs `create`, `read` and `update` on `MOUNT/data/PATH` and `read`, `update` and `delete` on `MOUNT/metadata/PATH`.",
		Attributes: map[string]schema.Attribute{
			"address": schema.StringAttribute{Optional: true,
				MarkdownDescription: "The server's URL, such as `https://vault.example.com:8200`. Defaults to `TOKENWARD_VAULT_ADDR`, then `VAULT_ADDR`."},
			"mount": schema.StringAttribute{Optional: true,
				MarkdownDescription: "The KV version 2 mount's path, such as `kv` or `teams/kv`. Defaults to `TOKENWARD_VAULT_MOUNT`, then `secret`. " +
					"Stored destinations name only their path: changing the mount makes the next delivery write under the new mount, " +
					"and leaves what was written under the old one."},
			"approle_mount": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Where the AppRole auth method is mounted. Defaults to `TOKENWARD_VAULT_APPROLE_MOUNT`, then `approle`."},
		},
	}
}

func awsProviderAttribute() schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		Optional: true,
		MarkdownDescription: "Where `aws_secrets` destinations are written: AWS Secrets Manager. Credentials are never set here: they come " +
			"from the AWS SDK's default chain (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE` and the shared files, web " +
			"identity, SSO, a task or instance role). The credentials need `secretsmanager:DescribeSecret`, `CreateSecret`, `TagResource`, " +
			"`GetSecretValue`, `PutSecretValue`, `RestoreSecret` and `DeleteSecret` on the secrets.",
		Attributes: map[string]schema.Attribute{
			"region": schema.StringAttribute{Optional: true,
				MarkdownDescription: "The region, such as `eu-west-1`. Defaults to `AWS_REGION`, then the profile's region."},
			"endpoint": schema.StringAttribute{Optional: true,
				MarkdownDescription: "An endpoint to use instead of Secrets Manager's, such as `http://localhost:4566` for LocalStack. " +
					"Defaults to `TOKENWARD_AWS_ENDPOINT`; the SDK also reads `AWS_ENDPOINT_URL_SECRETS_MANAGER`."},
			"recovery_window_days": schema.Int64Attribute{Optional: true,
				MarkdownDescription: "How many days a secret tokenward deletes (when its token is destroyed or the destination removed) can " +
					"still be restored: 7 to 30. Defaults to `TOKENWARD_AWS_RECOVERY_WINDOW_DAYS`, then 30."},
		},
	}
}

// checkSecretManagerSettings reports vault and aws settings that are not
// known at plan time or out of range, on the attribute at fault.
func checkSecretManagerSettings(v *vaultModel, a *awsModel, diags *diag.Diagnostics) {
	unknown := func(block string, attrs map[string]interface{ IsUnknown() bool }) {
		for name, x := range attrs {
			if x.IsUnknown() {
				diags.AddAttributeError(path.Root(block).AtName(name), "Setting is not known yet",
					"The "+block+" block must be known at plan time: use literals, variables or environment variables, not attributes of other resources.")
			}
		}
	}
	if v != nil {
		unknown("vault", map[string]interface{ IsUnknown() bool }{"address": v.Address, "mount": v.Mount, "approle_mount": v.AppRoleMount})
		if s := v.Address.ValueString(); s != "" {
			if err := destination.CheckVaultAddress(s); err != nil {
				diags.AddAttributeError(path.Root("vault").AtName("address"), "Invalid Vault address", "vault."+err.Error()+".")
			}
		}
		for name, m := range map[string]types.String{"mount": v.Mount, "approle_mount": v.AppRoleMount} {
			if s := m.ValueString(); s != "" && destination.CheckVaultPath(s) != nil {
				diags.AddAttributeError(path.Root("vault").AtName(name), "Invalid Vault mount",
					fmt.Sprintf("vault.%s: %q must be a mount path such as kv or teams/kv, without leading or trailing '/'.", name, s))
			}
		}
	}
	if a != nil {
		unknown("aws", map[string]interface{ IsUnknown() bool }{"region": a.Region, "endpoint": a.Endpoint, "recovery_window_days": a.RecoveryWindowDays})
		if n := a.RecoveryWindowDays; !n.IsNull() && !n.IsUnknown() && (n.ValueInt64() < 7 || n.ValueInt64() > 30) {
			diags.AddAttributeError(path.Root("aws").AtName("recovery_window_days"), "Invalid recovery window",
				fmt.Sprintf("aws.recovery_window_days: %d must be 7 to 30 days, as Secrets Manager allows.", n.ValueInt64()))
		}
		if s := a.Endpoint.ValueString(); s != "" {
			if err := destination.CheckAWSEndpoint(s); err != nil {
				diags.AddAttributeError(path.Root("aws").AtName("endpoint"), "Invalid AWS endpoint", "aws."+err.Error()+".")
			}
		}
	}
}

// vaultConfig is the Vault writer's configuration: the environment's,
// with the vault block's settings over it.
func (p *Provider) vaultConfig(m *vaultModel) (destination.VaultConfig, bool, error) {
	c, ok, err := destination.VaultConfigFromEnv(p.getenv)
	if m != nil {
		for _, o := range []struct {
			v   types.String
			dst *string
		}{{m.Address, &c.Address}, {m.Mount, &c.Mount}, {m.AppRoleMount, &c.AppRoleMount}} {
			if s := o.v.ValueString(); s != "" {
				*o.dst = s
			}
		}
		ok = ok || m.Address.ValueString() != ""
	}
	return c, ok, err
}

// vaultConfigured reports whether any Vault setting is given, so that a
// plan can say early that vault_secrets have nowhere to go.
func (p *Provider) vaultConfigured(m *vaultModel) bool {
	_, ok, err := p.vaultConfig(m)
	return ok || err != nil
}

// secretManagerWriters are the router's Vault and AWS writers, each built
// the first time a destination of its kind is written, so that a run
// without such destinations needs no setting at all.
func (p *Provider) secretManagerWriters(v *vaultModel, a *awsModel) []destination.RouterOption {
	vault := &lazyWriter{build: func() (destination.Writer, error) {
		c, _, err := p.vaultConfig(v)
		if err != nil {
			return nil, fmt.Errorf("vault settings from the environment: %w", err)
		}
		w, err := destination.NewVault(c)
		if err != nil {
			return nil, err // not a nil *Vault in a non-nil Writer
		}
		return w, nil
	}}
	aws := &lazyWriter{build: func() (destination.Writer, error) {
		c, err := destination.AWSConfigFromEnv(p.getenv)
		if err != nil {
			return nil, fmt.Errorf("aws settings from the environment: %w", err)
		}
		if a != nil {
			if s := a.Region.ValueString(); s != "" {
				c.Region = s
			}
			if s := a.Endpoint.ValueString(); s != "" {
				c.Endpoint = s
			}
			if !a.RecoveryWindowDays.IsNull() {
				c.RecoveryWindowDays = int(a.RecoveryWindowDays.ValueInt64())
			}
		}
		w, err := destination.NewAWS(c)
		if err != nil {
			return nil, err
		}
		return w, nil
	}}
	return []destination.RouterOption{destination.WithVault(vault), destination.WithAWS(aws)}
}
