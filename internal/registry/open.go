package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Environment variables read by Open, beside seal.EnvKey and seal.EnvKeyFile.
const (
	EnvStore = "TOKENWARD_STORE"
	// EnvStoreCreate set to 1 lets the tokenward binary create a store that
	// does not exist, as its --create flag does. The binary reads it; Open
	// does not, so it never changes what the provider does.
	EnvStoreCreate = "TOKENWARD_STORE_CREATE"
	// EnvNow overrides the clock with a fixed RFC 3339 time. It is for tests
	// and drills only: with it set, tokens are issued, rotated and verified
	// as if it were that time.
	EnvNow = "TOKENWARD_NOW"
)

// Config says where the store and the master key are. Empty fields fall back
// to the environment: TOKENWARD_STORE, TOKENWARD_MASTER_KEY,
// TOKENWARD_MASTER_KEY_FILE and TOKENWARD_NOW.
type Config struct {
	Store         string              // DSN: a path, sqlite:PATH or postgres://…
	MasterKeyFile string              // a file holding the base64 master key(s)
	Actor         string              // who the audit log names
	Getenv        func(string) string // os.Getenv when nil
	// Create lets Open create a store that does not exist yet. Without it a
	// missing store is an error that names it and says how to create one,
	// so a mistyped path or URL never starts a new, empty store.
	Create bool
}

// Open opens the store and the keyring a Config names and returns a
// registry over them; Close releases the store. Each error says what to set.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Registry, error) {
	getenv := cfg.getenv()
	keys, err := seal.FromEnv(cfg.keyEnv())
	if err != nil {
		return nil, fmt.Errorf("master key: %w (generate one with: openssl rand -base64 32)", err)
	}
	now, err := ClockFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.resolved(); err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := New(st, keys, cfg.options(now, opts)...)
	r.loc = store.Location(cfg.dsn())
	if err := r.checkKey(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return r, nil
}

// options are the registry options a Config implies, then opts.
func (cfg Config) options(now func() time.Time, opts []Option) []Option {
	all := []Option{WithClock(now)}
	if cfg.Actor != "" {
		all = append(all, WithActor(cfg.Actor))
	}
	return append(all, opts...)
}

// OpenVerifier opens a registry that can only verify tokens: it asks for no
// master key (token secrets are kept hashed, not sealed) and opens the store
// read-only, so a verifier needs only read access to the SQLite file or a
// PostgreSQL role that may SELECT what verification reads. It runs no
// migration and writes nothing; a store that does not exist is an error.
// Operations that seal, open sealed values or change the store fail.
func OpenVerifier(ctx context.Context, cfg Config, opts ...Option) (*Registry, error) {
	now, err := ClockFromEnv(cfg.getenv())
	if err != nil {
		return nil, err
	}
	cfg.Create = false
	if cfg, err = cfg.resolved(); err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg, store.ReadOnly())
	if err != nil {
		return nil, err
	}
	r := New(st, nil, cfg.options(now, opts)...)
	r.loc = store.Location(cfg.dsn())
	return r, nil
}

// OpenReader opens a registry that only reads, for tokenward report: the
// store read-only (no migration, nothing written, never created), with the
// master key when the Config or the environment gives one, so sensitive
// values can be opened to be checked, and without it otherwise (hasKey
// false). A key that does not open the store's key check is an error.
func OpenReader(ctx context.Context, cfg Config, opts ...Option) (r *Registry, hasKey bool, err error) {
	getenv := cfg.getenv()
	keys, err := seal.FromEnv(cfg.keyEnv())
	switch {
	case errors.Is(err, seal.ErrNoKey) && cfg.MasterKeyFile == "" && getenv(seal.EnvKeyFile) == "":
		keys = nil
	case err != nil:
		return nil, false, fmt.Errorf("master key: %w", err)
	}
	now, err := ClockFromEnv(getenv)
	if err != nil {
		return nil, false, err
	}
	cfg.Create = false
	if cfg, err = cfg.resolved(); err != nil {
		return nil, false, err
	}
	st, err := OpenStore(ctx, cfg, store.ReadOnly())
	if err != nil {
		return nil, false, err
	}
	r = New(st, keys, cfg.options(now, opts)...)
	r.loc = store.Location(cfg.dsn())
	if keys == nil {
		return r, false, nil
	}
	sealed, err := r.storedKeyCheck(ctx)
	if err == nil && sealed != nil {
		err = r.opensKeyCheck(sealed)
	}
	if err != nil {
		st.Close()
		return nil, false, err
	}
	return r, true, nil
}

// OpenStore opens only the store a Config names, for readers that need no
// key, such as the audit verifier; opts are passed to store.Open. A store
// that does not exist is an error saying how to create one, unless
// cfg.Create.
func OpenStore(ctx context.Context, cfg Config, opts ...store.Option) (store.Store, error) {
	dsn := cfg.Store
	if dsn == "" {
		var err error
		if dsn, err = storeDSN(cfg.getenv()); err != nil {
			return nil, err
		}
	}
	if dsn == "" {
		return nil, fmt.Errorf("no store configured: set %s (or the provider's store attribute) to a file path such as tokenward.db, or to a postgres:// URL", EnvStore)
	}
	if cfg.Create {
		opts = append(opts, store.Create())
	}
	st, err := store.Open(ctx, dsn, opts...)
	if errors.Is(err, store.ErrMissing) {
		return nil, fmt.Errorf("%w. If the path or URL is mistyped (--store, %s) or the store was lost, fix that; "+
			"to start a new store on purpose, give a tokenward command that writes --create (or set %s=1), or let a first terraform apply create it "+
			"(verify and audit verify only read, and never create one)", err, EnvStore, EnvStoreCreate)
	}
	return st, err
}

// dsn is the store's DSN: the Config's, else TOKENWARD_STORE or the
// content of TOKENWARD_STORE_FILE.
func (cfg Config) dsn() string {
	if cfg.Store != "" {
		return cfg.Store
	}
	dsn, _ := storeDSN(cfg.getenv()) // OpenStore reports its error
	return dsn
}

// resolved is cfg with its store's DSN read from the environment (and
// TOKENWARD_STORE_FILE) once, so an open and its messages name one store.
func (cfg Config) resolved() (Config, error) {
	if cfg.Store != "" {
		return cfg, nil
	}
	dsn, err := storeDSN(cfg.getenv())
	cfg.Store = dsn
	return cfg, err
}

// EnvStoreFile names a file that holds the store's DSN, so that a
// PostgreSQL URL with its password is in neither the environment nor argv.
const EnvStoreFile = "TOKENWARD_STORE_FILE"

// storeDSN is TOKENWARD_STORE, or the content of the file
// TOKENWARD_STORE_FILE names, trimmed; setting both is an error, since
// either could be the one meant. Errors name the file, never its content.
func storeDSN(getenv func(string) string) (string, error) {
	dsn, file := getenv(EnvStore), getenv(EnvStoreFile)
	switch {
	case file == "":
		return dsn, nil
	case dsn != "":
		return "", fmt.Errorf("both %s and %s are set: set one", EnvStore, EnvStoreFile)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", EnvStoreFile, err) // err names the path
	}
	dsn = strings.TrimSpace(string(b))
	if dsn == "" {
		return "", fmt.Errorf("%s names %s, which is empty: write the store's DSN in it", EnvStoreFile, file)
	}
	return dsn, nil
}

func (cfg Config) getenv() func(string) string {
	if cfg.Getenv == nil {
		return os.Getenv
	}
	return cfg.Getenv
}

// ClockFromEnv returns the wall clock, or the fixed time TOKENWARD_NOW names.
func ClockFromEnv(getenv func(string) string) (func() time.Time, error) {
	v := strings.TrimSpace(getenv(EnvNow))
	if v == "" {
		return time.Now, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", EnvNow, v)
	}
	return func() time.Time { return t }, nil
}

// Close closes the store.
func (r *Registry) Close() error { return r.st.Close() }
