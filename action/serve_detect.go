package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/detect"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// detectSources are the environment variables of serve's detector flags.
// The webhook's secret has none: it is read from a file only.
var detectSources = map[string]flagSource{
	"learning-period":           {env: "TOKENWARD_LEARNING_PERIOD"},
	"failure-burst":             {env: "TOKENWARD_FAILURE_BURST"},
	"scope-probe":               {env: "TOKENWARD_SCOPE_PROBE"},
	"alert-webhook":             {env: "TOKENWARD_ALERT_WEBHOOK"},
	"alert-webhook-secret-file": {env: "TOKENWARD_ALERT_WEBHOOK_SECRET_FILE"},
	"policy":                    {env: "TOKENWARD_POLICY"},
}

// seedPerToken bounds the usage events read per token to seed the
// detectors' baselines at start.
const seedPerToken = 10_000

// detectFlags are serve's flags for the detectors and where alerts go.
type detectFlags struct {
	fs            *flag.FlagSet
	cfg           detect.Config
	webhook       string
	webhookSecret string
	policy        string
	hook          *detect.Webhook // built by checkDetect
}

// detectFlags defines serve's detector flags on fs.
func (c *cli) detectFlags(fs *flag.FlagSet) *detectFlags {
	d := &detectFlags{fs: fs, cfg: detect.Defaults()}
	fs.Var(durationValue{&d.cfg.LearningPeriod}, "learning-period",
		"how long after a token's first use its uses form its network baseline and raise no new_network; 0: the first use alone (default 24h, $TOKENWARD_LEARNING_PERIOD)")
	fs.Var(thresholdValue{&d.cfg.FailureBurst}, "failure-burst",
		"N/WINDOW failed verifications from one /24 or /48 that raise failure_burst (default 20/1m, $TOKENWARD_FAILURE_BURST)")
	fs.Var(thresholdValue{&d.cfg.ScopeProbe}, "scope-probe",
		"N/WINDOW insufficient_scope answers for one token that raise failure_burst (default 10/1m, $TOKENWARD_SCOPE_PROBE)")
	fs.StringVar(&d.webhook, "alert-webhook", "", "https URL to POST every alert to as signed JSON (http only to loopback) (default $TOKENWARD_ALERT_WEBHOOK)")
	fs.StringVar(&d.webhookSecret, "alert-webhook-secret-file", "",
		"file holding the webhook's HMAC secret, at least 16 bytes (default $TOKENWARD_ALERT_WEBHOOK_SECRET_FILE)")
	fs.StringVar(&d.policy, "policy", "", "policy file, as tokenward review --policy reads it, for on_revoked_version_used (default $TOKENWARD_POLICY)")
	return d
}

// checkDetect completes the detector flags from the environment and checks
// them: the thresholds, the policy file, the webhook's URL and secret.
func (c *cli) checkDetect(d *detectFlags) error {
	if err := c.resolve(d.fs, detectSources); err != nil {
		return err
	}
	if d.policy != "" {
		pol, err := review.LoadPolicy(d.policy)
		if err != nil {
			return fmt.Errorf("--policy: %w", err)
		}
		if pol.OnRevokedVersionUsed != "" {
			d.cfg.OnRevokedVersionUsed = pol.OnRevokedVersionUsed
		}
	}
	if err := d.cfg.Check(); err != nil {
		return err
	}
	if d.webhook == "" && d.webhookSecret == "" {
		return nil
	}
	if d.webhook == "" || d.webhookSecret == "" {
		return errors.New("give both --alert-webhook URL and --alert-webhook-secret-file F, or neither")
	}
	secret, err := os.ReadFile(d.webhookSecret)
	if err != nil {
		return fmt.Errorf("--alert-webhook-secret-file: %w", err)
	}
	d.hook, err = detect.NewWebhook(d.webhook, bytes.TrimSpace(secret))
	return err
}

// startDetect builds the detectors' engine and starts it (seeding its
// baselines from the usage log first). It returns the server option that
// hands it every verification and the server's findings, and a stop that
// waits for it. A read-only store still detects and alerts (log, metrics,
// webhook) but cannot store, audit or revoke: the engine says so once.
func startDetect(ctx context.Context, d *detectFlags, reg *registry.Registry, access registry.ServeAccess,
	src *server.Source, log *slog.Logger, now func() time.Time) (opt server.Option, stop func()) {
	metrics := prometheus.NewRegistry()
	opts := []detect.Option{detect.WithLogger(log), detect.WithClock(now), detect.WithMetrics(metrics),
		detect.WithVersions(snapshotVersions(src))}
	if d.hook != nil {
		d.hook.SetLogger(log)
		opts = append(opts, detect.WithWebhook(d.hook))
	}
	al, noLog := reg.AlertLog()
	switch {
	case !access.Writable:
		why := "the store is read-only: " + access.ReadOnlyWhy
		opts = append(opts, detect.WithAlertLog(nil, why), detect.WithRevoker(nil, why))
	case noLog != nil:
		opts = append(opts, detect.WithAlertLog(nil, noLog.Error()), detect.WithAuditor(reg), detect.WithRevoker(reg, ""))
	default:
		opts = append(opts, detect.WithAlertLog(al, ""), detect.WithAuditor(reg), detect.WithRevoker(reg, ""))
	}
	eng, err := detect.New(d.cfg, opts...)
	if err != nil {
		// checkDetect checked the configuration.
		panic(fmt.Sprintf("detectors: %v", err))
	}
	if d.cfg.OnRevokedVersionUsed == detect.RespondRevoke && !access.Writable {
		log.Warn("on_revoked_version_used is revoke, but the store is read-only: revoked_version_used alerts will say the token could not be revoked")
	}
	ul, _ := reg.UsageLog()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if ul != nil {
			if err := eng.Seed(runCtx, ul, seedPerToken); err != nil {
				log.Warn("detectors start without a baseline from the usage log", "err", err)
			}
		}
		_ = eng.Run(runCtx)
	}()
	opt = func(s *server.Server) {
		for _, o := range []server.Option{server.WithRegistry(metrics), server.WithEventSinks(eng), server.WithAlerts(eng)} {
			o(s)
		}
	}
	return opt, func() { cancel(); wg.Wait() }
}

// snapshotVersions looks a version up in the source's current snapshot.
func snapshotVersions(src *server.Source) detect.Versions {
	return func(id string) (detect.VersionInfo, bool) {
		snap, err := src.Current()
		if err != nil || snap == nil {
			return detect.VersionInfo{}, false
		}
		e := snap.Lookup(id)
		if e == nil {
			return detect.VersionInfo{}, false
		}
		return detect.VersionInfo{State: e.State, ExpiresAt: e.ExpiresAt, Retired: e.Token != nil && e.Token.Retired}, true
	}
}

// thresholdValue is an N/WINDOW flag, such as 20/1m.
type thresholdValue struct{ t *detect.Threshold }

func (v thresholdValue) String() string {
	if v.t == nil {
		return ""
	}
	return v.t.String()
}

func (v thresholdValue) Set(s string) error {
	n, w, ok := strings.Cut(strings.TrimSpace(s), "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 {
		return errors.New("must be N/WINDOW, a count and a duration, such as 20/1m")
	}
	d, err := time.ParseDuration(w)
	if err != nil || d <= 0 {
		return errors.New("must be N/WINDOW with a positive duration, such as 20/1m")
	}
	*v.t = detect.Threshold{N: count, Window: d}
	return nil
}
