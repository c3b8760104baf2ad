// Package report reviews a tokenward store as it is now, for tokenward
// report: the tokens nobody uses, the scopes granted but never required,
// the tokens the current policy refuses, rotations and deliveries in
// trouble, versions past expiry still presented, user values that no
// longer hold, open alerts, and the audit chain. Each finding has a level
// and says what to do.
//
// It guarantees that nothing sensitive is printed: no token value, no
// master key and no user value (sensitive or not) is read into a finding;
// a user value that fails is named by user, key and the rule it breaks.
// It reads the usage log only through its daily rollup and per-token
// indexed lookups, never by scanning events. For the same store and the
// same clock its Markdown and JSON are byte for byte the same: nothing in
// them depends on the wall clock, a map's order or the time of the run.
package report

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// DefaultUnusedAfter is how long a token may go unused before the report
// says so, and the window over which scopes are weighed.
const DefaultUnusedAfter = 30 * 24 * time.Hour

// DefaultBusiest is how many of the busiest tokens the chart shows.
const DefaultBusiest = 5

// Finding kinds, by section.
const (
	KindNeverUsed           = "never_used"
	KindUnused              = "unused"
	KindVerificationsFailed = "verifications_failed"
	KindUnusedScope         = "unused_scope"
	KindWildcardNarrower    = "wildcard_narrower"
	KindPolicyViolation     = "policy_violation"
	KindNoCurrentVersion    = "no_current_version"
	KindVersionExpired      = "version_expired"
	KindRotationOverdue     = "rotation_overdue"
	KindRotationUnfinished  = "rotation_unfinished"
	KindDeliveryFailed      = "delivery_failed"
	KindExpiredVersionUsed  = "expired_version_used"
	KindRevokedVersionUsed  = "revoked_version_used"
	KindInvalidUserValue    = "invalid_user_value"
	KindOrphanUserValue     = "orphan_user_value"
	KindSensitiveUnchecked  = "sensitive_values_unchecked"
	KindOpenAlerts          = "open_alerts"
	KindAuditChainBroken    = "audit_chain_broken"
	KindAuditNoCheckpoint   = "audit_no_checkpoint"
)

// Finding is one thing the report asks someone to look at. Fields that do
// not apply are empty (and left out of the JSON).
type Finding struct {
	Level  review.Level `json:"level"`
	Kind   string       `json:"kind"`
	Token  string       `json:"token,omitempty"`
	Scope  string       `json:"scope,omitempty"`
	User   string       `json:"user,omitempty"`
	Detail string       `json:"detail,omitempty"`
	Fix    string       `json:"fix,omitempty"`
}

// Options say how to review. Now is required: the report is a function of
// the store and this clock.
type Options struct {
	Now         time.Time
	UnusedAfter time.Duration // DefaultUnusedAfter when zero
	// Policy is checked against every token; PolicySource names where it
	// came from in the report. An empty policy checks nothing.
	Policy       policy.Policy
	PolicySource string
	// AuditKeys are the public keys checkpoint signatures are checked
	// with; none leaves the signatures unchecked (and says so).
	AuditKeys map[string]ed25519.PublicKey
	Busiest   int // tokens in the chart; DefaultBusiest when zero
	// Rollup replaces the registry's daily usage rollup (tests).
	Rollup store.UsageRollup
}

// Window is the span the usage findings weigh: whole UTC days from Since
// through Until.
type Window struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	Days  int       `json:"days"`
}

// Checkpoint is the latest signed checkpoint of the audit chain.
type Checkpoint struct {
	Seq   int64     `json:"seq"`
	At    time.Time `json:"at"`
	KeyID string    `json:"key_id"`
}

// Audit is the state of the audit chain.
type Audit struct {
	Intact            bool        `json:"intact"`
	Problem           string      `json:"problem,omitempty"`
	HeadSeq           int64       `json:"head_seq"`
	HeadHash          string      `json:"head_hash,omitempty"`
	Checkpoints       int         `json:"checkpoints"`
	Latest            *Checkpoint `json:"latest_checkpoint,omitempty"`
	SignaturesChecked bool        `json:"signatures_checked"`
	SignedSeq         int64       `json:"signed_seq"`
}

// Series is one token's verifications and failures per day of the window.
type Series struct {
	Token    string  `json:"token"`
	Uses     []int64 `json:"uses"`
	Failures []int64 `json:"failures"`
	Total    int64   `json:"total"`
	Failed   int64   `json:"failed"`
}

// Report is the review of one store at one time.
type Report struct {
	Risk         review.Level `json:"risk"`
	Window       Window       `json:"window"`
	Tokens       int          `json:"tokens"`
	Policy       string       `json:"policy,omitempty"` // where the policy came from; empty when none
	ValuesOpened bool         `json:"sensitive_values_checked"`
	Audit        Audit        `json:"audit"`
	Busiest      []Series     `json:"busiest"`
	Findings     []Finding    `json:"findings"`
}

// Count returns how many findings reach level.
func (r *Report) Count(level review.Level) int {
	n := 0
	for _, f := range r.Findings {
		if f.Level >= level {
			n++
		}
	}
	return n
}

// day is the UTC midnight of t.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// snapshot is everything the findings are computed from, read once.
type snapshot struct {
	now, since time.Time
	days       []time.Time
	tokens     []registry.TokenInfo
	roles      map[string][]string // role → scopes
	privileged map[string]bool
	usage      map[string]*tokenUse // by token id
	lastUsed   map[string]time.Time // tokens not used in the window: their last use ever
	alerts     []store.Alert
	deliveries map[string][]store.Delivery // by version id
	values     registry.ValueCheck
	audit      Audit
}

// tokenUse is one token's use over the window, from the rollup.
type tokenUse struct {
	uses, failures int64
	lastAt         time.Time
	perDay         [][2]int64       // by day of the window: uses, failures
	scopes         map[string]int64 // required scope → valid verifications
}

// Build reviews the store reg works on, as of opts.Now.
func Build(ctx context.Context, reg *registry.Registry, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		return nil, fmt.Errorf("report: no clock given")
	}
	if opts.UnusedAfter <= 0 {
		opts.UnusedAfter = DefaultUnusedAfter
	}
	if opts.Busiest <= 0 {
		opts.Busiest = DefaultBusiest
	}
	s, err := gather(ctx, reg, opts)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Window: Window{Since: s.since, Until: day(s.now), Days: len(s.days)},
		Tokens: len(s.tokens), ValuesOpened: reg.HasKeys(), Audit: s.audit,
		Busiest: s.busiest(opts.Busiest), Findings: []Finding{},
	}
	if !opts.Policy.Empty() {
		rep.Policy = opts.PolicySource
		if rep.Policy == "" {
			rep.Policy = "the policy given"
		}
	}
	for _, section := range []func(*snapshot, Options) []Finding{
		unusedTokens, unusedScopes, policyFindings, rotationFindings, valueFindings, alertFindings, auditFindings,
	} {
		rep.Findings = append(rep.Findings, section(s, opts)...)
	}
	for _, f := range rep.Findings {
		rep.Risk = max(rep.Risk, f.Level)
	}
	return rep, nil
}

func gather(ctx context.Context, reg *registry.Registry, opts Options) (*snapshot, error) {
	s := &snapshot{now: opts.Now.UTC(), usage: map[string]*tokenUse{}, lastUsed: map[string]time.Time{},
		roles: map[string][]string{}, privileged: map[string]bool{}, deliveries: map[string][]store.Delivery{}}
	s.since = day(s.now.Add(-opts.UnusedAfter))
	for d := s.since; !d.After(day(s.now)); d = d.AddDate(0, 0, 1) {
		s.days = append(s.days, d)
	}
	var err error
	if s.tokens, err = reg.Tokens(ctx); err != nil {
		return nil, fmt.Errorf("report: read the tokens: %w", err)
	}
	roles, err := reg.Roles(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: read the roles: %w", err)
	}
	for _, r := range roles {
		s.roles[r.Name] = r.Scopes
	}
	scopes, err := reg.Scopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: read the scopes: %w", err)
	}
	for _, sc := range scopes {
		s.privileged[sc.Name] = sc.Privileged
	}
	if err := s.readUsage(ctx, reg, opts); err != nil {
		return nil, err
	}
	if err := s.readDeliveries(ctx, reg); err != nil {
		return nil, err
	}
	if al, err := reg.AlertLog(); err == nil {
		if s.alerts, err = al.Alerts(ctx, store.AlertQuery{}); err != nil {
			return nil, fmt.Errorf("report: read the alerts: %w", err)
		}
	}
	if s.values, err = reg.CheckAllUserValues(ctx); err != nil {
		return nil, fmt.Errorf("report: check the user values: %w", err)
	}
	if s.audit, err = readAudit(ctx, reg.Store(), opts.AuditKeys); err != nil {
		return nil, err
	}
	return s, nil
}

// readUsage reads the window's rollup, then the last use of each token
// the window does not show (one indexed lookup each).
func (s *snapshot) readUsage(ctx context.Context, reg *registry.Registry, opts Options) error {
	roll := opts.Rollup
	if roll == nil {
		var err error
		if roll, err = reg.UsageRollup(); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	// A day at a time, so that only one day's rows (one per token used
	// that day) are held at once.
	for i, d := range s.days {
		days, err := roll.UsageDays(ctx, d, d.AddDate(0, 0, 1))
		if err != nil {
			return fmt.Errorf("report: read the usage of %s: %w", date(d), err)
		}
		for _, ud := range days {
			u := s.use(ud.TokenID)
			u.uses += ud.Uses
			u.failures += ud.Failures
			if ud.LastAt.After(u.lastAt) {
				u.lastAt = ud.LastAt
			}
			u.perDay[i][0] += ud.Uses
			u.perDay[i][1] += ud.Failures
		}
	}
	uses, err := roll.ScopeUses(ctx, s.since)
	if err != nil {
		return fmt.Errorf("report: read the scopes used: %w", err)
	}
	for _, su := range uses {
		s.use(su.TokenID).scopes[su.Scope] += su.Uses
	}
	for _, ti := range s.tokens {
		if u := s.usage[ti.ID]; (u != nil && u.uses > 0) || !usageApplies(ti) {
			continue
		}
		at, _, ok, err := reg.LastUsed(ctx, ti.ID)
		if err != nil {
			return fmt.Errorf("report: last use of %s: %w", ti.Name, err)
		}
		if ok {
			s.lastUsed[ti.ID] = at.UTC()
		}
	}
	return nil
}

func (s *snapshot) use(tokenID string) *tokenUse {
	u := s.usage[tokenID]
	if u == nil {
		u = &tokenUse{perDay: make([][2]int64, len(s.days)), scopes: map[string]int64{}}
		s.usage[tokenID] = u
	}
	return u
}

// readDeliveries reads the delivery attempts of each token's pending and
// current version.
func (s *snapshot) readDeliveries(ctx context.Context, reg *registry.Registry) error {
	for _, ti := range s.tokens {
		for _, v := range []*store.Version{ti.Pending, ti.Current} {
			if v == nil || len(ti.Destinations) == 0 {
				continue
			}
			ds, err := reg.Deliveries(ctx, v.ID)
			if err != nil {
				return fmt.Errorf("report: deliveries of %s: %w", ti.Name, err)
			}
			s.deliveries[v.ID] = ds
		}
	}
	return nil
}

// readAudit verifies the chain as tokenward audit verify does, and finds
// its latest checkpoint.
func readAudit(ctx context.Context, st store.Store, keys map[string]ed25519.PublicKey) (Audit, error) {
	rep, err := audit.VerifySource(ctx, st, audit.Options{PageSize: 1000, Keys: keys})
	a := Audit{Intact: err == nil, HeadSeq: rep.Head.Seq, HeadHash: rep.Head.Hash, Checkpoints: rep.Checkpoints,
		SignaturesChecked: len(keys) > 0, SignedSeq: rep.Signed.Seq}
	switch {
	case audit.IsChainError(err):
		a.Problem = err.Error()
		if head, herr := st.AuditHead(ctx); herr == nil {
			a.HeadSeq, a.HeadHash = head.Seq, head.Hash
		}
	case err != nil:
		return Audit{}, fmt.Errorf("report: verify the audit chain: %w", err)
	}
	cps, err := st.AuditCheckpoints(ctx, 0, a.HeadSeq)
	if err != nil {
		return Audit{}, fmt.Errorf("report: read the audit checkpoints: %w", err)
	}
	if n := len(cps); n > 0 {
		last := cps[n-1]
		a.Latest = &Checkpoint{Seq: last.Seq, At: last.Time.UTC(), KeyID: last.KeyID}
	}
	return a, nil
}

// usageApplies tells whether a token's use is weighed: a honeytoken's use
// is an alert, not use, and a credential is used at its issuer, not
// verified by tokenward.
func usageApplies(ti registry.TokenInfo) bool {
	return !ti.Honeytoken && ti.Kind != store.KindCredential
}

// busiest is the chart's series: the n tokens with the most verifications
// in the window, most first, then by name.
func (s *snapshot) busiest(n int) []Series {
	out := []Series{}
	for _, ti := range s.tokens {
		u := s.usage[ti.ID]
		if u == nil || u.uses == 0 || ti.Honeytoken {
			continue
		}
		se := Series{Token: ti.Name, Total: u.uses, Failed: u.failures,
			Uses: make([]int64, len(s.days)), Failures: make([]int64, len(s.days))}
		for i, c := range u.perDay {
			se.Uses[i], se.Failures[i] = c[0], c[1]
		}
		out = append(out, se)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Token < out[j].Token
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
