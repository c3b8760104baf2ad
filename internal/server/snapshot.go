// Package server is tokenward's runtime: `tokenward serve`, which APIs and
// gateways ask to verify tokens (RFC 7662 introspection, a JSON verify
// endpoint and forward auth for nginx, Caddy and Traefik).
//
// It guarantees that verification is answered from memory, from a snapshot
// of the store that every instance keeps current (PostgreSQL LISTEN/NOTIFY,
// or polling the store's change counter on SQLite); that an instance which
// cannot reach its store answers from its snapshot for at most the maximum
// staleness and then fails closed; and that no token value reaches a log,
// a metric label or an error.
package server

import (
	"errors"
	"net/netip"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Entry is one token version as an instance keeps it for verification. Its
// Record is what token.Verify checks, so the server and `tokenward verify`
// share one verification.
type Entry struct {
	token.Record            // version id, token name, hash, state, expiry, effective scopes
	IssuedAt     time.Time  // when the version was issued (introspection's iat)
	Token        *TokenInfo // shared by all versions of a token
}

// TokenInfo is what verification needs of a token beyond one version.
type TokenInfo struct {
	ID           string
	Name         string
	Owner        string
	AllowedCIDRs []netip.Prefix // empty: any source
	RateLimit    store.RateLimit
	Retired      bool // destroyed; its versions are revoked
	// Honeytoken marks a decoy: its versions never verify, and every
	// endpoint answers them as it answers an unknown token.
	Honeytoken bool
}

// Snapshot is an immutable view of what verification needs, as of one value
// of the store's change counter. It is safe for concurrent use.
type Snapshot struct {
	seq      int64
	loadedAt time.Time
	versions map[string]*Entry
}

// NewSnapshot builds a snapshot of entries at change counter seq, read from
// the store at loadedAt.
func NewSnapshot(seq int64, loadedAt time.Time, entries []*Entry) *Snapshot {
	m := make(map[string]*Entry, len(entries))
	for _, e := range entries {
		m[e.VersionID] = e
	}
	return &Snapshot{seq: seq, loadedAt: loadedAt, versions: m}
}

// advanced is the same snapshot standing for a later change counter, when
// the changes in between touched nothing verification reads.
func (s *Snapshot) advanced(seq int64) *Snapshot {
	return &Snapshot{seq: seq, loadedAt: s.loadedAt, versions: s.versions}
}

// Lookup returns the entry of a version id, or nil.
func (s *Snapshot) Lookup(versionID string) *Entry { return s.versions[versionID] }

// Seq is the store's change counter the snapshot reflects.
func (s *Snapshot) Seq() int64 { return s.seq }

// LoadedAt is when the snapshot was read from the store.
func (s *Snapshot) LoadedAt() time.Time { return s.loadedAt }

// Len is the number of versions in the snapshot.
func (s *Snapshot) Len() int { return len(s.versions) }

// Errors Snapshots.Current returns when verification must fail closed.
var (
	ErrNotLoaded = errors.New("no snapshot of the store loaded yet")
	ErrStale     = errors.New("the store has not been reachable for longer than the maximum staleness")
)

// Status is what /readyz and the metrics report about the snapshot source.
type Status struct {
	Loaded        bool      // a snapshot was loaded
	Seq           int64     // the change counter of the current snapshot
	Size          int       // versions in the current snapshot
	FreshAt       time.Time // the last time the store confirmed the snapshot was current
	Stale         bool      // FreshAt is older than the maximum staleness: verification fails closed
	Invalidations int64     // changes learnt from the store since start (notifications or counter moves)
	LastError     string    // the last error reaching the store, empty after a success; never a secret
}

// Snapshots is where the handlers read the current snapshot; *Source is the
// real one, tests may supply their own.
type Snapshots interface {
	// Current returns the snapshot to answer from, or ErrNotLoaded or
	// ErrStale when verification must fail closed.
	Current() (*Snapshot, error)
	Status() Status
}
