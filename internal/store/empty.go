package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
)

// Empty returns a store that holds nothing but what its migrations put in
// every store (the built-in scopes) and refuses every change, kept in
// memory: what a plan reads in place of a store that a first apply will
// create, so the plan creates nothing on disk or in a database.
func Empty(ctx context.Context) (Store, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	// A named in-memory database is shared by the pool's connections and
	// lives while one of them is open; keep is that one.
	db, err := sql.Open("sqlite", "file:tokenward-empty-"+hex.EncodeToString(b[:])+"?mode=memory&cache=shared&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("open an empty store: %w", err)
	}
	keep, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open an empty store: %w", err)
	}
	if err := migrate(ctx, db, sqliteDialect); err != nil {
		keep.Close()
		db.Close()
		return nil, fmt.Errorf("open an empty store: %w", err)
	}
	return emptyStore{readOnlyStore{&sqlStore{db: db, d: sqliteDialect, opts: buildOptions(nil)}}, keep}, nil
}

// emptyStore is Empty's store: read-only, and its Close also releases the
// connection that keeps the memory database alive.
type emptyStore struct {
	readOnlyStore
	keep *sql.Conn
}

func (s emptyStore) Close() error {
	s.keep.Close()
	return s.db.Close()
}
