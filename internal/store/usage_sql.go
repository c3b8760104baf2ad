package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// The usage log and the alerts of both engines (the contract is usage.go).
// Usage events are written apart from the change transactions: they take
// no writer lock on PostgreSQL (the audit head), so a batch never waits
// for a rotation, and a rotation never waits for a batch.

var (
	_ UsageLog    = (*sqlStore)(nil)
	_ AlertLog    = (*sqlStore)(nil)
	_ UsageWalker = (*sqlStore)(nil)
	_ UsageLog    = readOnlyStore{}
	_ AlertLog    = readOnlyStore{}
)

// UsageWalker streams the events a query selects, newest first, so a
// reader of millions of events (tokenward usage) holds one at a time.
// The concrete stores implement it beside UsageLog.
type UsageWalker interface {
	EachUsage(ctx context.Context, q UsageQuery, fn func(UsageEvent) error) error
}

// AsUsageWalker returns st's streaming reader of the usage log, or false.
func AsUsageWalker(st Store) (UsageWalker, bool) { w, ok := st.(UsageWalker); return w, ok }

const (
	day = 24 * time.Hour
	// usageRowsPerInsert bounds one multi-row INSERT: 17 parameters a row
	// stay far below SQLite's 32766 and PostgreSQL's 65535.
	usageRowsPerInsert = 500
	// usagePruneBatch bounds one DELETE of retention, so a prune never
	// holds the SQLite write lock for long.
	usagePruneBatch = 10000
	// usagePartitionsKnown bounds the days a store remembers having
	// ensured a partition for.
	usagePartitionsKnown = 64
	// usagePartitionPrefix names the day partitions on PostgreSQL, as
	// usage_events_p20261202.
	usagePartitionPrefix = "usage_events_p"
)

// usagePartitions remembers the days AppendUsage ensured a partition for,
// so it asks PostgreSQL once a day, not once a batch.
type usagePartitions struct {
	mu   sync.Mutex
	days map[int64]bool
}

// dayStart is the start of t's UTC day.
func dayStart(t time.Time) time.Time { return t.UTC().Truncate(day) }

// usageColumns are the columns AppendUsage writes, in its order.
const usageColumns = `at, token_id, token_name, version_id, fingerprint, code, endpoint, source_ip, source_key, network, user_agent, method, path, scopes_required, caller, instance, honeytoken`

// usageColumnCount is the number of usageColumns (a test checks it).
const usageColumnCount = 17

// sourceKey is an address as the source_key column holds it: 16 bytes,
// IPv4 mapped into IPv6 (as netip's As16 gives it); nil when ip is not an
// address.
func sourceKey(ip string) []byte {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	b := a.Unmap().As16()
	return b[:]
}

// networkKeyRange is the first and last source_key of a network.
func networkKeyRange(p netip.Prefix) (lo, hi []byte) {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	first := p.Addr().As16()
	last := first
	for i := bits; i < 128; i++ {
		last[i/8] |= 1 << (7 - uint(i%8))
	}
	return first[:], last[:]
}

// UsageNetwork is the network a source address is counted in: its /24
// (IPv4) or /48 (IPv6), as the summary and the detectors count them; ""
// when ip is not an address.
func UsageNetwork(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.WithZone("").Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

func (s *sqlStore) AppendUsage(ctx context.Context, events []UsageEvent) (err error) {
	if len(events) == 0 {
		return nil
	}
	// One transaction holds the events and the rollup. On PostgreSQL it
	// runs on a connection of its own, so the events go in by COPY on it.
	var conn *sql.Conn
	var tx *sql.Tx
	if s.d == postgresDialect {
		s.ensureBatchPartitions(ctx, events)
		if conn, err = s.db.Conn(ctx); err != nil {
			return fmt.Errorf("append usage events: %w", err)
		}
		defer conn.Close()
		tx, err = conn.BeginTx(ctx, nil)
	} else {
		// SQLite: on the store's usage connection, held between batches.
		u := &s.usageConn
		u.mu.Lock()
		defer u.mu.Unlock()
		defer func() {
			if err != nil {
				u.drop() // a connection an append failed on is not used again
			}
		}()
		if conn, err = u.get(ctx, s.db); err != nil {
			return fmt.Errorf("append usage events: %w", err)
		}
		tx, err = conn.BeginTx(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("append usage events: begin transaction: %w", err)
	}
	if s.d == postgresDialect {
		// The commit does not wait for PostgreSQL to flush its WAL: the
		// events already wait up to a second in the server's memory, and a
		// crash of PostgreSQL loses at most the last few hundred
		// milliseconds of them (wal_writer_delay), never the order or the
		// consistency of what it keeps (the usage guide says so).
		if _, err = tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err == nil {
			err = copyUsage(ctx, conn, events)
		}
	} else {
		err = s.insertUsageRows(ctx, tx, events)
	}
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("append %d usage events: %w", len(events), err)
	}
	if err = s.rollUpUsage(ctx, tx, events); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("append %d usage events: commit: %w", len(events), err)
	}
	return nil
}

// usageConn is the connection SQLite's usage appends run on, held for the
// store's life (until Close, or an append fails on it), with the INSERT
// of a full chunk prepared on it once and run through the driver itself:
// database/sql would copy and check the 8,500 arguments of each chunk
// into a slice it allocates (about a tenth of the append's CPU). Appends
// take turns on it; SQLite has one writer at a time anyway.
type usageConn struct {
	mu   sync.Mutex
	conn *sql.Conn
	stmt driver.Stmt            // usageInsertFull, prepared on conn
	full driver.StmtExecContext // stmt
	args []driver.NamedValue    // a chunk's arguments, reused
}

// get returns the held connection, opening it and preparing the INSERT
// of a full chunk on it when there is none.
func (u *usageConn) get(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	if u.conn != nil {
		return u.conn, nil
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	err = c.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the sqlite driver gave a %T, which cannot prepare", dc)
		}
		st, err := p.PrepareContext(ctx, usageInsertFull)
		if err != nil {
			return fmt.Errorf("prepare the usage insert: %w", err)
		}
		full, ok := st.(driver.StmtExecContext)
		if !ok {
			st.Close()
			return fmt.Errorf("the sqlite driver gave a %T, which cannot execute with a context", st)
		}
		u.stmt, u.full = st, full
		return nil
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	u.conn = c
	return c, nil
}

// execFull runs the INSERT of a full chunk with args on the held
// connection, inside the transaction open on it.
func (u *usageConn) execFull(ctx context.Context, args []any) error {
	u.args = u.args[:0]
	for i, a := range args {
		u.args = append(u.args, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	return u.conn.Raw(func(any) error {
		_, err := u.full.ExecContext(ctx, u.args)
		return err
	})
}

// drop closes the held connection (and its statement) for good: the pool
// discards it rather than hand it out again.
func (u *usageConn) drop() {
	if u.conn == nil {
		return
	}
	_ = u.conn.Raw(func(any) error {
		_ = u.stmt.Close()
		return driver.ErrBadConn
	})
	_ = u.conn.Close()
	u.conn, u.stmt, u.full, u.args = nil, nil, nil, nil
}

// closeUsageConn drops the held connection, when the store closes.
func (s *sqlStore) closeUsageConn() {
	s.usageConn.mu.Lock()
	defer s.usageConn.mu.Unlock()
	s.usageConn.drop()
}

// insertUsageRows appends events in tx by multi-row INSERTs (SQLite).
func (s *sqlStore) insertUsageRows(ctx context.Context, tx *sql.Tx, events []UsageEvent) error {
	boxes := usageBoxes{emptyNull: true}
	args := make([]any, 0, min(len(events), usageRowsPerInsert)*usageColumnCount)
	for start := 0; start < len(events); start += usageRowsPerInsert {
		chunk := events[start:min(start+usageRowsPerInsert, len(events))]
		args = args[:0]
		for i := range chunk {
			args = boxes.row(args, &chunk[i])
		}
		var err error
		if len(chunk) == usageRowsPerInsert && s.usageConn.full != nil {
			err = s.usageConn.execFull(ctx, args)
		} else {
			err = s.insertUsage(ctx, tx, len(chunk), args)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// copyUsage appends events by COPY on conn, inside the transaction open
// on it (PostgreSQL): no statement of thousands of parameters to parse
// and plan, and rows routed to the day partitions (or DEFAULT) as an
// INSERT's are. COPY FROM needs the INSERT grant only.
func copyUsage(ctx context.Context, conn *sql.Conn, events []UsageEvent) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("the pgx driver gave a %T", dc)
		}
		n, err := c.Conn().CopyFrom(ctx, pgx.Identifier{"usage_events"}, usageColumnNames, &usageCopy{events: events, i: -1})
		if err == nil && n != int64(len(events)) {
			err = fmt.Errorf("copied %d of the events", n)
		}
		return err
	})
}

// usageColumnNames are usageColumns, one a name.
var usageColumnNames = strings.Split(usageColumns, ", ")

// usageCopy is a batch as pgx's CopyFrom reads it: one row at a time, in
// a slice it encodes before asking for the next.
type usageCopy struct {
	events []UsageEvent
	i      int
	boxes  usageBoxes
	row    []any
}

func (u *usageCopy) Next() bool { u.i++; return u.i < len(u.events) }

func (u *usageCopy) Values() ([]any, error) {
	u.row = u.boxes.row(u.row[:0], &u.events[u.i])
	return u.row, nil
}

func (u *usageCopy) Err() error { return nil }

// insertUsage runs one multi-row INSERT of n events in tx. A full chunk,
// what every batch is made of under load, runs a statement prepared once
// for the store's life: parsing 500 rows of placeholders costs SQLite
// about as much as inserting them.
func (s *sqlStore) insertUsage(ctx context.Context, tx *sql.Tx, n int, args []any) error {
	if n == usageRowsPerInsert {
		if st, err := s.prepared(ctx, usageInsertFull); err == nil {
			_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
			return err
		}
	}
	_, err := tx.ExecContext(ctx, s.d.bind(usageInsert(n)), args...)
	return err
}

// usageInsert is the INSERT of n events. The text columns whose default
// is ” take NULL for ” (usageBoxes.emptyNull), which the INSERT makes ”
// again: binding a NULL costs SQLite's driver no copy of the value into C
// memory and no unbinding after the statement, and most events leave
// several of those columns empty.
func usageInsert(n int) string {
	var r strings.Builder
	for i := range usageColumnCount {
		if i > 0 {
			r.WriteByte(',')
		}
		if usageEmptyNull(i) {
			r.WriteString("coalesce(?,'')")
		} else {
			r.WriteByte('?')
		}
	}
	row := "(" + r.String() + ")"
	var b strings.Builder
	b.Grow(40 + len(usageColumns) + n*(len(row)+1))
	b.WriteString(`INSERT INTO usage_events (` + usageColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

// usageInsertFull is the INSERT of a full chunk.
var usageInsertFull = usageInsert(usageRowsPerInsert)

// usageBoxes builds the arguments of events' rows, keeping each column's
// last value as it was boxed (and the last source's key and network, the
// last scopes' JSON): the events of a batch repeat a few tokens, callers,
// codes and sources, so most of a row's values are boxed once a batch
// rather than allocated once a row.
type usageBoxes struct {
	// emptyNull: an empty text column that defaults to '' is NULL (the
	// SQLite INSERT's arguments; see usageInsert).
	emptyNull bool
	text      [usageColumnCount]struct {
		s string
		v any
	}
	source        string
	key, network  any
	scopes        []string
	scopesJSON    any
	sourceCounted bool
}

// The indexes of the text columns in usageColumns.
const (
	colTokenID     = 1
	colTokenName   = 2
	colVersionID   = 3
	colFingerprint = 4
	colCode        = 5
	colEndpoint    = 6
	colSourceIP    = 7
	colNetwork     = 9
	colUserAgent   = 10
	colMethod      = 11
	colPath        = 12
	colCaller      = 14
	colInstance    = 15
)

// usageEmptyNull tells whether usageColumns' column col defaults to ”,
// so that NULL may stand for ” in the INSERT: the text columns but code
// (which has no default) and scopes_required (never empty).
func usageEmptyNull(col int) bool {
	switch col {
	case colTokenID, colTokenName, colVersionID, colFingerprint, colEndpoint, colSourceIP, colNetwork,
		colUserAgent, colMethod, colPath, colCaller, colInstance:
		return true
	}
	return false
}

// str is s as a column's argument, boxed once while the column repeats.
func (b *usageBoxes) str(col int, s string) any {
	if s == "" && b.emptyNull && col != colCode {
		return nil
	}
	c := &b.text[col]
	if c.v != nil && c.s == s {
		return c.v
	}
	c.s, c.v = s, text(s)
	return c.v
}

// row appends e's arguments, in usageColumns' order, to args.
func (b *usageBoxes) row(args []any, e *UsageEvent) []any {
	if !b.sourceCounted || e.SourceIP != b.source {
		b.source, b.sourceCounted = e.SourceIP, true
		b.key = nil
		if k := sourceKey(e.SourceIP); k != nil {
			b.key = k
		}
		b.network = UsageNetwork(e.SourceIP)
		if b.network == "" && b.emptyNull {
			b.network = nil
		}
	}
	if b.scopesJSON == nil || !slices.Equal(e.ScopesRequired, b.scopes) {
		b.scopes, b.scopesJSON = e.ScopesRequired, text(scopesJSON(e.ScopesRequired))
	}
	return append(args, micros(e.At), b.str(colTokenID, e.TokenID), b.str(colTokenName, e.TokenName),
		b.str(colVersionID, e.VersionID), b.str(colFingerprint, e.Fingerprint), b.str(colCode, e.Code),
		b.str(colEndpoint, e.Endpoint), b.str(colSourceIP, e.SourceIP), b.key, b.network,
		b.str(colUserAgent, e.UserAgent), b.str(colMethod, e.Method), b.str(colPath, e.Path),
		b.scopesJSON, b.str(colCaller, e.Caller), b.str(colInstance, e.Instance), e.Honeytoken)
}

// scopesJSON is scopes as the scopes_required column holds them, a JSON
// array ("[]" for none), as json.Marshal writes it.
func scopesJSON(scopes []string) string {
	if scopes == nil {
		scopes = []string{}
	}
	sj, _ := json.Marshal(scopes) // a []string always marshals
	return string(sj)
}

// text is s as both engines store it: PostgreSQL refuses NUL and bytes
// that are not UTF-8 in text, and an attacker's user agent or path must
// not make a batch fail; each becomes U+FFFD.
func text(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// ensureBatchPartitions creates the partitions of the days a batch falls
// in, once per day per store. Failing is not an error of the append: a
// role that may not create partitions has its events kept in the DEFAULT
// partition, and whoever may (usage maintain) moves them out later.
func (s *sqlStore) ensureBatchPartitions(ctx context.Context, events []UsageEvent) {
	var missing []int64
	s.usage.mu.Lock()
	if s.usage.days == nil || len(s.usage.days) > usagePartitionsKnown {
		s.usage.days = map[int64]bool{}
	}
	for _, e := range events {
		d := micros(dayStart(e.At))
		if !s.usage.days[d] {
			s.usage.days[d] = true
			missing = append(missing, d)
		}
	}
	s.usage.mu.Unlock()
	for _, d := range missing {
		_ = s.ensurePartition(ctx, d)
	}
}

// ensurePartition creates the partition of the UTC day starting at d
// (microseconds) unless it exists; see usage_events_partition in the
// migration.
func (s *sqlStore) ensurePartition(ctx context.Context, d int64) error {
	var name string
	if err := s.db.QueryRowContext(ctx, `SELECT usage_events_partition($1)`, d).Scan(&name); err != nil {
		return fmt.Errorf("create the usage partition of %s: %w", fromMicros(d).Format(time.DateOnly), err)
	}
	return nil
}

func (s *sqlStore) EnsureUsagePartitions(ctx context.Context, from time.Time, days int) error {
	if s.d != postgresDialect {
		return nil
	}
	first := dayStart(from)
	for i := 0; i <= days; i++ {
		if err := s.ensurePartition(ctx, micros(first.Add(time.Duration(i)*day))); err != nil {
			return fmt.Errorf("ensure usage partitions: %w", err)
		}
	}
	return nil
}

// usageWhere is the condition and arguments of a query; the conditions are
// this package's, the values arguments.
func usageWhere(q UsageQuery) (string, []any) {
	var conds []string
	var args []any
	if q.TokenName != "" {
		conds, args = append(conds, "token_name = ?"), append(args, q.TokenName)
	}
	if !q.Since.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, micros(q.Since))
	}
	if !q.Until.IsZero() {
		conds, args = append(conds, "at < ?"), append(args, micros(q.Until))
	}
	if q.Network.IsValid() {
		lo, hi := networkKeyRange(q.Network)
		conds, args = append(conds, "source_key >= ? AND source_key <= ?"), append(args, lo, hi)
	}
	if q.Code != "" {
		conds, args = append(conds, "code = ?"), append(args, q.Code)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

const usageSelect = `SELECT seq, at, token_id, token_name, version_id, fingerprint, code, endpoint, source_ip, user_agent, method, path, scopes_required, caller, instance, honeytoken FROM usage_events`

func (s *sqlStore) EachUsage(ctx context.Context, q UsageQuery, fn func(UsageEvent) error) error {
	where, args := usageWhere(q)
	query := usageSelect + where + ` ORDER BY at DESC, seq DESC`
	if q.Limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.d.bind(query), args...)
	if err != nil {
		return fmt.Errorf("read usage events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e UsageEvent
		var at int64
		var scopes string
		if err := rows.Scan(&e.Seq, &at, &e.TokenID, &e.TokenName, &e.VersionID, &e.Fingerprint, &e.Code, &e.Endpoint, &e.SourceIP,
			&e.UserAgent, &e.Method, &e.Path, &scopes, &e.Caller, &e.Instance, &e.Honeytoken); err != nil {
			return fmt.Errorf("read usage events: %w", err)
		}
		e.At = fromMicros(at)
		if err := json.Unmarshal([]byte(scopes), &e.ScopesRequired); err != nil {
			return fmt.Errorf("usage event %d: scopes: %w", e.Seq, err)
		}
		if len(e.ScopesRequired) == 0 {
			e.ScopesRequired = nil
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read usage events: %w", err)
	}
	return nil
}

func (s *sqlStore) Usage(ctx context.Context, q UsageQuery) ([]UsageEvent, error) {
	out := []UsageEvent{}
	err := s.EachUsage(ctx, q, func(e UsageEvent) error { out = append(out, e); return nil })
	return out, err
}

func (s *sqlStore) UsageSummary(ctx context.Context, q UsageQuery) ([]UsageSummary, error) {
	where, args := usageWhere(q)
	if where == "" {
		where = " WHERE token_name <> ''"
	} else {
		where += " AND token_name <> ''"
	}
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT token_name, COUNT(*),
		SUM(CASE WHEN code <> 'valid' THEN 1 ELSE 0 END),
		COUNT(DISTINCT CASE WHEN network <> '' THEN network END), MAX(at)
		FROM usage_events`+where+` GROUP BY token_name ORDER BY token_name`), args...)
	if err != nil {
		return nil, fmt.Errorf("summarize usage: %w", err)
	}
	out := []UsageSummary{}
	var lasts []int64
	for rows.Next() {
		var u UsageSummary
		var last int64
		if err := rows.Scan(&u.TokenName, &u.Uses, &u.Failures, &u.Networks, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("summarize usage: %w", err)
		}
		u.LastUsedAt = fromMicros(last)
		out, lasts = append(out, u), append(lasts, last)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarize usage: %w", err)
	}
	// The address of each token's last use, one index probe a token (the
	// rows above are closed first: SQLite reads one statement at a time
	// on a connection, and the pool may have one only).
	for i := range out {
		lq := q
		lq.TokenName, lq.Limit = out[i].TokenName, 1
		lq.Until = fromMicros(lasts[i] + 1)
		lw, largs := usageWhere(lq)
		err := s.db.QueryRowContext(ctx, s.d.bind(`SELECT source_ip FROM usage_events`+lw+` ORDER BY at DESC, seq DESC LIMIT 1`), largs...).
			Scan(&out[i].LastUsedIP)
		if err != nil {
			return nil, fmt.Errorf("summarize usage of %s: last use: %w", out[i].TokenName, err)
		}
	}
	return out, nil
}

// lastUsedQuery finds a token's last event: its time is the largest
// last_at of the token's totals rows in the daily rollup (which every
// append updates in the events' transaction, and retention prunes only
// with the events of the day), the event one probe of the index on at. No
// index on (token_id, at) is kept for this one query (migration 00012).
// When retention removed the event but kept its day's rollup (the day a
// cut falls in, on SQLite), the token has no event left: none is found,
// as a scan of the events would find none.
const lastUsedQuery = `SELECT e.at, e.source_ip FROM usage_events e
	WHERE e.at = (SELECT MAX(d.last_at) FROM usage_daily d WHERE d.token_id = ? AND d.scope = '') AND e.token_id = ?
	ORDER BY e.seq DESC LIMIT 1`

func (s *sqlStore) LastUsed(ctx context.Context, tokenID string) (time.Time, string, bool, error) {
	var at int64
	var ip string
	if tokenID == "" {
		return time.Time{}, "", false, nil
	}
	err := s.queryRow(ctx, lastUsedQuery, tokenID, tokenID).Scan(&at, &ip)
	if err == sql.ErrNoRows {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("last use of token id %s: %w", tokenID, err)
	}
	return fromMicros(at), ip, true, nil
}

// pruneUsageEvents is PruneUsage's removal of the events.
func (s *sqlStore) pruneUsageEvents(ctx context.Context, before time.Time) (UsagePruned, error) {
	var p UsagePruned
	if s.d == postgresDialect {
		// Whole days first: dropping a partition costs the same for any
		// number of rows. Only days that end by before go.
		parts, err := s.usagePartitionDays(ctx)
		if err != nil {
			return p, err
		}
		for _, d := range parts {
			if d.Add(day).After(before) {
				break
			}
			var n int64
			var first, last sql.NullInt64
			name := usagePartitionPrefix + d.Format("20060102")
			if err := s.db.QueryRowContext(ctx, `SELECT removed, first_at, last_at FROM usage_events_drop_partition($1)`, name).Scan(&n, &first, &last); err != nil {
				return p, fmt.Errorf("prune usage events: drop %s: %w", name, err)
			}
			p.add(n, first, last)
		}
	}
	// Then row by row, in batches: every event on SQLite; on PostgreSQL
	// those the DEFAULT partition still holds from before the first day
	// kept (the rest of the oldest kept day stays with its partition).
	bound := micros(before)
	if s.d == postgresDialect {
		bound = micros(dayStart(before))
	}
	for {
		n, err := s.pruneUsageBatch(ctx, bound, &p)
		if err != nil {
			return p, err
		}
		if n < usagePruneBatch {
			return p, nil
		}
	}
}

// add counts n removed events whose times span first to last.
func (p *UsagePruned) add(n int64, first, last sql.NullInt64) {
	if n == 0 || !first.Valid || !last.Valid {
		return
	}
	f, l := fromMicros(first.Int64), fromMicros(last.Int64)
	if p.Count == 0 || f.Before(p.From) {
		p.From = f
	}
	if p.Count == 0 || l.After(p.To) {
		p.To = l
	}
	p.Count += n
}

// pruneUsageBatch deletes at most usagePruneBatch events before bound in
// one transaction, counting them into p, and says how many it deleted.
func (s *sqlStore) pruneUsageBatch(ctx context.Context, bound int64, p *UsagePruned) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune usage events: begin transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	batch := `SELECT seq FROM usage_events WHERE at < ? ORDER BY at, seq LIMIT ` + strconv.Itoa(usagePruneBatch)
	var n int64
	var first, last sql.NullInt64
	// One transaction: on SQLite it holds the write lock, on PostgreSQL the
	// rows counted are the rows deleted (seq is unique: one sequence).
	if err := tx.QueryRowContext(ctx, s.d.bind(`SELECT COUNT(*), MIN(at), MAX(at) FROM usage_events WHERE seq IN (`+batch+`) AND at < ?`), bound, bound).
		Scan(&n, &first, &last); err != nil {
		return 0, fmt.Errorf("prune usage events: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, s.d.bind(`DELETE FROM usage_events WHERE seq IN (`+batch+`) AND at < ?`), bound, bound)
	if err != nil {
		return 0, fmt.Errorf("prune usage events: %w", err)
	}
	if got, err := res.RowsAffected(); err == nil && got != n {
		return 0, fmt.Errorf("prune usage events: counted %d events and deleted %d: try again", n, got)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune usage events: commit: %w", err)
	}
	p.add(n, first, last)
	return n, nil
}

// usagePartitionDays lists the days that have a partition, oldest first.
func (s *sqlStore) usagePartitionDays(ctx context.Context) ([]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'usage_events'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("list the usage partitions: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list the usage partitions: %w", err)
		}
		d, err := time.Parse("20060102", strings.TrimPrefix(name, usagePartitionPrefix))
		if err != nil || !strings.HasPrefix(name, usagePartitionPrefix) {
			continue // the DEFAULT partition
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the usage partitions: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out, nil
}

// UsagePartitions lists the days that have a usage partition, oldest
// first: none on SQLite, which keeps one table. For tests and operators.
func UsagePartitions(ctx context.Context, st Store) ([]time.Time, error) {
	var s *sqlStore
	switch v := st.(type) {
	case *sqlStore:
		s = v
	case readOnlyStore:
		s = v.sqlStore
	default:
		return nil, fmt.Errorf("list the usage partitions: a %T has none", st)
	}
	if s.d != postgresDialect {
		return nil, nil
	}
	return s.usagePartitionDays(ctx)
}

// --- alerts

func (s *sqlStore) AppendAlert(ctx context.Context, a Alert) error {
	ev := a.Evidence
	if ev == nil {
		ev = map[string]string{}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("append alert %s: evidence: %w", a.ID, err)
	}
	_, err = s.db.ExecContext(ctx, s.d.bind(`INSERT INTO alerts (id, at, detector, severity, token_id, token_name, source_ip, network, detail, evidence, acked_by, acked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		a.ID, micros(a.At), a.Detector, a.Severity, a.TokenID, a.TokenName, a.SourceIP, a.Network, a.Detail, string(body), a.AckedBy, nullMicros(a.AckedAt))
	if err != nil {
		return fmt.Errorf("append alert %s: %w", a.ID, classify(err))
	}
	return nil
}

func (s *sqlStore) Alerts(ctx context.Context, q AlertQuery) ([]Alert, error) {
	query := `SELECT id, at, detector, severity, token_id, token_name, source_ip, network, detail, evidence, acked_by, acked_at FROM alerts`
	var args []any
	if !q.Since.IsZero() {
		query, args = query+` WHERE at >= ?`, append(args, micros(q.Since))
	}
	query += ` ORDER BY at DESC, id DESC`
	if q.Limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.d.bind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		var a Alert
		var at int64
		var acked sql.NullInt64
		var ev string
		if err := rows.Scan(&a.ID, &at, &a.Detector, &a.Severity, &a.TokenID, &a.TokenName, &a.SourceIP, &a.Network, &a.Detail, &ev, &a.AckedBy, &acked); err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		a.At = fromMicros(at)
		if acked.Valid {
			a.AckedAt = fromMicros(acked.Int64)
		}
		if err := json.Unmarshal([]byte(ev), &a.Evidence); err != nil {
			return nil, fmt.Errorf("alert %s: evidence: %w", a.ID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return out, nil
}

func (s *sqlStore) AckAlert(ctx context.Context, id, by string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, s.d.bind(`UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ?`), by, micros(at), id)
	return mustAffect(res, err, "acknowledge alert "+id)
}

// --- a read-only store reads the logs and refuses to change them

func (readOnlyStore) AppendUsage(context.Context, []UsageEvent) error {
	return fmt.Errorf("append usage events: %w", ErrReadOnly)
}

func (readOnlyStore) PruneUsage(context.Context, time.Time) (UsagePruned, error) {
	return UsagePruned{}, fmt.Errorf("prune usage events: %w", ErrReadOnly)
}

func (readOnlyStore) EnsureUsagePartitions(context.Context, time.Time, int) error {
	return fmt.Errorf("ensure usage partitions: %w", ErrReadOnly)
}

func (readOnlyStore) AppendAlert(_ context.Context, a Alert) error {
	return fmt.Errorf("append alert %s: %w", a.ID, ErrReadOnly)
}

func (readOnlyStore) AckAlert(_ context.Context, id, _ string, _ time.Time) error {
	return fmt.Errorf("acknowledge alert %s: %w", id, ErrReadOnly)
}
