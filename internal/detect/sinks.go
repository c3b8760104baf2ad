package detect

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// engineMetrics are the engine's collectors. Labels are detector names,
// severities and fixed words: never a token name (unbounded) nor anything a
// client sent.
type engineMetrics struct {
	alerts    *prometheus.CounterVec
	dropped   prometheus.Counter
	evictions *prometheus.CounterVec
	webhook   *prometheus.CounterVec
}

func newEngineMetrics(r prometheus.Registerer) *engineMetrics {
	m := &engineMetrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenward_alerts_total",
			Help: "Alerts raised (after deduplication), by detector and severity.",
		}, []string{"detector", "severity"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenward_detect_dropped_events_total",
			Help: "Usage events the detectors dropped because their queue was full.",
		}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenward_detect_evictions_total",
			Help: "Per-key detector states forgotten because their bound was reached, by kind (token, network, source, probe, dedup).",
		}, []string{"state"}),
		webhook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenward_alert_webhook_total",
			Help: "Alerts the webhook delivered, gave up on after its retries, or dropped because its queue was full.",
		}, []string{"outcome"}),
	}
	r.MustRegister(m.alerts, m.dropped, m.evictions, m.webhook)
	return m
}

// dedupKey is an alert's (detector, token, network).
func dedupKey(a store.Alert) string { return a.Detector + "\x00" + a.TokenName + "\x00" + a.Network }

// isNew reports whether an alert would be raised now, not deduplicated.
func (e *Engine) isNew(a store.Alert) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	last, ok := e.dedup.get(dedupKey(a))
	return !ok || !within(a.At, last, e.cfg.Dedup)
}

// within reports whether a and b are less than d apart, either way round:
// instances' clocks and a queue's order may disagree a little.
func within(a, b time.Time, d time.Duration) bool {
	diff := a.Sub(b)
	return diff < d && diff > -d
}

// Raise takes an alert where people look, once per (detector, token,
// network) per deduplication window: it gives it an id (and a time when it
// has none), counts it, stores it, appends it to the audit chain when high
// or critical, and queues it for the webhook. It waits for the store, never
// for the webhook.
func (e *Engine) Raise(ctx context.Context, a store.Alert) {
	if a.At.IsZero() {
		a.At = e.now()
	}
	a.At = a.At.UTC()
	e.mu.Lock()
	key := dedupKey(a)
	if last, ok := e.dedup.get(key); ok && within(a.At, last, e.cfg.Dedup) {
		e.mu.Unlock()
		return
	}
	e.dedup.put(key, a.At)
	e.mu.Unlock()
	if a.ID == "" {
		id, err := e.newID(a.At)
		if err != nil {
			e.log.Error("alert id", "err", err)
			return
		}
		a.ID = id
	}
	if a.Evidence == nil {
		a.Evidence = map[string]string{}
	}
	e.metrics.alerts.WithLabelValues(a.Detector, a.Severity).Inc()
	e.log.Warn("alert", "id", a.ID, "detector", a.Detector, "severity", a.Severity, "token", a.TokenName,
		"source_ip", a.SourceIP, "detail", a.Detail)
	switch {
	case e.alerts != nil:
		if err := e.alerts.AppendAlert(ctx, a); err != nil {
			e.warnOnce("store", "alerts cannot be stored: they still reach the log, the metrics and the webhook", "err", err)
		}
	case e.noStore != "":
		e.warnOnce("store", "alerts are not stored: they still reach the log, the metrics and the webhook", "why", e.noStore)
	}
	if e.auditor != nil && (a.Severity == store.SeverityHigh || a.Severity == store.SeverityCritical) {
		if err := e.auditor.RecordAlert(ctx, a); err != nil {
			e.warnOnce("audit", "alerts cannot be appended to the audit chain", "err", err)
		}
	}
	if e.webhook != nil {
		e.webhook.enqueue(a)
	}
}

// crockford is the alphabet of alert ids: URL-safe, no I, L, O or U.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// newID returns a ULID-like id: 48 bits of milliseconds, so ids sort by
// time, and 80 random bits, 26 characters in Crockford's base32.
func (e *Engine) newID(at time.Time) (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(at.UnixMilli())<<16)
	if err := e.random(b[6:]); err != nil {
		return "", err
	}
	return crockford.EncodeToString(b[:]), nil
}

func randomBytes(b []byte) error { _, err := rand.Read(b); return err }
