// Package detect watches every verification `tokenward serve` answers and
// raises an alert when a token's use looks wrong: a revoked or rotated-out
// version presented, an expired one, a honeytoken, a new network after the
// token's learning period, a burst of failures from one network or of scope
// refusals for one token, a use from outside a token's allowed networks, a
// token's rate far above its own baseline.
//
// It guarantees that watching never slows verification (Record queues
// without blocking and counts what it must drop), that every state it keeps
// per token, network or alert key is bounded (the least recently touched
// key is evicted, and the evictions are counted), that one (detector,
// token, network) raises at most one alert per deduplication window, and
// that no alert, log line or metric label holds a token value or the
// webhook's secret.
package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Detector names, as alerts carry them.
const (
	RevokedVersionUsed = "revoked_version_used"
	ExpiredVersionUsed = "expired_version_used"
	HoneytokenUsed     = "honeytoken_used"
	NewNetwork         = "new_network"
	FailureBurst       = "failure_burst"
	IPDenied           = "ip_denied"
	RateSpike          = "rate_spike"
)

// Responses to a revoked version presented (the policy's
// on_revoked_version_used).
const (
	RespondAlert  = "alert"  // raise the alert only (the default)
	RespondRevoke = "revoke" // also revoke every version of the token
)

// Threshold is "N events in a window".
type Threshold struct {
	N      int
	Window time.Duration
}

// String writes a threshold as ParseThreshold reads it, such as 20/1m0s.
func (t Threshold) String() string { return fmt.Sprintf("%d/%s", t.N, t.Window) }

// Config sets what the detectors count as unusual. The zero value of a field
// takes its default (see Defaults), except LearningPeriod, whose zero means
// "the first use alone is the baseline": build a Config from Defaults.
type Config struct {
	// LearningPeriod: every use of a token within this long after its
	// first use forms its network baseline and raises no new_network.
	LearningPeriod time.Duration
	// History: a network not seen for a token within this long is new.
	History time.Duration
	// FailureBurst: this many failed verifications from one /24 or /48
	// within the window raise failure_burst (scanning).
	FailureBurst Threshold
	// ScopeProbe: this many insufficient_scope answers for one token
	// within the window raise failure_burst (probing).
	ScopeProbe Threshold
	// RateBucket is rate_spike's bucket; RateAlpha the weight of the latest
	// bucket in the moving mean and variance; RateK how many standard
	// deviations above the mean is a spike; RateFloor the count a bucket
	// must also exceed; RateWarmup how many completed buckets a token needs
	// before its baseline is trusted.
	RateBucket time.Duration
	RateAlpha  float64
	RateK      float64
	RateFloor  int
	RateWarmup int
	// Dedup: one alert per (detector, token, network) per this long.
	Dedup time.Duration
	// OnRevokedVersionUsed: RespondAlert or RespondRevoke.
	OnRevokedVersionUsed string
	// Bounds of the per-key state: tokens followed (network baselines and
	// rates), networks per token, source networks counted for failures,
	// deduplication keys, and the event queue.
	MaxTokens, MaxNetworksPerToken, MaxSources, MaxDedupKeys, QueueSize int
}

// Defaults is the configuration `tokenward serve` starts from.
func Defaults() Config {
	return Config{
		LearningPeriod: 24 * time.Hour,
		History:        30 * 24 * time.Hour,
		FailureBurst:   Threshold{N: 20, Window: time.Minute},
		ScopeProbe:     Threshold{N: 10, Window: time.Minute},
		RateBucket:     5 * time.Minute,
		RateAlpha:      0.1,
		RateK:          4,
		RateFloor:      100,
		RateWarmup:     12,
		Dedup:          time.Hour,
		// A token or network is ~100 bytes of state: these bounds keep the
		// engine to a few tens of MiB however it is flooded.
		MaxTokens: 100_000, MaxNetworksPerToken: 1_000, MaxSources: 100_000, MaxDedupKeys: 100_000,
		QueueSize:            65_536,
		OnRevokedVersionUsed: RespondAlert,
	}
}

// Check reports the first setting that cannot work, naming it as the serve
// flag that sets it.
func (c Config) Check() error {
	switch {
	case c.LearningPeriod < 0:
		return errors.New("--learning-period must be 0 or positive, such as 24h")
	case c.FailureBurst.N < 1 || c.FailureBurst.N > maxBurstN || c.FailureBurst.Window <= 0:
		return fmt.Errorf("--failure-burst must be N/WINDOW with 1 ≤ N ≤ %d and a positive window, such as 20/1m", maxBurstN)
	case c.ScopeProbe.N < 1 || c.ScopeProbe.N > maxBurstN || c.ScopeProbe.Window <= 0:
		return fmt.Errorf("--scope-probe must be N/WINDOW with 1 ≤ N ≤ %d and a positive window, such as 10/1m", maxBurstN)
	case c.OnRevokedVersionUsed != RespondAlert && c.OnRevokedVersionUsed != RespondRevoke:
		return fmt.Errorf("on_revoked_version_used must be %q or %q, not %q", RespondAlert, RespondRevoke, c.OnRevokedVersionUsed)
	}
	return nil
}

// maxBurstN bounds N of a threshold: each counted key keeps N times.
const maxBurstN = 10_000

// VersionInfo is what the engine asks of a presented version to tell a
// revoked or rotated-out version from an expired current one.
type VersionInfo struct {
	State     token.State
	ExpiresAt time.Time
	Retired   bool // the token was destroyed
}

// Versions looks a version up (in the server's snapshot); ok is false when
// it is unknown.
type Versions func(versionID string) (VersionInfo, bool)

// Auditor appends high and critical alerts to the audit chain;
// *registry.Registry is one.
type Auditor interface {
	RecordAlert(ctx context.Context, a store.Alert) error
}

// Revoker revokes every version of a token; *registry.Registry is one.
type Revoker interface {
	RevokeTokenVersions(ctx context.Context, name, reason string) (int, error)
}

// Engine runs the detectors over the usage events it is handed and takes
// each alert to the alert log, the metrics, the audit chain and the
// webhook. It implements server.EventSink and server.AlertRaiser.
type Engine struct {
	cfg      Config
	now      func() time.Time
	log      *slog.Logger
	alerts   store.AlertLog // nil: alerts are not stored
	noStore  string         // why alerts are not stored, said once
	auditor  Auditor
	revoker  Revoker
	noRevoke string // why a revoke response cannot be carried out
	versions Versions
	webhook  *Webhook
	random   func([]byte) error

	queue     chan store.UsageEvent
	dropped   atomic.Int64
	processed atomic.Int64
	metrics   *engineMetrics

	// State of the detectors, touched only by the goroutine of Run (and
	// by Seed before it).
	tokens   *bounded[string, *tokenState]
	failures *bounded[netip.Prefix, *burst]
	probes   *bounded[string, *burst]
	// answered holds the versions whose presentation the revoke response
	// answered already: one old value, presented again from network after
	// network, must not take the token out again after every rotation.
	answered *bounded[string, time.Time]

	mu     sync.Mutex // guards dedup: Raise is called from any goroutine
	dedup  *bounded[string, time.Time]
	warnMu sync.Mutex // guards warned; taken under mu by an eviction
	warned map[string]bool
}

// tokenState is what the engine keeps per token.
type tokenState struct {
	firstUse time.Time
	networks *bounded[netip.Prefix, time.Time] // network → last seen
	rate     rate
}

// Option configures an Engine.
type Option func(*Engine)

// WithClock sets the clock for alerts raised without a time and for Seed.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithLogger sets where the engine logs; the default discards.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithAlertLog stores every alert in al. With why non-empty instead (al
// nil), alerts are not stored and the engine says why once.
func WithAlertLog(al store.AlertLog, why string) Option {
	return func(e *Engine) { e.alerts, e.noStore = al, why }
}

// WithAuditor appends high and critical alerts to an audit chain.
func WithAuditor(a Auditor) Option { return func(e *Engine) { e.auditor = a } }

// WithRevoker is how the revoke response revokes a token; why says why it
// cannot when r is nil (a read-only store).
func WithRevoker(r Revoker, why string) Option {
	return func(e *Engine) { e.revoker, e.noRevoke = r, why }
}

// WithVersions sets how the engine looks up a presented version's state.
// Without it an expired version is always expired_version_used.
func WithVersions(v Versions) Option { return func(e *Engine) { e.versions = v } }

// WithWebhook posts every alert to w.
func WithWebhook(w *Webhook) Option { return func(e *Engine) { e.webhook = w } }

// WithMetrics registers the engine's metrics in r.
func WithMetrics(r prometheus.Registerer) Option {
	return func(e *Engine) { e.metrics = newEngineMetrics(r) }
}

// New returns an engine with cfg; Run starts it.
func New(cfg Config, opts ...Option) (*Engine, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	fill(&cfg)
	e := &Engine{cfg: cfg, now: time.Now, log: slog.New(slog.DiscardHandler), random: randomBytes,
		warned: map[string]bool{}}
	for _, o := range opts {
		o(e)
	}
	if e.metrics == nil {
		e.metrics = newEngineMetrics(prometheus.NewRegistry())
	}
	if e.webhook != nil {
		e.webhook.count = func(outcome string) { e.metrics.webhook.WithLabelValues(outcome).Inc() }
	}
	e.queue = make(chan store.UsageEvent, cfg.QueueSize)
	evicted := func(what string) func() {
		c := e.metrics.evictions.WithLabelValues(what)
		return func() {
			c.Inc()
			e.warnOnce("evict-"+what, "detector state is full: the least recently used "+what+" is forgotten", "bound", what)
		}
	}
	e.tokens = newBounded[string, *tokenState](cfg.MaxTokens, evicted("token"))
	e.failures = newBounded[netip.Prefix, *burst](cfg.MaxSources, evicted("source"))
	e.probes = newBounded[string, *burst](cfg.MaxTokens, evicted("probe"))
	e.dedup = newBounded[string, time.Time](cfg.MaxDedupKeys, evicted("dedup"))
	e.answered = newBounded[string, time.Time](cfg.MaxDedupKeys, evicted("answered"))
	return e, nil
}

// fill sets the zero fields (but the learning period) to their defaults.
func fill(c *Config) {
	d := Defaults()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	if c.History <= 0 {
		c.History = d.History
	}
	if c.RateBucket <= 0 {
		c.RateBucket = d.RateBucket
	}
	if c.RateAlpha <= 0 || c.RateAlpha > 1 {
		c.RateAlpha = d.RateAlpha
	}
	if c.RateK <= 0 {
		c.RateK = d.RateK
	}
	if c.Dedup <= 0 {
		c.Dedup = d.Dedup
	}
	set(&c.RateFloor, d.RateFloor)
	set(&c.RateWarmup, d.RateWarmup)
	set(&c.MaxTokens, d.MaxTokens)
	set(&c.MaxNetworksPerToken, d.MaxNetworksPerToken)
	set(&c.MaxSources, d.MaxSources)
	set(&c.MaxDedupKeys, d.MaxDedupKeys)
	set(&c.QueueSize, d.QueueSize)
}

// Record queues a verification's event for the detectors. It never blocks:
// when the queue is full the event is dropped and counted
// (tokenward_detect_dropped_events_total).
func (e *Engine) Record(ev store.UsageEvent) {
	select {
	case e.queue <- ev:
	default:
		e.dropped.Add(1)
		e.metrics.dropped.Inc()
	}
}

// Dropped is how many events Record had to drop.
func (e *Engine) Dropped() int64 { return e.dropped.Load() }

// Processed is how many events the detectors have looked at.
func (e *Engine) Processed() int64 { return e.processed.Load() }

// Run runs the detectors (and the webhook's sender) until ctx ends. The
// events queued by then are still looked at: a server stops its listener
// before its detectors, and a honeytoken presented just before a stop
// must still raise its alert.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if e.webhook != nil {
		wg.Add(1)
		go func() { defer wg.Done(); e.webhook.Run(ctx) }()
	}
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			e.drain(ctx)
			return ctx.Err()
		case ev := <-e.queue:
			// The alert's own writes outlive a stop that comes mid-event.
			e.observe(context.WithoutCancel(ctx), ev)
			e.processed.Add(1)
		}
	}
}

// drain looks at the events left in the queue, without waiting for more.
func (e *Engine) drain(ctx context.Context) {
	for {
		select {
		case ev := <-e.queue:
			e.observe(context.WithoutCancel(ctx), ev)
			e.processed.Add(1)
		default:
			return
		}
	}
}

// warnOnce logs msg the first time key is seen: a degraded sink says so
// once, not per alert.
func (e *Engine) warnOnce(key, msg string, args ...any) {
	e.warnMu.Lock()
	seen := e.warned[key]
	e.warned[key] = true
	e.warnMu.Unlock()
	if !seen {
		e.log.Warn(msg, args...)
	}
}

// Seed fills the baselines from the usage log, so a restart neither forgets
// a token's networks nor starts its learning period again: for every token
// used within the history, the networks of its live uses and its earliest
// use. It also reads the alerts of the last deduplication window, so a
// restart does not raise them again. A token with more than perToken events
// in the history is seeded from its newest perToken: an older network may
// then alert once more as new.
func (e *Engine) Seed(ctx context.Context, ul store.UsageLog, perToken int) error {
	now := e.now()
	since := now.Add(-e.cfg.History)
	if ul != nil {
		sums, err := ul.UsageSummary(ctx, store.UsageQuery{Since: since})
		if err != nil {
			return fmt.Errorf("seed detectors: summarize usage: %w", err)
		}
		if len(sums) > e.cfg.MaxTokens {
			sums = sums[:e.cfg.MaxTokens]
		}
		for _, s := range sums {
			evs, err := ul.Usage(ctx, store.UsageQuery{TokenName: s.TokenName, Since: since, Limit: perToken})
			if err != nil {
				return fmt.Errorf("seed detectors: usage of %s: %w", s.TokenName, err)
			}
			e.seedToken(s.TokenName, evs, len(evs) >= perToken, since)
		}
	}
	if e.alerts != nil {
		as, err := e.alerts.Alerts(ctx, store.AlertQuery{Since: now.Add(-e.cfg.Dedup), Limit: e.cfg.MaxDedupKeys})
		if err != nil {
			return fmt.Errorf("seed detectors: recent alerts: %w", err)
		}
		e.mu.Lock()
		for i := len(as) - 1; i >= 0; i-- { // oldest first, so the newest stay
			e.dedup.put(dedupKey(as[i]), as[i].At)
		}
		e.mu.Unlock()
	}
	return nil
}

// seedToken fills one token's baseline from its events, newest first.
func (e *Engine) seedToken(name string, evs []store.UsageEvent, truncated bool, since time.Time) {
	var ts *tokenState
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		n, ok := network(ev.SourceIP)
		if !ok || !liveUse(ev.Code) {
			continue
		}
		if ts == nil {
			ts = e.newTokenState(ev.At)
			if truncated {
				// The true first use is older than what was read: the
				// learning period is over.
				ts.firstUse = since
			}
		}
		ts.networks.put(n, ev.At)
	}
	if ts != nil {
		e.tokens.put(name, ts)
	}
}

func (e *Engine) newTokenState(first time.Time) *tokenState {
	c := e.metrics.evictions.WithLabelValues("network")
	return &tokenState{firstUse: first, networks: newBounded[netip.Prefix, time.Time](e.cfg.MaxNetworksPerToken, c.Inc)}
}
