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
	"slices"
	"strconv"
	"strings"
	"time"

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
	o := buildOptions(opts)
	loc := Location(path)
	if dir := filepath.Dir(path); dir != "." {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open sqlite store %s: folder %s: %w", loc, dir, err)
		}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !o.create:
		return nil, &MissingError{Location: loc, Reason: "the file does not exist"}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open sqlite store %s: %w", loc, err)
	case err == nil && !fi.Mode().IsRegular():
		return nil, fmt.Errorf("open sqlite store %s: not a regular file", loc)
	}
	if err == nil {
		// Look before anything writes: even setting the journal mode would
		// turn a mistyped path's empty or foreign file into a changed one.
		ro, err := sql.Open("sqlite", sqliteDSN(path, true))
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", loc, err)
		}
		if o.readOnly {
			// Say plainly why a reader cannot open the file, rather than
			// SQLite's "unable to open database file".
			if f, err := os.Open(path); err != nil {
				ro.Close()
				return nil, fmt.Errorf("open sqlite store %s: %w: a verifier needs read access to the file (and to enter its folder)", loc, err)
			} else {
				f.Close()
			}
			st, err := newSQLStore(ctx, ro, sqliteDialect, o, loc)
			if err != nil && cannotShare(err) && exists(path+"-wal") {
				return nil, fmt.Errorf("open sqlite store %s: a reader that may not write the folder %s cannot read a store whose writer is running or crashed "+
					"(the file %s-wal exists, and reading it takes the shared-memory file %s-shm, which the reader cannot create): "+
					"let the writer finish, or have the store's owner run a command that writes (such as tokenward rotate --dry-run) to fold the log in; "+
					"or give the reader write access to the folder", loc, filepath.Dir(path), filepath.Base(path), filepath.Base(path))
			}
			if err != nil && cannotShare(err) && !exists(path+"-wal") {
				// A WAL reader shares the -shm file with the writers; a
				// reader that may not create it (no write access to the
				// folder) cannot open the file while no writer holds it
				// open. No -wal file means no writer holds it: read the
				// file as it is, immutable.
				ro, err = sql.Open("sqlite", sqliteDSN(path, true)+"&immutable=1")
				if err != nil {
					return nil, fmt.Errorf("open sqlite store %s: %w", loc, err)
				}
				st, err = newSQLStore(ctx, ro, sqliteDialect, o, loc)
				if ros, ok := st.(readOnlyStore); ok {
					ros.immutable = true
				}
			}
			return named(loc)(st, err)
		}
		err = checkSchema(ctx, ro, sqliteDialect, o, loc)
		ro.Close()
		if err != nil {
			return named(loc)(nil, err)
		}
	} else {
		// The store holds hashes and sealed values: keep it private to its owner.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("open sqlite store %s: %w", loc, err)
		}
		if f != nil {
			f.Close()
		}
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", loc, err)
	}
	return named(loc)(newSQLStore(ctx, db, sqliteDialect, o, loc))
}

// named names the file in an error of openSQLite, except a MissingError,
// which names it already.
func named(loc string) func(Store, error) (Store, error) {
	return func(st Store, err error) (Store, error) {
		var missing *MissingError
		if err != nil && !errors.As(err, &missing) {
			return nil, fmt.Errorf("open sqlite store %s: %w", loc, err)
		}
		return st, err
	}
}

// cannotShare tells whether a read-only open failed because the reader
// could not create or open the WAL's shared-memory file.
func cannotShare(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_READONLY_DIRECTORY, sqlite3.SQLITE_READONLY_CANTINIT, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// sqliteDSN is the driver's data source for a store file.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		// mode=ro: SQLite opens the file read-only and refuses every write;
		// query_only says so on every connection. No journal mode is set:
		// that would write the file.
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		// Writers take the database lock when their transaction begins, so
		// two writers never deadlock upgrading a read lock.
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func openPostgres(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	loc := Location(dsn)
	if err := checkPostgresURL(dsn); err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", loc, err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", loc, redact(err, dsn))
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", loc, redact(err, dsn))
	}
	o := buildOptions(opts)
	o.dsn = dsn
	st, err := newSQLStore(ctx, db, postgresDialect, o, loc)
	var missing *MissingError
	if errors.As(err, &missing) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", loc, redact(err, dsn))
	}
	return st, nil
}

// checkPostgresURL refuses a URL that does not parse before the driver sees
// it: a raw "@" or "/" in a password makes the driver split the URL
// elsewhere and name a piece of the password as the host in its errors.
// Neither the URL nor the parser's error (which quotes it) is echoed.
func checkPostgresURL(dsn string) error {
	u, err := url.Parse(dsn)
	_, rest, _ := strings.Cut(dsn, "://")
	authority, _, _ := strings.Cut(rest, "/")
	if err != nil || u.Host == "" || strings.Count(authority, "@") > 1 {
		return errors.New("the postgres:// URL does not parse: percent-encode the characters @ : / ? # % and spaces in its user name and password (@ is %40), " +
			"such as postgres://user:p%40ss@host:5432/db")
	}
	return nil
}

// redact keeps a DSN's password out of an error, as written and as
// percent-decoded.
func redact(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return err
	}
	msg := err.Error()
	for _, s := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw)} {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// redactedError shows a message with the password masked and still unwraps
// to the cause, so errors.Is and errors.As keep working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func newSQLStore(ctx context.Context, db *sql.DB, d dialect, o options, loc string) (Store, error) {
	if err := checkSchema(ctx, db, d, o, loc); err != nil {
		db.Close()
		return nil, err
	}
	if o.readOnly {
		return readOnlyStore{&sqlStore{db: db, d: d, opts: o}}, nil
	}
	if err := migrate(ctx, db, d); err != nil {
		db.Close()
		return nil, err
	}
	return &sqlStore{db: db, d: d, opts: o}, nil
}

// checkSchema compares the migrations a store records with the ones this
// tokenward embeds. No schema at all is a missing store unless o.create; a
// newer one is refused, since this tokenward would not know its records; an
// older one is refused only when reading, since a reader may not migrate.
func checkSchema(ctx context.Context, db *sql.DB, d dialect, o options, loc string) error {
	applied, err := appliedMigrations(ctx, db, d)
	if err != nil {
		return err
	}
	known, err := embeddedMigrations(d)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		if o.create && d == sqliteDialect {
			// A file of another program's is not a store to add tables to:
			// create only in a new or empty file.
			var tables int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil {
				return fmt.Errorf("read the schema version: %w", err)
			}
			if tables > 0 {
				return fmt.Errorf("the file holds %d tables of another program's and no tokenward schema: tokenward creates a store only in a new or empty file, so name another path", tables)
			}
		}
		if o.create {
			return nil
		}
		reason := "the database has no tokenward schema"
		if d == sqliteDialect {
			reason = "the file holds no tokenward schema (an empty or another program's database)"
		}
		return &MissingError{Location: loc, Reason: reason}
	}
	newest := known[len(known)-1]
	if top := applied[len(applied)-1]; top > newest {
		return fmt.Errorf("the store's schema is at version %d, newer than this tokenward knows (%d): use the tokenward release that last wrote it, or a newer one", top, newest)
	}
	if o.readOnly {
		have := map[int64]bool{}
		for _, v := range applied {
			have[v] = true
		}
		for _, v := range known {
			if !have[v] {
				return fmt.Errorf("the store's schema lacks migration %d of this tokenward (it is at version %d of %d) and a read-only open runs none: "+
					"upgrade it first with a command that writes, such as terraform apply or tokenward rotate, run by the store's owner", v, applied[len(applied)-1], newest)
			}
		}
	}
	return nil
}

// appliedMigrations returns the versions goose recorded as applied, in
// order; none when the store has no version table.
func appliedMigrations(ctx context.Context, db *sql.DB, d dialect) ([]int64, error) {
	exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '` + goose.DefaultTablename + `'`
	if d == postgresDialect {
		exists = `SELECT COUNT(*) FROM (SELECT to_regclass('` + goose.DefaultTablename + `') AS t) x WHERE t IS NOT NULL`
	}
	var n int
	if err := db.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return nil, fmt.Errorf("read the schema version: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT version_id FROM `+goose.DefaultTablename+` WHERE is_applied AND version_id > 0 ORDER BY version_id`)
	if err != nil {
		return nil, fmt.Errorf("read the schema version: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read the schema version: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the schema version: %w", err)
	}
	return out, nil
}

// embeddedMigrations returns the versions of the migrations this tokenward
// carries for an engine, in order.
func embeddedMigrations(d dialect) ([]int64, error) {
	entries, err := fs.ReadDir(migrations, d.migrations)
	if err != nil {
		return nil, fmt.Errorf("list the %s migrations: %w", d.name, err)
	}
	var out []int64
	for _, e := range entries {
		if v, err := goose.NumericComponent(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("list the %s migrations: none embedded", d.name)
	}
	slices.Sort(out)
	return out, nil
}

// readOnlyStore refuses every change, so a verifier's open can never write
// even where the engine would let it.
type readOnlyStore struct{ *sqlStore }

func (readOnlyStore) Update(context.Context, func(Tx) error) error {
	return fmt.Errorf("change the store: %w", ErrReadOnly)
}

func (readOnlyStore) TryLock(_ context.Context, name, _ string, _ time.Duration) (bool, error) {
	return false, fmt.Errorf("lock %s: %w", name, ErrReadOnly)
}

func (readOnlyStore) Unlock(_ context.Context, name, _ string) error {
	return fmt.Errorf("unlock %s: %w", name, ErrReadOnly)
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
