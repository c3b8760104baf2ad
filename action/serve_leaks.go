package main

// serve's leak response (issue 14): the secret_scanning_alert webhook's
// secret, the GitHub API and credentials it reads alerts with (the
// environment `tokenward rotate` reads: TOKENWARD_GITHUB_TOKEN or
// GITHUB_TOKEN, or a GitHub App; GITHUB_API_URL), and the rotation engine
// a leaked token is rotated with, when this server has the master key and
// may write the store.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// envWebhookSecretFile stands in for --github-webhook-secret-file.
const envWebhookSecretFile = "TOKENWARD_GITHUB_WEBHOOK_SECRET_FILE"

// leakRotateLockWait bounds how long a leak rotation waits for another
// rotation of the same token: the leaked version is revoked already.
const leakRotateLockWait = 30 * time.Second

// leakFlags are serve's flags for the leak endpoints.
type leakFlags struct {
	fs                *flag.FlagSet
	webhookSecretFile string
}

func addLeakFlags(fs *flag.FlagSet) *leakFlags {
	lf := &leakFlags{fs: fs}
	fs.StringVar(&lf.webhookSecretFile, "github-webhook-secret-file", "",
		"file holding the secret of the organization's secret_scanning_alert webhook; turns POST /v1/leaks/github-webhook on (default $"+envWebhookSecretFile+")")
	return lf
}

// leakOption builds the leak endpoints' configuration and logs what is on
// and what is off, and why.
func (c *cli) leakOption(lf *leakFlags, reg *registry.Registry, access registry.ServeAccess, log *slog.Logger) (server.Option, error) {
	var o server.LeakOptions
	file, given := lf.webhookSecretFile, false
	lf.fs.Visit(func(f *flag.Flag) { given = given || f.Name == "github-webhook-secret-file" })
	if !given {
		file = c.getenv(envWebhookSecretFile)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("serve: --github-webhook-secret-file: %w", err)
		}
		if o.WebhookSecret = bytes.TrimSpace(b); len(o.WebhookSecret) == 0 {
			return nil, fmt.Errorf("serve: --github-webhook-secret-file %s is empty: write the webhook's secret in it", file)
		}
	}
	o.APIURL = c.getenv(destination.EnvGitHubAPIURL)
	cfg, ok, err := destination.GitHubConfigFromEnv(c.env)
	switch {
	case err != nil:
		return nil, fmt.Errorf("serve: GitHub credentials: %w", err)
	case !ok:
		o.GitHubOff = "no GitHub credentials are set (TOKENWARD_GITHUB_TOKEN, GITHUB_TOKEN or a GitHub App)"
	default:
		if o.GitHub, err = destination.NewGitHubClient(cfg); err != nil {
			return nil, fmt.Errorf("serve: GitHub credentials: %w", err)
		}
	}
	switch {
	case !access.Writable:
		o.RotateOff = "the store is read-only here: " + access.ReadOnlyWhy
	case !access.Keys:
		o.RotateOff = "this server has no master key: " + access.NoKeyWhy
	default:
		eng, err := c.engine(reg, rotation.WithLockWait(leakRotateLockWait))
		if err != nil {
			o.RotateOff = "the destinations' credentials do not configure: " + err.Error()
			break
		}
		o.Rotate = func(ctx context.Context, name string) (string, error) {
			res, err := eng.Rotate(ctx, name)
			if err == nil && res.To == "" {
				err = errors.New("the rotation issued no version")
			}
			return res.To, err
		}
	}
	switch {
	case len(o.WebhookSecret) == 0:
		log.Info("the GitHub secret-scanning webhook is off", "why", "--github-webhook-secret-file is not set")
	case o.GitHub == nil:
		log.Warn("the GitHub secret-scanning webhook cannot read alerts", "why", o.GitHubOff)
	}
	if o.Rotate == nil {
		log.Warn("leak reports revoke the leaked version but do not rotate", "why", o.RotateOff)
	}
	return server.WithLeakResponse(o), nil
}
