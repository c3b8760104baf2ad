package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// The usage log's daily rollup (usage_daily, migration 00011, whose
// comment is the contract): AppendUsage folds each batch into it in the
// transaction that appends the events, PruneUsage prunes it with them, and
// UsageDays and ScopeUses read it.

var (
	_ UsageRollup = (*sqlStore)(nil)
	_ UsageRollup = readOnlyStore{}
)

const (
	// dayMicros is a day in the microseconds the store counts time in.
	dayMicros = int64(day / time.Microsecond)
	// usageDailyRowsPerUpsert bounds one multi-row upsert of the rollup on
	// SQLite: 7 parameters a row stay far below its limit.
	usageDailyRowsPerUpsert = 1000
	// usageDailyColumns are the columns rollUpUsage writes, in its order.
	usageDailyColumns = `token_id, day, scope, token_name, uses, failures, last_at`
	// maxRollupScopesPerDay is how many distinct scope rows one batch adds
	// to the rollup for one token and day; the scopes past it are counted
	// in the totals row only. The endpoints refuse more than 32 required
	// scopes a verification (registry.MaxRequiredScopes), so this only
	// bites on a batch of many verifications each asking for other scopes
	// (or a log written by a release without that check): a token granted
	// billing:* is valid for billing:<anything>, and each made-up scope
	// would otherwise be a row of usage_daily and a line of the report.
	maxRollupScopesPerDay = 64
	// maxRollupScopeLength is the longest scope rolled up, in bytes: the
	// longest scope name (registry.MaxNameLength).
	maxRollupScopeLength = 128
)

// ScopeNamePattern is what a scope name is: resource:action in lower case
// (letters, digits, _ . -), or resource:* for every action of a resource.
// The registry checks names with it; the rollup rolls up only the required
// scopes that match it.
var ScopeNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]*:([a-z][a-z0-9_.-]*|\*)$`)

// rollupScope reports whether the rollup keeps a row for the required
// scope sc: a valid scope name, which an event logged by a caller that
// skipped the endpoints' check may lack.
func rollupScope(sc string) bool {
	return sc != "" && len(sc) <= maxRollupScopeLength && ScopeNamePattern.MatchString(sc)
}

// usageDailyDay is a token's UTC day, whose distinct scope rows a batch
// bounds.
type usageDailyDay struct {
	tokenID string
	day     int64
}

// usageDailyKey is a row of the rollup: a token's UTC day, scope ”
// being its totals.
type usageDailyKey struct {
	tokenID string
	day     int64
	scope   string
}

// usageDailyCount is what a batch adds to one row of the rollup.
type usageDailyCount struct {
	name           string // the token's name at last
	uses, failures int64
	last           int64
}

// microsDay is the UTC midnight starting the day of us, both in
// microseconds.
func microsDay(us int64) int64 {
	d := us - us%dayMicros
	if us < 0 && d != us {
		d -= dayMicros
	}
	return d
}

// usageDailyCounts aggregates a batch as the rollup counts it: per token,
// UTC day and scope; the totals row (”) counts every event and the
// failures, a scope's row the valid events that required the scope (once
// an event, however often it lists it). Events of no token are left out.
// Only valid scope names get a row (rollupScope), and at most
// maxRollupScopesPerDay distinct scopes a token and day, the first the
// batch lists: the events past it count in the totals only.
func usageDailyCounts(events []UsageEvent) map[usageDailyKey]*usageDailyCount {
	counts := make(map[usageDailyKey]*usageDailyCount, 16)
	scopeRows := map[usageDailyDay]int{}
	add := func(k usageDailyKey, name string, at int64, failed bool) {
		c := counts[k]
		if c == nil {
			c = &usageDailyCount{name: name, last: at}
			counts[k] = c
		}
		c.uses++
		if failed {
			c.failures++
		}
		// The later event names the row; of events at the same time, the
		// one appended last, as the upsert's >= decides across batches.
		if at >= c.last {
			c.last, c.name = at, name
		}
	}
	// The rows the previous event added to. A busy token's events follow
	// each other in a batch, alike but for their time: an event like the
	// previous one (token, name, day, outcome, required scopes) adds to the
	// same rows, without the lookups, the text checks and the scope
	// names' pattern. (The scope rows a token's day may not add once it
	// has maxRollupScopesPerDay stay refused: it never has fewer.)
	var prev struct {
		e     *UsageEvent
		name  string // its TokenName as text
		day   int64
		valid bool
		rows  []*usageDailyCount
	}
	for i := range events {
		e := &events[i]
		if e.TokenID == "" {
			continue
		}
		at := micros(e.At)
		valid := e.Code == "valid"
		if p := prev.e; p != nil && microsDay(at) == prev.day && valid == prev.valid && e.TokenID == p.TokenID &&
			e.TokenName == p.TokenName && slices.Equal(e.ScopesRequired, p.ScopesRequired) {
			for _, c := range prev.rows {
				c.uses++
				if !valid {
					c.failures++ // only the totals row: a failure adds to no scope row
				}
				if at >= c.last {
					c.last, c.name = at, prev.name
				}
			}
			continue
		}
		id, name := text(e.TokenID), text(e.TokenName)
		k := usageDailyKey{tokenID: id, day: microsDay(at)}
		add(k, name, at, !valid)
		prev.e, prev.name, prev.day, prev.valid, prev.rows = e, name, k.day, valid, append(prev.rows[:0], counts[k])
		if !valid {
			continue
		}
	scopes:
		for i, sc := range e.ScopesRequired {
			if !rollupScope(sc) {
				continue // a valid name is valid text: no text() needed
			}
			for _, prev := range e.ScopesRequired[:i] {
				if prev == sc {
					continue scopes
				}
			}
			k.scope = sc
			if counts[k] == nil {
				d := usageDailyDay{tokenID: id, day: k.day}
				if scopeRows[d] >= maxRollupScopesPerDay {
					continue
				}
				scopeRows[d]++
			}
			add(k, name, at, false)
			prev.rows = append(prev.rows, counts[k])
		}
	}
	return counts
}

// rollUpUsage adds a batch of events to the daily rollup inside tx, the
// transaction that appends them: one multi-row upsert for a batch of the
// server's size (on PostgreSQL one for any batch). Rows go in key order,
// so two writers on PostgreSQL lock the rows they share in the same order
// and never deadlock.
func (s *sqlStore) rollUpUsage(ctx context.Context, tx *sql.Tx, events []UsageEvent) error {
	counts := usageDailyCounts(events)
	if len(counts) == 0 {
		return nil
	}
	keys := make([]usageDailyKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.tokenID != b.tokenID {
			return a.tokenID < b.tokenID
		}
		if a.day != b.day {
			return a.day < b.day
		}
		return a.scope < b.scope
	})
	greatest := "MAX"
	if s.d == postgresDialect {
		greatest = "GREATEST"
	}
	conflict := ` ON CONFLICT (token_id, day, scope) DO UPDATE SET uses = usage_daily.uses + excluded.uses,
		failures = usage_daily.failures + excluded.failures,
		last_at = ` + greatest + `(usage_daily.last_at, excluded.last_at),
		token_name = CASE WHEN excluded.last_at >= usage_daily.last_at THEN excluded.token_name ELSE usage_daily.token_name END`
	if s.d == postgresDialect {
		// Seven arrays, not seven parameters a row: one statement text
		// for any batch, and no VALUES list of thousands of rows to parse
		// and plan.
		ids, days, scopes, names := make([]string, len(keys)), make([]int64, len(keys)), make([]string, len(keys)), make([]string, len(keys))
		uses, failures, lasts := make([]int64, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			c := counts[k]
			ids[i], days[i], scopes[i], names[i], uses[i], failures[i], lasts[i] = k.tokenID, k.day, k.scope, c.name, c.uses, c.failures, c.last
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO usage_daily (`+usageDailyColumns+`)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])`+conflict,
			ids, days, scopes, names, uses, failures, lasts); err != nil {
			return fmt.Errorf("append %d usage events: daily rollup: %w", len(events), err)
		}
		return nil
	}
	for start := 0; start < len(keys); start += usageDailyRowsPerUpsert {
		chunk := keys[start:min(start+usageDailyRowsPerUpsert, len(keys))]
		var b strings.Builder
		b.Grow(100 + len(conflict) + len(chunk)*16)
		b.WriteString(`INSERT INTO usage_daily (` + usageDailyColumns + `) VALUES `)
		args := make([]any, 0, len(chunk)*7)
		for i, k := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?)")
			c := counts[k]
			args = append(args, k.tokenID, k.day, k.scope, c.name, c.uses, c.failures, c.last)
		}
		b.WriteString(conflict)
		if _, err := tx.ExecContext(ctx, s.d.bind(b.String()), args...); err != nil {
			return fmt.Errorf("append %d usage events: daily rollup: %w", len(events), err)
		}
	}
	return nil
}

func (s *sqlStore) UsageDays(ctx context.Context, since, until time.Time) ([]UsageDay, error) {
	query := `SELECT token_id, token_name, day, uses, failures, last_at FROM usage_daily WHERE scope = '' AND day >= ?`
	args := []any{micros(dayStart(since))}
	if !until.IsZero() {
		query, args = query+` AND day < ?`, append(args, micros(dayStart(until)))
	}
	rows, err := s.db.QueryContext(ctx, s.d.bind(query+` ORDER BY day, token_name, token_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("read the daily usage: %w", err)
	}
	defer rows.Close()
	out := []UsageDay{}
	for rows.Next() {
		var u UsageDay
		var d, last int64
		if err := rows.Scan(&u.TokenID, &u.TokenName, &d, &u.Uses, &u.Failures, &last); err != nil {
			return nil, fmt.Errorf("read the daily usage: %w", err)
		}
		u.Day, u.LastAt = fromMicros(d), fromMicros(last)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the daily usage: %w", err)
	}
	return out, nil
}

func (s *sqlStore) ScopeUses(ctx context.Context, since time.Time) ([]ScopeUse, error) {
	// The name of the newest row: SQLite takes a bare column from the row
	// of the one MAX; PostgreSQL has to be told.
	name := `token_name`
	if s.d == postgresDialect {
		name = `(array_agg(token_name ORDER BY last_at DESC))[1]`
	}
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT token_id, `+name+` AS name, scope, CAST(SUM(uses) AS BIGINT), MAX(last_at)
		FROM usage_daily WHERE scope <> '' AND day >= ? GROUP BY token_id, scope ORDER BY name, token_id, scope`), micros(dayStart(since)))
	if err != nil {
		return nil, fmt.Errorf("read the scopes used: %w", err)
	}
	defer rows.Close()
	out := []ScopeUse{}
	for rows.Next() {
		var u ScopeUse
		var last int64
		if err := rows.Scan(&u.TokenID, &u.TokenName, &u.Scope, &u.Uses, &last); err != nil {
			return nil, fmt.Errorf("read the scopes used: %w", err)
		}
		u.LastAt = fromMicros(last)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the scopes used: %w", err)
	}
	return out, nil
}

func (s *sqlStore) PruneUsage(ctx context.Context, before time.Time) (UsagePruned, error) {
	p, err := s.pruneUsageEvents(ctx, before)
	if err != nil {
		return p, err
	}
	return p, s.pruneUsageDaily(ctx, before)
}

// pruneUsageDaily removes the rollup's rows of the days that end by
// before, one day a transaction so a long-unpruned store never holds the
// SQLite write lock for long. The day before falls in keeps its rows
// whole, as PostgreSQL keeps that day's partition.
func (s *sqlStore) pruneUsageDaily(ctx context.Context, before time.Time) error {
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT DISTINCT day FROM usage_daily WHERE day < ? ORDER BY day`), micros(dayStart(before)))
	if err != nil {
		return fmt.Errorf("prune the daily usage: %w", err)
	}
	var days []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return fmt.Errorf("prune the daily usage: %w", err)
		}
		days = append(days, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("prune the daily usage: %w", err)
	}
	for _, d := range days {
		if _, err := s.db.ExecContext(ctx, s.d.bind(`DELETE FROM usage_daily WHERE day = ?`), d); err != nil {
			return fmt.Errorf("prune the daily usage of %s: %w", fromMicros(d).Format(time.DateOnly), err)
		}
	}
	return nil
}
