package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// ev is one use of tok from ip at t0+at with code.
func ev(at time.Duration, tok, ip, code string) store.UsageEvent {
	e := store.UsageEvent{At: t0.Add(at), TokenName: tok, SourceIP: ip, Code: code, Endpoint: "verify",
		UserAgent: "curl/8", VersionID: "v-" + tok}
	if tok != "" {
		e.TokenID = "id-" + tok
	}
	return e
}

// repeat is n uses from start, step apart.
func repeat(n int, start, step time.Duration, tok, ip, code string) []store.UsageEvent {
	out := make([]store.UsageEvent, n)
	for i := range out {
		out[i] = ev(start+time.Duration(i)*step, tok, ip, code)
	}
	return out
}

func join(parts ...[]store.UsageEvent) []store.UsageEvent { return slices.Concat(parts...) }

func one(e store.UsageEvent) []store.UsageEvent { return []store.UsageEvent{e} }

// engine is an engine whose sinks are in memory, with its log in buf.
func engine(t *testing.T, cfg Config, opts ...Option) (*Engine, *memAlerts, *bytes.Buffer) {
	t.Helper()
	al := &memAlerts{}
	buf := &bytes.Buffer{}
	all := append([]Option{WithAlertLog(al, ""), WithClock(func() time.Time { return t0 }),
		WithLogger(slog.New(slog.NewTextHandler(buf, nil))),
		WithVersions(func(id string) (VersionInfo, bool) {
			switch id {
			case "v-revoked":
				return VersionInfo{State: token.StateRevoked, ExpiresAt: t0.Add(time.Hour)}, true
			case "v-previous":
				return VersionInfo{State: token.StatePrevious, ExpiresAt: t0.Add(-time.Minute)}, true
			case "v-current":
				return VersionInfo{State: token.StateCurrent, ExpiresAt: t0.Add(-time.Minute)}, true
			case "v-destroyed":
				return VersionInfo{State: token.StateCurrent, ExpiresAt: t0.Add(time.Hour), Retired: true}, true
			}
			return VersionInfo{}, false
		})}, opts...)
	e, err := New(cfg, all...)
	if err != nil {
		t.Fatal(err)
	}
	return e, al, buf
}

func feed(e *Engine, evs []store.UsageEvent) {
	for _, ev := range evs {
		e.observe(context.Background(), ev)
	}
}

func detectors(as []store.Alert) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Detector]++
	}
	return m
}

func version(e store.UsageEvent, id string) store.UsageEvent { e.VersionID = id; return e }

// TestDetectors feeds each detector the traffic that should raise it, and
// the ordinary traffic next to it that should not.
func TestDetectors(t *testing.T) {
	t.Parallel()
	honey := ev(0, "decoy", "198.51.100.7", "not_found")
	honey.Honeytoken, honey.Path, honey.Method = true, "/admin", "GET"
	// A token used every 5 minutes for a day from 10.0.0.0/24: its baseline.
	steady := repeat(288, 0, 5*time.Minute, "api", "10.0.0.5", "valid")
	after := 25 * time.Hour
	cases := []struct {
		name   string
		cfg    func(*Config)
		events []store.UsageEvent
		want   map[string]int
	}{
		{"revoked version", nil, one(version(ev(0, "api", "10.0.0.5", "revoked"), "v-revoked")), map[string]int{RevokedVersionUsed: 1}},
		{"previous past its overlap", nil, one(version(ev(0, "api", "10.0.0.5", "expired"), "v-previous")), map[string]int{RevokedVersionUsed: 1}},
		{"version of a destroyed token", nil, one(version(ev(0, "api", "10.0.0.5", "revoked"), "v-destroyed")), map[string]int{RevokedVersionUsed: 1}},
		{"expired current version", nil, one(version(ev(0, "api", "10.0.0.5", "expired"), "v-current")), map[string]int{ExpiredVersionUsed: 1}},
		{"previous inside its overlap", nil, one(version(ev(0, "api", "10.0.0.5", "valid"), "v-previous")), map[string]int{}},
		{"honeytoken", nil, one(honey), map[string]int{HoneytokenUsed: 1}},
		{"ip denied", nil, one(ev(0, "api", "198.51.100.9", "ip_denied")), map[string]int{IPDenied: 1}},
		{"same network after learning", nil, join(steady, one(ev(after, "api", "10.0.0.200", "valid"))), map[string]int{}},
		{"new network after learning", nil, join(steady, one(ev(after, "api", "10.0.1.5", "valid"))), map[string]int{NewNetwork: 1}},
		{"new network alerts once an hour", nil, join(steady, repeat(30, after, time.Minute, "api", "10.0.1.5", "valid")), map[string]int{NewNetwork: 1}},
		{"a second new network alerts on its own", nil,
			join(steady, one(ev(after, "api", "10.0.1.5", "valid")), one(ev(after, "api", "10.0.2.5", "valid"))), map[string]int{NewNetwork: 2}},
		{"new network inside the learning period", nil,
			join(one(ev(0, "api", "10.0.0.5", "valid")), one(ev(23*time.Hour, "api", "192.0.2.1", "valid"))), map[string]int{}},
		{"learning period 0: the first use is the baseline", func(c *Config) { c.LearningPeriod = 0 },
			join(one(ev(0, "api", "10.0.0.5", "valid")), one(ev(time.Minute, "api", "10.0.0.6", "valid")),
				one(ev(2*time.Minute, "api", "192.0.2.1", "valid"))), map[string]int{NewNetwork: 1}},
		{"network last seen 31 days ago", nil,
			join(one(ev(0, "api", "10.0.0.5", "valid")), one(ev(time.Hour, "api", "10.0.1.5", "valid")),
				repeat(32, 25*time.Hour, 24*time.Hour, "api", "10.0.0.5", "valid"),
				one(ev(31*24*time.Hour+2*time.Hour, "api", "10.0.1.5", "valid"))), map[string]int{NewNetwork: 1}},
		{"network last seen 29 days ago", nil,
			join(one(ev(0, "api", "10.0.0.5", "valid")), one(ev(time.Hour, "api", "10.0.1.5", "valid")),
				one(ev(29*24*time.Hour+2*time.Hour, "api", "10.0.1.5", "valid"))), map[string]int{}},
		{"ipv6 inside the /48", nil,
			join(one(ev(0, "api", "2001:db8:1::5", "valid")), one(ev(after, "api", "2001:db8:1:ffff::9", "valid"))), map[string]int{}},
		{"ipv6 outside the /48", nil,
			join(one(ev(0, "api", "2001:db8:1::5", "valid")), one(ev(after, "api", "2001:db8:2::9", "valid"))), map[string]int{NewNetwork: 1}},
		{"scanning: 20 failures in a minute", nil, repeat(20, 0, time.Second, "", "203.0.113.9", "not_found"), map[string]int{FailureBurst: 1}},
		{"scanning across one /24 alerts once", nil,
			join(repeat(30, 0, time.Second, "", "203.0.113.9", "malformed"), repeat(30, 0, time.Second, "", "203.0.113.10", "not_found")),
			map[string]int{FailureBurst: 1}},
		{"19 failures in a minute", nil, repeat(19, 0, time.Second, "", "203.0.113.9", "not_found"), map[string]int{}},
		{"20 failures over two minutes", nil, repeat(20, 0, 6*time.Second+500*time.Millisecond, "", "203.0.113.9", "not_found"), map[string]int{}},
		{"configured burst 5/10s", func(c *Config) { c.FailureBurst = Threshold{N: 5, Window: 10 * time.Second} },
			repeat(5, 0, time.Second, "", "203.0.113.9", "not_found"), map[string]int{FailureBurst: 1}},
		{"probing: 10 scope refusals in a minute", nil, repeat(10, 0, time.Second, "api", "10.0.0.5", "insufficient_scope"),
			map[string]int{FailureBurst: 1}},
		{"9 scope refusals", nil, repeat(9, 0, time.Second, "api", "10.0.0.5", "insufficient_scope"), map[string]int{}},
		{"valid uses are no failures", nil, repeat(100, 0, 100*time.Millisecond, "api", "10.0.0.5", "valid"), map[string]int{}},
		{"rate spike", nil, join(steady, repeat(500, 24*time.Hour, 100*time.Millisecond, "api", "10.0.0.5", "valid")),
			map[string]int{RateSpike: 1}},
		{"same rate", nil, join(steady, repeat(12, 24*time.Hour, 5*time.Minute, "api", "10.0.0.5", "valid")), map[string]int{}},
		{"a quiet token's burst under the floor", nil,
			join(repeat(24, 0, time.Hour, "api", "10.0.0.5", "valid"), repeat(50, 25*time.Hour, time.Second, "api", "10.0.0.5", "valid")),
			map[string]int{}},
		{"a new token's first burst (no baseline yet)", nil, repeat(500, 0, 100*time.Millisecond, "api", "10.0.0.5", "valid"), map[string]int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Defaults()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			e, al, _ := engine(t, cfg)
			feed(e, tc.events)
			if got := detectors(al.list()); !maps.Equal(got, tc.want) {
				t.Errorf("alerts %v, want %v: %+v", got, tc.want, al.list())
			}
		})
	}
}

// TestEvidence checks what a few alerts say and carry.
func TestEvidence(t *testing.T) {
	t.Parallel()
	honey := ev(0, "decoy", "198.51.100.7", "not_found")
	honey.Honeytoken, honey.Path, honey.Method, honey.UserAgent = true, "/admin", "GET", "evil/1.0"
	cases := []struct {
		name     string
		events   []store.UsageEvent
		severity string
		want     map[string]string // evidence keys that must hold these values
	}{
		{"revoked", one(version(ev(0, "api", "10.0.0.5", "revoked"), "v-revoked")), store.SeverityHigh,
			map[string]string{"reason": "version revoked", "state": "revoked", "version": "v-revoked"}},
		{"overlap ended", one(version(ev(0, "api", "10.0.0.5", "expired"), "v-previous")), store.SeverityHigh,
			map[string]string{"reason": "overlap ended", "state": "previous", "expires_at": "2026-11-27T08:59:00Z"}},
		{"destroyed", one(version(ev(0, "api", "10.0.0.5", "revoked"), "v-destroyed")), store.SeverityHigh,
			map[string]string{"reason": "token destroyed"}},
		{"expired", one(version(ev(0, "api", "10.0.0.5", "expired"), "v-current")), store.SeverityWarn,
			map[string]string{"reason": "ttl ended", "state": "current"}},
		{"honeytoken", one(honey), store.SeverityCritical,
			map[string]string{"source_ip": "198.51.100.7", "user_agent": "evil/1.0", "path": "/admin", "method": "GET"}},
		{"scanning", repeat(20, 0, time.Second, "", "203.0.113.9", "not_found"), store.SeverityHigh,
			map[string]string{"kind": "scanning", "failures": "20", "window": "1m0s"}},
		{"ip denied", one(ev(0, "api", "198.51.100.9", "ip_denied")), store.SeverityHigh, map[string]string{"version": "v-api"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, al, _ := engine(t, Defaults())
			feed(e, tc.events)
			as := al.list()
			if len(as) != 1 {
				t.Fatalf("%d alerts, want 1: %+v", len(as), as)
			}
			a := as[0]
			if a.Severity != tc.severity {
				t.Errorf("severity %s, want %s", a.Severity, tc.severity)
			}
			for k, v := range tc.want {
				if a.Evidence[k] != v {
					t.Errorf("evidence[%s] = %q, want %q (all: %v)", k, a.Evidence[k], v, a.Evidence)
				}
			}
			if a.Detail == "" || a.ID == "" || !a.At.Equal(tc.events[len(tc.events)-1].At) {
				t.Errorf("alert lacks a detail, an id or the event's time: %+v", a)
			}
		})
	}
}

// TestRevokeResponse checks on_revoked_version_used = "revoke": the token
// is revoked once, and the alert says so, or says why it could not be.
func TestRevokeResponse(t *testing.T) {
	t.Parallel()
	revoked := version(ev(0, "api", "10.0.0.5", "revoked"), "v-revoked")
	cases := []struct {
		name        string
		policy      string
		revoker     Revoker
		why         string
		wantRevoked []string
		wantEvident string // evidence["revoked"]
		wantDetail  string
	}{
		{"alert only", RespondAlert, &memRevoker{}, "", nil, "", "a consumer that was never updated"},
		{"revoke", RespondRevoke, &memRevoker{}, "", []string{"api"}, "true", "revoked the whole token (2 versions)"},
		{"read-only store", RespondRevoke, nil, "the store is read-only: permission denied", nil, "false",
			"could not be revoked: the store is read-only"},
		{"revoke fails", RespondRevoke, &memRevoker{err: fmt.Errorf("no grant")}, "", nil, "false", "revoking the token failed: no grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Defaults()
			cfg.OnRevokedVersionUsed = tc.policy
			var opt Option
			if tc.revoker != nil {
				opt = WithRevoker(tc.revoker, "")
			} else {
				opt = WithRevoker(nil, tc.why)
			}
			e, al, _ := engine(t, cfg, opt)
			feed(e, []store.UsageEvent{revoked, revoked, revoked})
			as := al.list()
			if len(as) != 1 {
				t.Fatalf("%d alerts, want 1", len(as))
			}
			if as[0].Evidence["revoked"] != tc.wantEvident || !strings.Contains(as[0].Detail, tc.wantDetail) {
				t.Errorf("alert %q, evidence %v; want revoked=%q and %q", as[0].Detail, as[0].Evidence, tc.wantEvident, tc.wantDetail)
			}
			if m, ok := tc.revoker.(*memRevoker); ok && !slices.Equal(m.revoked, tc.wantRevoked) {
				t.Errorf("revoked %v, want %v", m.revoked, tc.wantRevoked)
			}
		})
	}
}

// TestSinks checks where an alert goes: the log, the counter by detector
// and severity, the audit chain for high and critical only.
func TestSinks(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	aud := &memAuditor{}
	e, al, buf := engine(t, Defaults(), WithAuditor(aud), WithMetrics(reg))
	feed(e, join(one(version(ev(0, "api", "10.0.0.5", "expired"), "v-current")),
		one(version(ev(0, "api", "10.0.0.5", "revoked"), "v-revoked")),
		one(ev(0, "api", "198.51.100.9", "ip_denied"))))
	if n := len(al.list()); n != 3 {
		t.Fatalf("%d alerts stored, want 3", n)
	}
	if want := []string{"high:revoked_version_used", "high:ip_denied"}; !slices.Equal(aud.ids, want) {
		t.Errorf("audited %v, want %v (warn is not audited)", aud.ids, want)
	}
	if got := testutil.ToFloat64(e.metrics.alerts.WithLabelValues(ExpiredVersionUsed, store.SeverityWarn)); got != 1 {
		t.Errorf("tokenward_alerts_total{expired_version_used,warn} = %v, want 1", got)
	}
	n, err := testutil.GatherAndCount(reg, "tokenward_alerts_total")
	if err != nil || n != 3 {
		t.Errorf("tokenward_alerts_total has %d series (%v), want 3", n, err)
	}
	if !strings.Contains(buf.String(), "detector=ip_denied") {
		t.Errorf("the log does not report the alert:\n%s", buf)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

// TestStoreDegrades checks that a server that cannot store alerts says so
// once and still counts them.
func TestStoreDegrades(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  Option
		want string
	}{
		{"read-only", WithAlertLog(nil, "the store is read-only: no grant"), "alerts are not stored"},
		{"write fails", WithAlertLog(&memAlerts{err: fmt.Errorf("permission denied for table alerts")}, ""), "alerts cannot be stored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _, buf := engine(t, Defaults(), tc.opt)
			feed(e, join(one(ev(0, "a", "198.51.100.9", "ip_denied")), one(ev(0, "b", "198.51.100.9", "ip_denied"))))
			if n := strings.Count(buf.String(), tc.want); n != 1 {
				t.Errorf("%q logged %d times, want once:\n%s", tc.want, n, buf)
			}
			if got := testutil.ToFloat64(e.metrics.alerts.WithLabelValues(IPDenied, store.SeverityHigh)); got != 2 {
				t.Errorf("counted %v alerts, want 2", got)
			}
		})
	}
}

// TestBounds floods each per-key state past its bound.
func TestBounds(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.MaxTokens, cfg.MaxNetworksPerToken, cfg.MaxSources, cfg.MaxDedupKeys = 10, 5, 10, 10
	e, _, _ := engine(t, cfg)
	for i := range 1000 {
		ip := fmt.Sprintf("10.%d.%d.1", i/256, i%256)
		e.observe(context.Background(), ev(time.Duration(i)*time.Second, fmt.Sprintf("t%d", i), ip, "valid"))
		e.observe(context.Background(), ev(time.Duration(i)*time.Second, "", ip, "not_found"))
		e.observe(context.Background(), ev(25*time.Hour+time.Duration(i)*time.Second, "t999", ip, "valid"))
		e.observe(context.Background(), ev(time.Duration(i)*time.Second, "t", ip, "ip_denied"))
	}
	ts, _ := e.tokens.get("t999")
	if e.tokens.len() != 10 || e.failures.len() != 10 || e.dedup.len() != 10 || ts.networks.len() != 5 {
		t.Errorf("states hold %d tokens, %d sources, %d dedup keys, %d networks; want 10, 10, 10, 5",
			e.tokens.len(), e.failures.len(), e.dedup.len(), ts.networks.len())
	}
	for _, kind := range []string{"token", "source", "dedup", "network"} {
		if testutil.ToFloat64(e.metrics.evictions.WithLabelValues(kind)) == 0 {
			t.Errorf("no %s eviction counted", kind)
		}
	}
}

// TestSeed checks that the baselines come from the usage log, and the
// deduplication from the recent alerts.
func TestSeed(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	ul := &memUsage{events: []store.UsageEvent{
		ev(-40*day, "api", "192.0.2.1", "valid"), // outside the history
		ev(-20*day, "api", "10.0.0.5", "valid"),
		ev(-19*day, "api", "10.0.3.5", "not_found"), // not a live use
		ev(-time.Hour, "new", "10.0.0.5", "valid"),  // still learning
	}}
	e, al, _ := engine(t, Defaults())
	al.all = []store.Alert{{ID: "X", At: t0.Add(-10 * time.Minute), Detector: IPDenied, TokenName: "api", Network: "198.51.100.0/24"}}
	if err := e.Seed(context.Background(), ul, 100); err != nil {
		t.Fatal(err)
	}
	feed(e, []store.UsageEvent{
		ev(0, "api", "10.0.0.9", "valid"),         // seen 20 days ago: quiet
		ev(0, "api", "192.0.2.1", "valid"),        // 40 days ago: new
		ev(0, "api", "10.0.3.5", "valid"),         // only failed from there: new
		ev(0, "new", "192.0.2.1", "valid"),        // inside its learning period
		ev(0, "api", "198.51.100.9", "ip_denied"), // raised 10 minutes ago
	})
	got := detectors(al.list()[1:])
	if want := map[string]int{NewNetwork: 2}; !maps.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
}

// TestRecordNeverBlocks fills the queue: Record returns and counts.
func TestRecordNeverBlocks(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.QueueSize = 2
	e, _, _ := engine(t, cfg)
	for range 5 {
		e.Record(ev(0, "api", "10.0.0.5", "valid"))
	}
	if e.Dropped() != 3 || testutil.ToFloat64(e.metrics.dropped) != 3 {
		t.Errorf("dropped %d (metric %v), want 3", e.Dropped(), testutil.ToFloat64(e.metrics.dropped))
	}
}

// TestRun checks the engine's goroutine: what is recorded is detected.
func TestRun(t *testing.T) {
	t.Parallel()
	e, al, _ := engine(t, Defaults())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	for _, x := range repeat(20, 0, time.Second, "", "203.0.113.9", "not_found") {
		e.Record(x)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.Processed() < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := detectors(al.list()); got[FailureBurst] != 1 {
		t.Errorf("alerts %v after %d events, want one failure_burst", got, e.Processed())
	}
}

// TestRunDrainsOnStop: the events queued when the engine is stopped are
// still looked at, so the alert of a verification answered just before a
// server stops is raised.
func TestRunDrainsOnStop(t *testing.T) {
	t.Parallel()
	e, al, _ := engine(t, Defaults())
	for _, x := range repeat(20, 0, time.Second, "", "203.0.113.9", "not_found") {
		e.Record(x)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if e.Processed() != 20 {
		t.Errorf("%d of the 20 queued events looked at", e.Processed())
	}
	if got := detectors(al.list()); got[FailureBurst] != 1 {
		t.Errorf("alerts %v, want one failure_burst", got)
	}
}

// TestIDs checks that alert ids are unique, URL-safe and sort by time.
func TestIDs(t *testing.T) {
	t.Parallel()
	e, _, _ := engine(t, Defaults())
	seen := map[string]bool{}
	valid := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
	prev := ""
	for i := range 1000 {
		id, err := e.newID(t0.Add(time.Duration(i) * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if !valid.MatchString(id) || seen[id] || id <= prev {
			t.Fatalf("id %q: not 26 Crockford characters, repeated, or not after %q", id, prev)
		}
		seen[id], prev = true, id
	}
}

// TestConfigCheck checks that a setting that cannot work is refused,
// naming its flag.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"negative learning", func(c *Config) { c.LearningPeriod = -time.Second }, "--learning-period"},
		{"zero burst", func(c *Config) { c.FailureBurst.N = 0 }, "--failure-burst"},
		{"huge probe", func(c *Config) { c.ScopeProbe.N = 1 << 20 }, "--scope-probe"},
		{"no window", func(c *Config) { c.ScopeProbe.Window = 0 }, "--scope-probe"},
		{"bad response", func(c *Config) { c.OnRevokedVersionUsed = "panic" }, "on_revoked_version_used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tc.edit(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestRevokeResponseOncePerVersion: with on_revoked_version_used =
// "revoke", one old value presented from network after network takes the
// token out once, not at every new network (the outside review kept a
// token revoked that way); another old version answers again.
func TestRevokeResponseOncePerVersion(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.OnRevokedVersionUsed = RespondRevoke
	rev := &memRevoker{}
	e, al, _ := engine(t, cfg, WithRevoker(rev, ""))
	var evs []store.UsageEvent
	for i := range 5 {
		evs = append(evs, version(ev(time.Duration(i)*time.Minute, "ci", fmt.Sprintf("198.51.%d.7", i), "revoked"), "v-old"))
	}
	evs = append(evs, version(ev(6*time.Minute, "ci", "198.51.9.7", "revoked"), "v-older"))
	feed(e, evs)
	if !slices.Equal(rev.revoked, []string{"ci", "ci"}) {
		t.Fatalf("revoked %v, want the token once for v-old and once for v-older", rev.revoked)
	}
	if n := len(al.list()); n != 6 {
		t.Fatalf("%d alerts, want one per network (6): each presentation still alerts", n)
	}
}
