package main

// Everything a command works on is opened here, from the settings that
// settings.go resolves: the registry with the master key, or without it and
// read-only for the verifier and the auditor; the destination router; and
// the rotation engine over them.

import (
	"context"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/issuer"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
)

// config resolves where the store and the key are: flags first, then
// TOKENWARD_* variables, then action inputs.
func (c *cli) config(sf *storeFlags) registry.Config {
	getenv := c.env
	actor := "tokenward"
	if a := c.getenv("GITHUB_ACTOR"); a != "" {
		actor = "github:" + a
	}
	// A missing store is created only when asked: a mistyped path must not
	// start a new, empty store.
	create := c.getenv(registry.EnvStoreCreate) == "1"
	if sf.create.given {
		create = sf.create.value
	}
	cfg := registry.Config{Store: sf.store, MasterKeyFile: sf.masterKeyFile, Actor: actor, Getenv: getenv, Create: create}
	c.warn(registry.Warnings(cfg))
	return cfg
}

// open opens the registry: the store and the master key.
func (c *cli) open(ctx context.Context, sf *storeFlags, opts ...registry.Option) (*registry.Registry, error) {
	return registry.Open(ctx, c.config(sf), opts...)
}

// openVerifier opens a registry that can only verify tokens: no master
// key, the store read-only.
func (c *cli) openVerifier(ctx context.Context, sf *storeFlags) (*registry.Registry, error) {
	return registry.OpenVerifier(ctx, c.config(sf))
}

// openAuditReader opens the store's audit chain read-only, without the
// master key.
func (c *cli) openAuditReader(ctx context.Context, sf *storeFlags) (*registry.AuditReader, error) {
	return registry.OpenAuditReader(ctx, c.config(sf))
}

// keyring reads only the master keys, for a command that needs no store.
func (c *cli) keyring(sf *storeFlags) (*seal.Keyring, error) {
	return registry.Keyring(c.config(sf))
}

// engine builds the rotation engine over reg. It delivers through the
// router, which writes files itself, and GitHub secrets, Vault KV secrets
// and AWS Secrets Manager secrets with the credentials of the environment
// and inputs; in a workflow each value is masked in the
// log before it is written anywhere, so no later output can show it.
func (c *cli) engine(reg *registry.Registry, opts ...rotation.Option) (*rotation.Engine, error) {
	gh, err := githubWriter(c.env)
	if err != nil {
		return nil, err
	}
	var w destination.Writer = destination.NewRouter(gh, secretManagerWriters(c.env)...)
	if c.inWorkflow() {
		w = destination.Masked(w, c.gha.AddMask)
	}
	// Credentials' issuers read their admin DSNs from this environment.
	issuers := rotation.WithIssuers(func(ctx context.Context, cfg issuer.Config) (issuer.Issuer, error) {
		return issuer.Open(ctx, cfg, c.getenv)
	})
	return rotation.New(reg, w, append([]rotation.Option{issuers}, opts...)...), nil
}

// githubWriter builds the GitHub secrets writer from the environment and
// inputs; nil when no GitHub credentials are set.
func githubWriter(getenv func(string) string) (destination.Writer, error) {
	cfg, ok, err := destination.GitHubConfigFromEnv(getenv)
	if err != nil || !ok {
		return nil, err
	}
	gh, err := destination.NewGitHub(cfg)
	if err != nil {
		return nil, err
	}
	return gh, nil
}

// secretManagerWriters builds the Vault writer when the environment names a
// Vault (TOKENWARD_VAULT_ADDR or VAULT_ADDR, a token or an AppRole), and
// the AWS Secrets Manager writer, whose SDK configuration (the default
// credential chain, AWS_REGION) is loaded only when a secret is written. A
// setting that does not read fails only the destinations of its kind: a
// VAULT_ADDR exported for other tools must not stop every rotation.
func secretManagerWriters(getenv func(string) string) []destination.RouterOption {
	var opts []destination.RouterOption
	if vc, ok, err := destination.VaultConfigFromEnv(getenv); err != nil {
		opts = append(opts, destination.WithVault(destination.Unavailable(err)))
	} else if ok {
		if v, err := destination.NewVault(vc); err != nil {
			opts = append(opts, destination.WithVault(destination.Unavailable(err)))
		} else {
			opts = append(opts, destination.WithVault(v))
		}
	}
	ac, err := destination.AWSConfigFromEnv(getenv)
	if err == nil {
		var a *destination.AWS
		if a, err = destination.NewAWS(ac); err == nil {
			return append(opts, destination.WithAWS(a))
		}
	}
	return append(opts, destination.WithAWS(destination.Unavailable(err)))
}
