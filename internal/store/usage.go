package store

import (
	"context"
	"net/netip"
	"time"
)

// This file is the contract of the usage log and the alerts (issue 14):
// the records and the interfaces the concrete stores implement. Consumers
// reach them with a type assertion on a Store (see AsUsageLog), so the
// Store interface and its wrappers stay as they are.

// UsageEvent is one verification as the usage log keeps it: who presented
// what, from where, and the outcome. It never holds a token value, a secret
// or an Authorization header.
type UsageEvent struct {
	Seq            int64     // assigned by the store on append; 0 before
	At             time.Time // when the verification was answered
	TokenID        string    // empty unless the version id named a known token
	TokenName      string    // empty unless the version id named a known token
	VersionID      string    // the presented version id, when the value parsed
	Fingerprint    string    // token.Fingerprint of the presented value, when it parsed
	Code           string    // the outcome code (token.Code, or a refusal before verification)
	Endpoint       string    // introspect, verify, authz, cli
	SourceIP       string    // the address the token was used from; empty when unknown
	UserAgent      string    // truncated to 256 bytes
	Method         string    // authz: the original request's method
	Path           string    // authz: the original request's path, query redacted
	ScopesRequired []string  // the scopes the verification asked for
	Caller         string    // introspect and verify: the calling token's name
	Instance       string    // the server instance that answered
	// Honeytoken is true when the presented version belongs to a
	// honeytoken. The caller's answer never shows it; detectors read it.
	Honeytoken bool
}

// UsageQuery selects usage events; zero fields select everything.
type UsageQuery struct {
	TokenName string       // one token, by name
	Since     time.Time    // events at or after
	Until     time.Time    // events before; zero is no bound
	Network   netip.Prefix // events whose source is inside; invalid is any
	Code      string       // one outcome code
	Limit     int          // at most this many, newest first; 0 is no limit
}

// UsageSummary is one token's use over a query's window.
type UsageSummary struct {
	TokenName  string
	Uses       int64 // events of any outcome
	Failures   int64 // events whose outcome is not valid
	Networks   int   // distinct source /24 (IPv4) or /48 (IPv6) networks
	LastUsedAt time.Time
	LastUsedIP string
}

// UsagePruned says what a retention run removed.
type UsagePruned struct {
	Count    int64
	From, To time.Time // the oldest and newest removed event; zero when none
}

// UsageLog is the append-only usage log, apart from the change-audit
// chain. On PostgreSQL the table is partitioned by day.
type UsageLog interface {
	// AppendUsage stores a batch of events in one transaction.
	AppendUsage(ctx context.Context, events []UsageEvent) error
	// Usage returns the events a query selects, newest first.
	Usage(ctx context.Context, q UsageQuery) ([]UsageEvent, error)
	// UsageSummary returns one row per token the query selects, by name.
	UsageSummary(ctx context.Context, q UsageQuery) ([]UsageSummary, error)
	// LastUsed returns when and from where a token was last used; ok is
	// false when it never was, and for the empty id (the events of no
	// known token are nobody's use).
	LastUsed(ctx context.Context, tokenID string) (at time.Time, ip string, ok bool, err error)
	// PruneUsage removes the events older than before (whole partitions on
	// PostgreSQL) and says what it removed. The daily rollup loses the
	// rows of the days that end by before; the day before falls in keeps
	// its rows whole (on SQLite they still count that day's events before
	// the cut, which are gone; on PostgreSQL that day's partition stays
	// too).
	PruneUsage(ctx context.Context, before time.Time) (UsagePruned, error)
	// EnsureUsagePartitions creates the daily partitions from the day of
	// from through days days ahead; on SQLite it does nothing.
	EnsureUsagePartitions(ctx context.Context, from time.Time, days int) error
}

// Alert severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityWarn     = "warn"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Alert is one detector's finding.
type Alert struct {
	ID        string    // assigned by the raiser: unique, URL-safe
	At        time.Time // when it was raised
	Detector  string    // such as new_network
	Severity  string    // one of the Severity constants
	TokenID   string    // empty when no token is known (a network scanning)
	TokenName string
	SourceIP  string
	Network   string            // the source's /24 or /48, the deduplication key's third part
	Detail    string            // a sentence a person reads; never a value
	Evidence  map[string]string // what raised it: counts, versions, paths, user agents
	AckedBy   string            // empty until acknowledged
	AckedAt   time.Time
}

// AlertQuery selects alerts; zero fields select everything.
type AlertQuery struct {
	Since time.Time
	Limit int // newest first; 0 is no limit
}

// AlertLog keeps the alerts the detectors raise.
type AlertLog interface {
	AppendAlert(ctx context.Context, a Alert) error
	Alerts(ctx context.Context, q AlertQuery) ([]Alert, error)
	// AckAlert records who acknowledged an alert; ErrNotFound when no
	// alert has the id.
	AckAlert(ctx context.Context, id, by string, at time.Time) error
}

// UsageDay is one token's verifications on one UTC day, from the daily
// rollup (usage_daily) the usage log keeps as it appends.
type UsageDay struct {
	TokenID   string
	TokenName string    // the name of the day's newest event
	Day       time.Time // UTC midnight
	Uses      int64     // events of any outcome
	Failures  int64     // events whose outcome is not valid
	LastAt    time.Time // the day's newest event
}

// ScopeUse is how often a token's valid verifications required one scope
// over a window of whole UTC days, from the daily rollup.
type ScopeUse struct {
	TokenID   string
	TokenName string // the name of the newest event counted
	Scope     string
	Uses      int64
	LastAt    time.Time // the newest event counted
}

// UsageRollup reads the usage log's daily rollup: thousands of rows where
// the events are millions. AppendUsage keeps it in the transaction that
// appends the events, and PruneUsage prunes it with them. A required scope
// is rolled up only when it is a valid scope name (ScopeNamePattern), and
// one batch adds at most 64 distinct scope rows a token and day: the
// events past that count in the token's totals only, so made-up scopes
// (which a wildcard such as billing:* grants) cannot grow it without bound.
type UsageRollup interface {
	// UsageDays returns the tokens' totals of the whole UTC days from the
	// day since falls in up to the day until falls in, that day excluded
	// (zero since or until: no bound), by day, then token name: since
	// 2026-12-01T15:00Z and until 2026-12-03T09:00Z give the rows of
	// December 1 and 2. A token renamed in the window has the name of its
	// newest event on each day.
	UsageDays(ctx context.Context, since, until time.Time) ([]UsageDay, error)
	// ScopeUses returns one row per token (by id) and required scope,
	// summed over the whole UTC days from the day since falls in on, by
	// token name, then scope. A token that no valid verification asked
	// for a scope has no row.
	ScopeUses(ctx context.Context, since time.Time) ([]ScopeUse, error)
}

// AsUsageRollup returns st's daily rollup, or false when st has none.
func AsUsageRollup(st Store) (UsageRollup, bool) { u, ok := st.(UsageRollup); return u, ok }

// AsUsageLog returns st's usage log, or false when st has none (a test
// fake, a store opened before the usage log existed).
func AsUsageLog(st Store) (UsageLog, bool) { u, ok := st.(UsageLog); return u, ok }

// AsAlertLog returns st's alert log, or false when st has none.
func AsAlertLog(st Store) (AlertLog, bool) { a, ok := st.(AlertLog); return a, ok }
