package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps each of the store's queries prepared once for the
// store's life, keyed by the query as the package writes it (before bind).
// Preparing is about half of the time of a small query on SQLite: a plan
// reads each token with the same few queries. On PostgreSQL pgx keeps a
// cache of its own per connection; this one serves both engines alike.
//
// database/sql prepares a Stmt on each connection the first time it is
// used there and keeps it while the connection lives, so a transaction
// reuses it through Tx.StmtContext. Preparing a new query takes a second
// connection while a transaction holds one; the pool has no limit.
//
// The queries are constants of this package (table, column and condition
// names included, never input), so the cache is bounded by the code.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepared returns query prepared for the store's engine.
func (s *sqlStore) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	c := &s.stmts
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.d.bind(query))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok { // prepared at the same time by another
		st.Close()
		return prev, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

// queryRow is db.QueryRowContext with the query prepared once. A query
// that cannot be prepared runs unprepared, so it fails with the engine's
// own error as before.
func (s *sqlStore) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st, err := s.prepared(ctx, query); err == nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, s.d.bind(query), args...)
}

// stmt returns query prepared for t's transaction, or nil when it cannot
// be prepared: the caller then runs it unprepared, to fail as before.
func (t *sqlTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.store == nil {
		return nil
	}
	st, err := t.store.prepared(ctx, query)
	if err != nil {
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}
