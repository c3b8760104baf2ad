// Package store persists tokenward's records behind one interface with two
// engines: SQLite (embedded, the default) and PostgreSQL (shared by a team).
//
// It guarantees that every change made inside Update commits or rolls back as
// a whole, that audit events are appended to one hash chain in the same
// transaction as the change they describe (on PostgreSQL with a change
// notification, delivered only when the change commits), that a token has
// at most one pending, one current and one previous version, and that the
// locks it hands out exclude each other across processes. It stores what it is given: token
// secrets arrive hashed and sensitive values sealed, never in plaintext.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Errors a caller can switch on; the returned errors wrap them with the name
// of the record concerned.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInUse    = errors.New("in use")
	ErrConflict = errors.New("conflict")
)

// Scope is a permission name, resource:action.
type Scope struct {
	Name        string
	Description string
	// Privileged marks a scope whose grant the pull-request review raises
	// as high and the policy may cap (issue 17).
	Privileged bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Role is a named bundle of scopes.
type Role struct {
	Name        string
	Description string
	Scopes      []string // sorted
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Lifetime is the rotation policy of a token.
type Lifetime struct {
	TTL          time.Duration // life of each version
	RotateBefore time.Duration // rotation is due at expires_at - RotateBefore
	Overlap      time.Duration // how long the previous version stays valid after a rotation
}

// Token is a named credential. Its values live in its versions.
type Token struct {
	ID          string
	Name        string
	Owner       string
	Description string
	Scopes      []string // own scopes, sorted
	Roles       []string // sorted
	Lifetime    Lifetime
	// AllowedCIDRs are the networks a use may come from, canonical CIDR
	// strings; empty allows any source.
	AllowedCIDRs []string
	RateLimit    RateLimit // zero allows any rate
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeletedAt    time.Time // zero unless the token was deleted
	// Kind is "" for a token tokenward mints, KindCredential for a
	// credential another system issues (its Issuer says which); it never
	// changes.
	Kind string
	// Issuer is a credential's issuer configuration as JSON (which system,
	// which users, the name of the environment variable holding the admin
	// DSN; never a secret); nil for a token.
	Issuer json.RawMessage
	// Honeytoken marks a decoy: issued and delivered like any token, never
	// valid. Verification answers its values as it answers an unknown
	// token and flags the use for the honeytoken_used alert. Like Kind, it
	// is set when the token is created and never changes.
	Honeytoken bool
}

// TokenDetails is a token with its effective scopes, destinations (in
// order) and versions (newest first): what Tx.ListTokenDetails returns.
type TokenDetails struct {
	Token
	EffectiveScopes []string
	Destinations    []Destination
	Versions        []Version
}

// RateLimit caps how often one token may be verified by one server
// instance: at most Requests uses per Per. The zero value is no limit.
type RateLimit struct {
	Requests int
	Per      time.Duration
}

// Version is one issued value of a token. Only the hash of its secret is
// kept; Sealed holds the encrypted value while the version is pending.
type Version struct {
	ID          string
	TokenID     string
	State       token.State
	Hash        [32]byte
	Fingerprint string
	Sealed      []byte // nil once delivered
	CreatedAt   time.Time
	ActivatedAt time.Time // zero while pending
	ExpiresAt   time.Time
	RevokedAt   time.Time // zero unless revoked
	// User is the login user a credential's version was staged on at its
	// issuer; "" for a token's version.
	User string
}

// KindCredential is the Token.Kind of a credential another system issues.
const KindCredential = "credential"

// Destination is one place a token's value is delivered to. Key identifies it
// within its token (for example "github_secret:acme/app:DEPLOY_TOKEN"); Config
// holds the kind's parameters as JSON.
type Destination struct {
	TokenID string
	Key     string
	Kind    string
	Config  json.RawMessage
}

// Delivery records one attempt to write a version to a destination.
type Delivery struct {
	VersionID   string
	Destination string // Destination.Key
	At          time.Time
	Outcome     string // audit.Success or audit.Failure
	Detail      string // never a value
}

// Constraints restrict the values of a setting.
type Constraints struct {
	AllowedValues []json.RawMessage `json:"allowed_values,omitempty"`
	Min           *float64          `json:"min,omitempty"`
	Max           *float64          `json:"max,omitempty"`
	Pattern       string            `json:"pattern,omitempty"`
}

// Setting is a system-wide user-configuration default. A sensitive setting
// keeps its default only in SealedDefault.
type Setting struct {
	Key           string
	Type          string
	Default       json.RawMessage // nil when Sensitive
	SealedDefault []byte          // set only when Sensitive
	Description   string
	Constraints   Constraints
	Sensitive     bool
	UserEditable  bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// UserValue is one user's override of a setting, kept apart from the
// defaults. A value of a sensitive setting is kept only in Sealed.
type UserValue struct {
	User      string
	Key       string
	Value     json.RawMessage // nil when sealed
	Sealed    []byte
	UpdatedAt time.Time
	// Managed: declared by a tokenward_user_config resource, which alone
	// changes it.
	Managed bool
}

// Tx is the set of operations available inside one transaction.
type Tx interface {
	CreateScope(ctx context.Context, s Scope) error
	UpdateScope(ctx context.Context, s Scope) error
	GetScope(ctx context.Context, name string) (Scope, error)
	ListScopes(ctx context.Context) ([]Scope, error)
	DeleteScope(ctx context.Context, name string) error
	// ScopeUsers returns the names of the tokens and roles that grant a scope.
	ScopeUsers(ctx context.Context, name string) (tokens, roles []string, err error)

	CreateRole(ctx context.Context, r Role) error
	UpdateRole(ctx context.Context, r Role) error
	GetRole(ctx context.Context, name string) (Role, error)
	ListRoles(ctx context.Context) ([]Role, error)
	DeleteRole(ctx context.Context, name string) error
	// RoleUsers returns the names of the tokens that hold a role.
	RoleUsers(ctx context.Context, name string) ([]string, error)

	CreateToken(ctx context.Context, t Token) error
	UpdateToken(ctx context.Context, t Token) error
	GetToken(ctx context.Context, name string) (Token, error)
	GetTokenByID(ctx context.Context, id string) (Token, error)
	ListTokens(ctx context.Context) ([]Token, error)
	// RetireToken deletes a token from view: GetToken and ListTokens no
	// longer return it and its name is free again, its scopes, roles and
	// destinations are dropped, and its versions stay (the caller revokes
	// them) so that old values verify as revoked. GetTokenByID still finds it.
	RetireToken(ctx context.Context, id string, at time.Time) error
	// EffectiveScopes returns a token's own scopes and those of its roles, sorted.
	EffectiveScopes(ctx context.Context, tokenID string) ([]string, error)
	// ListTokenDetails returns what ListTokens does, each token with what
	// EffectiveScopes, ListDestinations and ListVersions return for it:
	// the same as asking token by token, in a few queries in all.
	ListTokenDetails(ctx context.Context) ([]TokenDetails, error)

	CreateVersion(ctx context.Context, v Version) error
	UpdateVersion(ctx context.Context, v Version) error
	GetVersion(ctx context.Context, id string) (Version, error)
	// ListVersions returns a token's versions, newest first.
	ListVersions(ctx context.Context, tokenID string) ([]Version, error)
	// ListSealedVersions returns every version that still holds a sealed value.
	ListSealedVersions(ctx context.Context) ([]Version, error)

	// SetDestinations replaces a token's destinations; order is kept.
	SetDestinations(ctx context.Context, tokenID string, ds []Destination) error
	ListDestinations(ctx context.Context, tokenID string) ([]Destination, error)
	// DestinationOwners returns the ids of the live tokens that deliver to
	// the destination key, sorted.
	DestinationOwners(ctx context.Context, key string) ([]string, error)
	// DestinationsWithKeyPrefix returns the destinations of live tokens
	// whose key starts with prefix (such as every destination of one file),
	// by token id and position.
	DestinationsWithKeyPrefix(ctx context.Context, prefix string) ([]Destination, error)

	RecordDelivery(ctx context.Context, d Delivery) error
	ListDeliveries(ctx context.Context, versionID string) ([]Delivery, error)

	CreateSetting(ctx context.Context, s Setting) error
	UpdateSetting(ctx context.Context, s Setting) error
	GetSetting(ctx context.Context, key string) (Setting, error)
	ListSettings(ctx context.Context) ([]Setting, error)
	DeleteSetting(ctx context.Context, key string) error
	// SettingUsers returns the users who hold a value for a setting.
	SettingUsers(ctx context.Context, key string) ([]string, error)

	PutUserValue(ctx context.Context, v UserValue) error
	DeleteUserValue(ctx context.Context, user, key string) error
	ListUserValues(ctx context.Context, user string) ([]UserValue, error)
	// ListSealedUserValues returns every user value that is kept sealed.
	ListSealedUserValues(ctx context.Context) ([]UserValue, error)
	// ListAllUserValues returns every user's values, by user, then key,
	// for a review of them all in one query.
	ListAllUserValues(ctx context.Context) ([]UserValue, error)

	// KeyCheck returns the value sealed to check the master key, nil when
	// none is stored yet; PutKeyCheck stores it, replacing the old one.
	KeyCheck(ctx context.Context) ([]byte, error)
	PutKeyCheck(ctx context.Context, sealed []byte) error

	// AppendAudit links e to the end of the chain and stores it; the returned
	// event carries its sequence number and hashes.
	AppendAudit(ctx context.Context, e audit.Event) (audit.Event, error)
	// AuditHead returns the end of the chain as this transaction sees it.
	AuditHead(ctx context.Context) (audit.Head, error)
	// AppendCheckpoint stores a signed checkpoint of the chain.
	AppendCheckpoint(ctx context.Context, c audit.Checkpoint) error
	// LastCheckpoint returns the latest checkpoint signed by a key,
	// ErrNotFound when it signed none.
	LastCheckpoint(ctx context.Context, keyID string) (audit.Checkpoint, error)

	configTx // the configuration change log: config.go
}

// Store is a tokenward store.
type Store interface {
	// Update runs fn in a read-write transaction, committed when fn returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a transaction that is always rolled back.
	View(ctx context.Context, fn func(Tx) error) error

	// AuditEvents returns up to limit events with a sequence number above after.
	AuditEvents(ctx context.Context, after int64, limit int) ([]audit.Event, error)
	// AuditHead returns the recorded end of the audit chain.
	AuditHead(ctx context.Context) (audit.Head, error)
	// AuditCheckpoints returns the checkpoints of the events after < seq <=
	// upTo, ordered by seq and key id.
	AuditCheckpoints(ctx context.Context, after, upTo int64) ([]audit.Checkpoint, error)
	// AuditPastHead reports events and checkpoints stored past the recorded
	// head, which only a writer around tokenward leaves.
	AuditPastHead(ctx context.Context) (audit.PastHead, error)

	// TryLock takes the named lock for holder for ttl, unless another holder
	// has it and its lease has not run out. It does not wait. A holder may
	// take its own lock again to extend the lease. Leases are measured by
	// the caller's clock: processes that share a PostgreSQL store from
	// several machines need synchronized clocks and a ttl well above any
	// skew between them.
	TryLock(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// Unlock releases the named lock if holder has it.
	Unlock(ctx context.Context, name, holder string) error
	// Lease returns who holds the named lock and until when, so a waiter can
	// say whom it waits for; ok is false when no one holds it. A lease that
	// has run out is returned too: it is free to take.
	Lease(ctx context.Context, name string) (l Lease, ok bool, err error)

	// VerificationData reads everything verification needs, consistent
	// with the change counter it returns (see AuditHead).
	VerificationData(ctx context.Context) (VerificationData, error)
	// Listen opens a feed of change notifications; on an engine that has
	// none it returns an error wrapping ErrNoNotifications.
	Listen(ctx context.Context) (Listener, error)

	// Engine names the engine: "sqlite" or "postgres".
	Engine() string
	Close() error
}

// Lease is a lock's holder and when its lease runs out unless renewed.
type Lease struct {
	Holder    string
	ExpiresAt time.Time
}

// RunLock names the lock one rotation run holds, so two runs never overlap.
const RunLock = "run"

// TokenLock names the lock held while one token is rotated.
func TokenLock(tokenID string) string { return "token/" + tokenID }

// Open opens the store a DSN names and brings its schema up to date: a
// postgres:// or postgresql:// URL selects PostgreSQL; sqlite:PATH or a bare
// path selects SQLite. A store that does not exist — no file, or a file or
// database without the tokenward schema — is an error wrapping ErrMissing,
// unless Create is given (a new SQLite file gets mode 0600). With ReadOnly
// it changes nothing at all.
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	switch {
	case dsn == "":
		return nil, errors.New("open store: no store configured: set TOKENWARD_STORE to a file path or a postgres:// URL")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, opts...)
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, sqlitePath(dsn), opts...)
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return nil, fmt.Errorf("open store: unsupported scheme %q: use a file path, sqlite:PATH or postgres://", scheme)
	default:
		return openSQLite(ctx, dsn, opts...)
	}
}

// sqlitePath is the file a sqlite: DSN names.
func sqlitePath(dsn string) string {
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
}

// ErrMissing is wrapped by Open's error when the DSN names no tokenward
// store; the error is a *MissingError that says where it looked.
var ErrMissing = errors.New("no tokenward store")

// MissingError says that a DSN names no tokenward store: the SQLite file does
// not exist or holds no tokenward schema, or the PostgreSQL database has none.
type MissingError struct {
	Location string // as Location gives it: an absolute path, or a URL without its password
	Reason   string // what was found instead
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("no tokenward store at %s: %s", e.Location, e.Reason)
}

// Is makes errors.Is(err, ErrMissing) true.
func (e *MissingError) Is(target error) bool { return target == ErrMissing }

// Location names the store a DSN points at for a message: the absolute path
// of a SQLite file, or a PostgreSQL URL's host, port and database without
// its user or password.
func Location(dsn string) string {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return "a postgres:// URL that does not parse"
		}
		return "postgres://" + u.Host + u.Path
	case strings.HasPrefix(dsn, "sqlite:"):
		dsn = sqlitePath(dsn)
	}
	if abs, err := filepath.Abs(dsn); err == nil {
		return abs
	}
	return dsn
}

// ErrReadOnly is returned by every change to a store opened with ReadOnly.
var ErrReadOnly = errors.New("the store was opened read-only")

// Option configures Open.
type Option func(*options)

type options struct {
	leaseClock func() time.Time
	create     bool
	readOnly   bool
	dsn        string // a PostgreSQL URL, only to keep its password out of errors (redact)
}

// WithLeaseClock sets the clock that lock leases are measured with. Leases
// measure whether a process is still alive, so they default to the wall
// clock even when tokenward's domain clock is overridden for a drill.
func WithLeaseClock(now func() time.Time) Option {
	return func(o *options) { o.leaseClock = now }
}

// Create lets Open create a store that does not exist: the SQLite file, or
// the tokenward schema in an empty PostgreSQL database. Without it a missing
// store is an error, so a mistyped DSN never starts a new, empty store.
func Create() Option {
	return func(o *options) { o.create = true }
}

// ReadOnly opens a store only to read it, as a verifier does: SQLite in
// read-only mode, no migration, no write of any kind (Update, TryLock and
// Unlock return ErrReadOnly). A schema older or newer than this tokenward's
// is refused, saying what to do. It works with a file the process may only
// read and with a PostgreSQL role that may only SELECT.
func ReadOnly() Option {
	return func(o *options) { o.readOnly = true }
}

func buildOptions(opts []Option) options {
	o := options{leaseClock: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.readOnly {
		o.create = false
	}
	return o
}
