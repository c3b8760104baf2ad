package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// OpenDeferred opens a registry as Open does, except that a store that does
// not exist yet is not an error: until the registry's first change the
// store reads as empty and nothing is created, and the first change creates
// it (with its key check). This is Terraform's first apply: its plan reads
// an empty store and creates nothing. RefuseCreate withdraws the permission
// to create, for when Terraform's state shows the store should exist.
func OpenDeferred(ctx context.Context, cfg Config, opts ...Option) (*Registry, error) {
	cfg.Create = false
	cfg, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	r, err := Open(ctx, cfg, opts...)
	var missing *store.MissingError
	if err == nil || !errors.As(err, &missing) {
		return r, err
	}
	// Open checked the key and the clock before it looked at the store.
	keys, err := seal.FromEnv(cfg.keyEnv())
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	now, err := ClockFromEnv(cfg.getenv())
	if err != nil {
		return nil, err
	}
	empty, err := store.Empty(ctx)
	if err != nil {
		return nil, err
	}
	create := cfg
	create.Create = true
	p := &pendingStore{empty: empty, engine: engineOf(cfg.dsn()), missing: missing.Reason, create: func(ctx context.Context) (store.Store, error) {
		st, err := OpenStore(ctx, create)
		if err != nil {
			return nil, err
		}
		if err := New(st, keys).checkKey(ctx); err != nil {
			st.Close()
			return nil, err
		}
		return st, nil
	}}
	r = New(p, keys, cfg.options(now, opts)...)
	r.loc = store.Location(cfg.dsn())
	return r, nil
}

// keyEnv is the environment the keyring is read from: MasterKeyFile, when
// set, stands in for both key variables.
func (cfg Config) keyEnv() func(string) string {
	getenv := cfg.getenv()
	if cfg.MasterKeyFile == "" {
		return getenv
	}
	return func(k string) string {
		switch k {
		case seal.EnvKey:
			return ""
		case seal.EnvKeyFile:
			return cfg.MasterKeyFile
		}
		return getenv(k)
	}
}

func engineOf(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// pending returns the pendingStore under the registry's store, if any: the
// signing wrapper of a keyed registry sits above it.
func (r *Registry) pending() (*pendingStore, bool) {
	st := r.st
	if s, ok := st.(signingStore); ok {
		st = s.Store
	}
	p, ok := st.(*pendingStore)
	return p, ok
}

// StoreExists tells whether the store exists: false only for a store that
// OpenDeferred found missing and no change has created since.
func (r *Registry) StoreExists() bool {
	p, ok := r.pending()
	return !ok || p.created()
}

// MissingReason says what OpenDeferred found instead of a store, such as
// "the file does not exist"; "" once the store exists.
func (r *Registry) MissingReason() string {
	if p, ok := r.pending(); ok && !p.created() {
		return p.missing
	}
	return ""
}

// Pristine tells whether the store has never recorded a change: it does not
// exist yet, or its audit chain is empty. Every change appends an audit
// event, so a store that ever held a record is never pristine again.
func (r *Registry) Pristine(ctx context.Context) (bool, error) {
	if !r.StoreExists() {
		return true, nil
	}
	head, err := r.st.AuditHead(ctx)
	if err != nil {
		return false, err
	}
	return head.Seq == 0, nil
}

// StoreID names the store by the hash of the first event of its audit log:
// the same for a store and its backups and copies, another for every other
// store, so a resource that remembers it can tell when its path or URL
// leads to another store. "" for a store that has recorded nothing.
func (r *Registry) StoreID(ctx context.Context) (string, error) {
	if !r.StoreExists() {
		return "", nil
	}
	events, err := r.st.AuditEvents(ctx, 0, 1)
	if err != nil {
		return "", fmt.Errorf("read the store's first audit event: %w", err)
	}
	if len(events) == 0 {
		return "", nil
	}
	return events[0].Hash, nil
}

// RefuseCreate makes every later change fail with err instead of creating
// a store OpenDeferred found missing; it does nothing once the store exists.
func (r *Registry) RefuseCreate(err error) {
	if p, ok := r.pending(); ok {
		p.refuse(err)
	}
}

// Location names the store for a message: an absolute SQLite path, or a
// PostgreSQL URL without its password.
func (r *Registry) Location() string { return r.loc }

// pendingStore stands for a store that does not exist yet: reads go to an
// empty store in memory until the first change creates the real one, which
// every call uses from then on.
type pendingStore struct {
	empty   store.Store
	engine  string
	missing string // what Open found instead of a store
	create  func(context.Context) (store.Store, error)

	mu      sync.Mutex
	real    store.Store
	refused error
}

func (p *pendingStore) created() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.real != nil
}

func (p *pendingStore) refuse(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.real == nil && p.refused == nil {
		p.refused = err
	}
}

// reader is the store reads go to.
func (p *pendingStore) reader() store.Store {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.real != nil {
		return p.real
	}
	return p.empty
}

// writer creates the store on the first change.
func (p *pendingStore) writer(ctx context.Context) (store.Store, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.real != nil {
		return p.real, nil
	}
	if p.refused != nil {
		return nil, p.refused
	}
	st, err := p.create(ctx)
	if err != nil {
		return nil, fmt.Errorf("create the store: %w", err)
	}
	p.real = st
	return st, nil
}

func (p *pendingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	st, err := p.writer(ctx)
	if err != nil {
		return err
	}
	return st.Update(ctx, fn)
}

func (p *pendingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	return p.reader().View(ctx, fn)
}

func (p *pendingStore) AuditEvents(ctx context.Context, after int64, limit int) ([]audit.Event, error) {
	return p.reader().AuditEvents(ctx, after, limit)
}

func (p *pendingStore) AuditHead(ctx context.Context) (audit.Head, error) {
	return p.reader().AuditHead(ctx)
}

func (p *pendingStore) AuditCheckpoints(ctx context.Context, after, upTo int64) ([]audit.Checkpoint, error) {
	return p.reader().AuditCheckpoints(ctx, after, upTo)
}

func (p *pendingStore) AuditPastHead(ctx context.Context) (audit.PastHead, error) {
	return p.reader().AuditPastHead(ctx)
}

func (p *pendingStore) VerificationData(ctx context.Context) (store.VerificationData, error) {
	return p.reader().VerificationData(ctx)
}

func (p *pendingStore) Listen(ctx context.Context) (store.Listener, error) {
	return p.reader().Listen(ctx)
}

func (p *pendingStore) Lease(ctx context.Context, name string) (store.Lease, bool, error) {
	return p.reader().Lease(ctx, name)
}

func (p *pendingStore) TryLock(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	st, err := p.writer(ctx)
	if err != nil {
		return false, err
	}
	return st.TryLock(ctx, name, holder, ttl)
}

func (p *pendingStore) Unlock(ctx context.Context, name, holder string) error {
	st := p.reader()
	if st == p.empty {
		return nil // never locked: the store was never created
	}
	return st.Unlock(ctx, name, holder)
}

func (p *pendingStore) Engine() string { return p.engine }

func (p *pendingStore) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.empty.Close()
	if p.real != nil {
		err = errors.Join(err, p.real.Close())
	}
	return err
}
