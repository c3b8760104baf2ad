package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrations embed.FS

// dialect is what differs between the engines; the queries are shared.
type dialect struct {
	name       string
	goose      goose.Dialect
	numbered   bool   // placeholders are $1, $2 rather than ?
	forUpdate  string // row lock clause for the audit head
	migrations string // folder under migrations/
	// serializeWriters is run first in every write transaction, so writers
	// take turns; empty where BEGIN does that already.
	serializeWriters string
}

var (
	sqliteDialect   = dialect{name: "sqlite", goose: goose.DialectSQLite3, migrations: "migrations/sqlite"}
	postgresDialect = dialect{name: "postgres", goose: goose.DialectPostgres, numbered: true, forUpdate: " FOR UPDATE", migrations: "migrations/postgres",
		serializeWriters: `SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE`}
)

// bind rewrites the ? placeholders of a shared query for the engine.
func (d dialect) bind(query string) string {
	if !d.numbered {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func openSQLite(ctx context.Context, path string, opts ...Option) (Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open sqlite store %s: folder %s: %w", path, dir, err)
		}
	}
	// The store holds hashes and sealed values: keep it private to its owner.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	// Writers take the database lock when their transaction begins, so two
	// writers never deadlock upgrading a read lock.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return newSQLStore(ctx, db, sqliteDialect, buildOptions(opts))
}

func openPostgres(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", redact(err, dsn))
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store: %w", redact(err, dsn))
	}
	return newSQLStore(ctx, db, postgresDialect, buildOptions(opts))
}

// redact keeps a DSN's password out of an error.
func redact(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
		return &redactedError{msg: strings.ReplaceAll(err.Error(), pw, "xxxxx"), err: err}
	}
	return err
}

// redactedError shows a message with the password masked and still unwraps
// to the cause, so errors.Is and errors.As keep working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func newSQLStore(ctx context.Context, db *sql.DB, d dialect, o options) (Store, error) {
	if err := migrate(ctx, db, d); err != nil {
		db.Close()
		return nil, err
	}
	return &sqlStore{db: db, d: d, opts: o}, nil
}

// migrate applies the embedded migrations forward, each in a transaction,
// recorded by goose in its version table.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	fsys, err := fs.Sub(migrations, d.migrations)
	if err != nil {
		return fmt.Errorf("migrate %s store: %w", d.name, err)
	}
	var popts []goose.ProviderOption
	if d == postgresDialect {
		// Two processes opening a fresh database at once take turns.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrate %s store: %w", d.name, err)
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(d.goose, db, fsys, popts...)
	if err != nil {
		return fmt.Errorf("migrate %s store: %w", d.name, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s store: %w", d.name, err)
	}
	return nil
}

// classify maps engine constraint errors to the store's errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%w: %v", ErrExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %v", ErrInUse, err)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%w: %v", ErrExists, err)
		case "23503":
			return fmt.Errorf("%w: %v", ErrInUse, err)
		case "40001", "40P01":
			return fmt.Errorf("%w: %v", ErrConflict, err)
		}
	}
	return err
}
