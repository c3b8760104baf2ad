package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Defaults of a Source.
const (
	DefaultMaxStaleness = 60 * time.Second
	DefaultPollInterval = 250 * time.Millisecond
	// heartbeat is how often a Source that hears notifications still reads
	// the change counter: it measures that the store answers, as polling
	// does on SQLite, and catches a change whose notification was lost.
	heartbeat = time.Second
	// Reconnecting a lost notification connection waits from
	// minBackoff, doubling up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Source keeps a Snapshot of a store current: it reloads the snapshot when
// the store's change counter moves, learning of a change from PostgreSQL's
// notifications at once, and by polling the counter on SQLite. It
// implements Snapshots and is safe for concurrent use; Current never waits
// for a reload.
type Source struct {
	st store.Store
	o  sourceOptions

	cur atomic.Pointer[Snapshot]
	// freshAt is the last time the store answered, by o.now; a time.Time
	// keeps the wall clock's monotonic reading, so a clock step does not
	// make the snapshot look stale or fresh.
	freshAt       atomic.Pointer[time.Time]
	invalidations atomic.Int64
	running       atomic.Bool
	wake          chan struct{} // a change was announced; holds one, so bursts coalesce

	mu       sync.Mutex
	lastErr  string
	announce chan struct{} // closed at the next announced change; nil until asked for
}

// SourceOption configures NewSource.
type SourceOption func(*sourceOptions)

type sourceOptions struct {
	maxStaleness time.Duration
	poll         time.Duration
	now          func() time.Time
	log          *slog.Logger
}

// WithMaxStaleness sets how long a Source answers from its snapshot while
// the store does not answer; past it Current returns ErrStale. Default 60s.
func WithMaxStaleness(d time.Duration) SourceOption {
	return func(o *sourceOptions) { o.maxStaleness = d }
}

// WithPollInterval sets how often the change counter is read where the
// store sends no notifications (SQLite). Default 250ms.
func WithPollInterval(d time.Duration) SourceOption {
	return func(o *sourceOptions) { o.poll = d }
}

// WithClock sets the clock staleness and load times are measured with.
// Default the wall clock.
func WithClock(now func() time.Time) SourceOption {
	return func(o *sourceOptions) { o.now = now }
}

// WithLogger sets where a Source reports reloads and store failures.
// Default nowhere.
func WithLogger(l *slog.Logger) SourceOption {
	return func(o *sourceOptions) { o.log = l }
}

// NewSource loads the first snapshot of st and returns a Source serving it;
// it fails when the store cannot be read. Call Run to follow changes.
func NewSource(ctx context.Context, st store.Store, opts ...SourceOption) (*Source, error) {
	o := sourceOptions{maxStaleness: DefaultMaxStaleness, poll: DefaultPollInterval, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.maxStaleness <= 0:
		return nil, fmt.Errorf("new snapshot source: the maximum staleness (--max-staleness) must be longer than zero, such as 60s; it is %s", o.maxStaleness)
	case o.poll <= 0:
		return nil, fmt.Errorf("new snapshot source: the poll interval must be longer than zero, such as 250ms; it is %s", o.poll)
	}
	s := &Source{st: st, o: o, wake: make(chan struct{}, 1)}
	if err := s.reload(ctx); err != nil {
		return nil, fmt.Errorf("new snapshot source: %w", err)
	}
	return s, nil
}

// Current returns the snapshot to answer from: ErrStale when the store has
// not answered for longer than the maximum staleness.
func (s *Source) Current() (*Snapshot, error) {
	snap := s.cur.Load()
	if snap == nil {
		return nil, ErrNotLoaded
	}
	if s.stale() {
		return nil, ErrStale
	}
	return snap, nil
}

func (s *Source) stale() bool {
	return s.o.now().Sub(*s.freshAt.Load()) > s.o.maxStaleness
}

// Status reports the snapshot and the store's reachability.
func (s *Source) Status() Status {
	st := Status{
		FreshAt:       s.freshAt.Load().UTC(),
		Stale:         s.stale(),
		Invalidations: s.invalidations.Load(),
	}
	if snap := s.cur.Load(); snap != nil {
		st.Loaded, st.Seq, st.Size = true, snap.Seq(), snap.Len()
	}
	s.mu.Lock()
	st.LastError = s.lastErr
	s.mu.Unlock()
	return st
}

// Run follows the store's changes until ctx ends, then returns nil. Store
// failures do not end it: they show in Status and are retried. It returns
// an error only when the Source runs already.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("run snapshot source: it runs already")
	}
	defer s.running.Store(false)
	interval := s.o.poll
	if l, err := s.st.Listen(ctx); !errors.Is(err, store.ErrNoNotifications) {
		// Notifications wake Run at once; the counter is still read every
		// heartbeat. A store unreachable now is retried by the listener.
		interval = max(heartbeat, s.o.poll)
		if err != nil {
			s.failed(err)
		}
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			s.listen(ctx, l)
		}()
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
		s.refresh(ctx)
		t.Reset(interval)
	}
}

// refresh reads the change counter and reloads the snapshot when it moved.
func (s *Source) refresh(ctx context.Context) {
	head, err := s.st.AuditHead(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.failed(err)
		}
		return
	}
	if snap := s.cur.Load(); snap != nil && head.Seq == snap.Seq() {
		s.answered(s.o.now())
		return
	}
	s.announced()
	if snap := s.cur.Load(); snap != nil && s.unrelated(ctx, snap.Seq(), head.Seq) {
		// Nothing verification reads changed: the snapshot stands for the
		// new counter without reading every token again.
		s.cur.Store(snap.advanced(head.Seq))
		s.answered(s.o.now())
		s.invalidations.Add(1)
		return
	}
	if err := s.reload(ctx); err != nil {
		if ctx.Err() == nil {
			s.failed(err)
		}
		return
	}
	s.invalidations.Add(1)
}

// maxUnrelated bounds the changes unrelated reads to decide that a
// snapshot still holds; past it a reload is as cheap.
const maxUnrelated = 256

// unrelated reports whether every change after seq up to head is one that
// verification does not read (see verificationIgnores), so that the
// snapshot of after stands for head. Any other change, more than
// maxUnrelated of them, a gap, or an error reading them (a role that may
// not read the audit chain, say) is false: the caller reloads.
func (s *Source) unrelated(ctx context.Context, after, head int64) bool {
	n := head - after
	if n <= 0 || n > maxUnrelated {
		return false
	}
	events, err := s.st.AuditEvents(ctx, after, int(n))
	if err != nil || int64(len(events)) != n {
		return false
	}
	for i, e := range events {
		if e.Seq != after+int64(i)+1 || !verificationIgnores(e.Action) {
			return false
		}
	}
	return true
}

// verificationIgnores reports whether a change of this audit action leaves
// everything verification reads (tokens, versions, scopes, roles, their
// restrictions) as it was: users' configuration and settings, the usage
// log, alerts, deliveries and rotation runs. Any action not named here
// reloads the snapshot, so a new kind of change is safe by default.
func verificationIgnores(action string) bool {
	for _, p := range []string{"user_config.", "setting.", "usage.", "alert."} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return action == "version.deliver" || action == "rotation.run"
}

// reload reads a new snapshot and serves it.
func (s *Source) reload(ctx context.Context) error {
	start := time.Now()
	at := s.o.now()
	data, err := s.st.VerificationData(ctx)
	if err != nil {
		return err
	}
	snap := s.build(data, at)
	s.answered(at) // first, so that no snapshot is ever served without its freshness
	prev := s.cur.Swap(snap)
	attrs := []any{"seq", snap.Seq(), "versions", snap.Len(), "took", time.Since(start).Round(time.Microsecond)}
	if prev != nil {
		attrs = append(attrs, "previous_seq", prev.Seq())
	}
	s.o.log.Info("loaded the store's snapshot", attrs...)
	return nil
}

// answered notes that the store answered at t, with the snapshot current.
func (s *Source) answered(t time.Time) {
	s.freshAt.Store(&t)
	s.mu.Lock()
	recovered := s.lastErr != ""
	s.lastErr = ""
	s.mu.Unlock()
	if recovered {
		s.o.log.Info("the store answers again")
	}
}

// failed notes a failure to reach the store; only a new error is logged,
// not each retry of it.
func (s *Source) failed(err error) {
	msg := err.Error()
	s.mu.Lock()
	changed := s.lastErr != msg
	s.lastErr = msg
	s.mu.Unlock()
	if changed {
		s.o.log.Warn("cannot read the store: answering from the snapshot until the maximum staleness",
			"error", msg, "fresh_at", s.freshAt.Load().UTC(), "max_staleness", s.o.maxStaleness)
	}
}

// listen hears the store's change notifications and wakes Run for each one
// newer than the snapshot, reconnecting with backoff when the connection
// is lost. It starts with l, or connects itself when l is nil.
func (s *Source) listen(ctx context.Context, l store.Listener) {
	backoff := minBackoff
	for ctx.Err() == nil {
		if l == nil {
			var err error
			if l, err = s.st.Listen(ctx); err != nil {
				s.o.log.Debug("cannot listen for the store's changes; retrying", "error", err.Error(), "in", backoff)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
		}
		s.o.log.Info("listening for the store's changes")
		// Changes committed while no one listened were not announced.
		s.poke()
		backoff = minBackoff
		for {
			seq, err := l.Wait(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.o.log.Warn("lost the store's change notifications; reconnecting", "error", err.Error())
				}
				break
			}
			if snap := s.cur.Load(); seq == 0 || snap == nil || seq > snap.Seq() {
				s.poke()
			}
		}
		l.Close()
		l = nil
	}
}

// Announced returns a channel closed when the store next announces a
// change (a notification, or the change counter moving), before the
// snapshot is reloaded: the configuration's event streams read their log
// at once rather than at their next poll.
func (s *Source) Announced() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.announce == nil {
		s.announce = make(chan struct{})
	}
	return s.announce
}

func (s *Source) announced() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.announce != nil {
		close(s.announce)
		s.announce = nil
	}
}

// poke wakes Run; a wake already pending stands for this one too.
func (s *Source) poke() {
	s.announced()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sleep waits d of wall time; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// build turns the store's verification data into a snapshot. A deleted
// token's versions are kept as revoked, whatever their stored state, so
// its old values answer revoked. Credentials are left out: their values
// are passwords another system checks, never tokens tokenward verifies.
func (s *Source) build(data store.VerificationData, at time.Time) *Snapshot {
	n := 0
	for i := range data.Tokens {
		if data.Tokens[i].Kind != store.KindCredential {
			n += len(data.Tokens[i].Versions)
		}
	}
	entries := make([]Entry, 0, n)
	ptrs := make([]*Entry, 0, n)
	infos := make([]TokenInfo, len(data.Tokens))
	for i := range data.Tokens {
		tk := &data.Tokens[i]
		if tk.Kind == store.KindCredential {
			continue
		}
		info := &infos[i]
		*info = TokenInfo{
			ID: tk.ID, Name: tk.Name, Owner: tk.Owner,
			AllowedCIDRs: s.prefixes(tk), RateLimit: tk.RateLimit,
			Retired: !tk.DeletedAt.IsZero(), Honeytoken: tk.Honeytoken,
		}
		for _, v := range tk.Versions {
			state := v.State
			if info.Retired {
				state = token.StateRevoked
			}
			entries = append(entries, Entry{
				Record: token.Record{
					VersionID: v.ID, TokenName: tk.Name, Hash: v.Hash, State: state,
					ExpiresAt: v.ExpiresAt, Scopes: tk.EffectiveScopes,
				},
				IssuedAt: v.CreatedAt,
				Token:    info,
			})
			ptrs = append(ptrs, &entries[len(entries)-1])
		}
	}
	return NewSnapshot(data.Seq, at, ptrs)
}

// prefixes parses a token's allowed networks. One that does not parse is
// kept as the zero Prefix, which contains no address: the token fails
// closed (every source denied) rather than open.
func (s *Source) prefixes(tk *store.VerifiableToken) []netip.Prefix {
	if len(tk.AllowedCIDRs) == 0 {
		return nil
	}
	out := make([]netip.Prefix, len(tk.AllowedCIDRs))
	for i, c := range tk.AllowedCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			s.o.log.Warn("a token's stored allowed network does not parse: every use of the token is denied", "token", tk.Name, "cidr", c)
			continue
		}
		out[i] = p.Masked()
	}
	return out
}
