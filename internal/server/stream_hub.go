package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// ChangeLog is what the event streams read of the store: the configuration
// change log and a user's configuration. Every ConfigStore is one.
type ChangeLog interface {
	// ConfigChanges returns at most limit entries with a sequence number
	// above after, oldest first.
	ConfigChanges(ctx context.Context, after int64, limit int) ([]registry.ConfigChange, error)
	// ConfigChangeWindow returns the oldest sequence number the log keeps
	// and the latest one given.
	ConfigChangeWindow(ctx context.Context) (oldest, head int64, err error)
	// ReadUserConfig returns a user's effective configuration.
	ReadUserConfig(ctx context.Context, user string, openSensitive bool) (registry.UserConfig, error)
}

// announcer is a snapshot source that can say the store announced a change
// (*Source): the follower then reads the change log at once rather than at
// its next poll.
type announcer interface {
	Announced() <-chan struct{}
}

// followBatch is how many change-log entries the follower reads at once;
// a full batch is followed by another read at once.
const followBatch = 500

// hub fans the change log out to the open streams: one follower per
// instance reads the log and hands each entry to the streams it concerns,
// never waiting for one. It runs only while a stream is open.
type hub struct {
	s *Server

	mu       sync.Mutex
	byUser   map[string]map[*subscriber]struct{} // streams of one user
	all      map[*subscriber]struct{}            // streams of every user (GET /v1/events)
	perToken map[string]int                      // open streams per caller token name; no zero entries
	open     int
	pos      int64 // the last sequence number handed out, once running
	running  bool
	stop     context.CancelFunc
}

// subscriber is one open stream, as the hub sees it.
type subscriber struct {
	user    string // empty for every user's changes
	token   string
	ch      chan registry.ConfigChange // bounded: a full one drops the stream
	dropped chan struct{}              // closed when ch overflowed
	gone    bool                       // dropped already; under hub.mu
}

// Reasons a stream is refused before it opens.
var (
	errTooManyStreams      = errors.New("this instance holds as many event streams as --max-streams allows")
	errTooManyTokenStreams = errors.New("the caller's token holds as many event streams as --max-streams-per-token allows")
)

func newHub(s *Server) *hub {
	return &hub{s: s, byUser: map[string]map[*subscriber]struct{}{}, all: map[*subscriber]struct{}{}, perToken: map[string]int{}}
}

// subscribe opens a stream of user's changes (every user's when all) for
// the caller token tokenName and returns it with the sequence number it
// starts after: the stream receives every change above it. The first
// stream starts the follower at the log's head.
func (h *hub) subscribe(ctx context.Context, user string, all bool, tokenName string) (*subscriber, int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.open >= h.s.streams.MaxStreams:
		return nil, 0, errTooManyStreams
	case h.perToken[tokenName] >= h.s.streams.MaxPerToken:
		return nil, 0, errTooManyTokenStreams
	}
	if !h.running {
		// Reading the head under the lock: a second stream opening now
		// waits for it rather than starting a second follower.
		_, head, err := h.s.changes.ConfigChangeWindow(ctx)
		if err != nil {
			return nil, 0, err
		}
		fctx, stop := context.WithCancel(context.Background())
		h.pos, h.running, h.stop = head, true, stop
		go h.follow(fctx)
	}
	sub := &subscriber{user: user, token: tokenName, ch: make(chan registry.ConfigChange, h.s.streams.Buffer), dropped: make(chan struct{})}
	if all {
		sub.user = ""
		h.all[sub] = struct{}{}
	} else {
		if h.byUser[user] == nil {
			h.byUser[user] = map[*subscriber]struct{}{}
		}
		h.byUser[user][sub] = struct{}{}
	}
	h.open++
	h.perToken[tokenName]++
	h.s.streamMetrics.open.Inc()
	return sub, h.pos, nil
}

// unsubscribe closes a stream; the last one stops the follower.
func (h *hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.all[sub]; ok {
		delete(h.all, sub)
	} else if set := h.byUser[sub.user]; set != nil {
		if _, ok := set[sub]; !ok {
			return
		}
		delete(set, sub)
		if len(set) == 0 {
			delete(h.byUser, sub.user)
		}
	} else {
		return
	}
	h.open--
	if h.perToken[sub.token]--; h.perToken[sub.token] <= 0 {
		delete(h.perToken, sub.token)
	}
	h.s.streamMetrics.open.Dec()
	if h.open == 0 && h.running {
		h.stop()
		h.running = false
	}
}

// follow reads the change log after h.pos until ctx ends: at every poll
// interval, and at once when the snapshot source announces a change (a
// PostgreSQL notification): the poll alone keeps it within the interval
// when a notification is lost.
func (h *hub) follow(ctx context.Context) {
	an, _ := h.s.src.(announcer)
	t := time.NewTimer(h.s.streams.Poll)
	defer t.Stop()
	failing := ""
	for ctx.Err() == nil {
		var wake <-chan struct{}
		if an != nil {
			// Taken before reading, so an announcement during the read
			// wakes the next wait.
			wake = an.Announced()
		}
		h.mu.Lock()
		after := h.pos
		h.mu.Unlock()
		changes, err := h.s.changes.ConfigChanges(ctx, after, followBatch)
		switch {
		case err != nil && ctx.Err() == nil:
			if msg := err.Error(); msg != failing {
				failing = msg
				h.s.log.Warn("cannot read the configuration change log: event streams wait", "error", msg)
			}
		case err == nil:
			if failing != "" {
				failing = ""
				h.s.log.Info("the configuration change log reads again")
			}
			h.s.evictCached(changes)
			if h.deliver(ctx, changes) && len(changes) == followBatch {
				continue
			}
		}
		t.Reset(h.s.streams.Poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-wake:
		}
	}
}

// deliver hands changes to the streams they concern and moves h.pos past
// them; false when the follower was stopped meanwhile. A stream whose
// buffer is full is dropped, never waited for: its client reconnects with
// Last-Event-ID and reads the rest from the log.
func (h *hub) deliver(ctx context.Context, changes []registry.ConfigChange) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ctx.Err() != nil {
		return false // a newer follower may run: h.pos is its
	}
	send := func(sub *subscriber, c registry.ConfigChange) {
		if sub.gone {
			return
		}
		select {
		case sub.ch <- c:
		default:
			sub.gone = true
			close(sub.dropped)
			h.s.streamMetrics.slow.Inc()
		}
	}
	for _, c := range changes {
		if c.Seq <= h.pos {
			continue
		}
		h.pos = c.Seq
		if c.User == "" {
			for _, set := range h.byUser {
				for sub := range set {
					send(sub, c)
				}
			}
		} else {
			for sub := range h.byUser[c.User] {
				send(sub, c)
			}
		}
		for sub := range h.all {
			send(sub, c)
		}
	}
	return true
}

// evictCached drops what the configuration API's cache holds of the users
// changes concern, before their events go out: a client that reads its
// configuration on an event then reads the change, even within the time
// the cache would answer without reading the log.
func (s *Server) evictCached(changes []registry.ConfigChange) {
	if s.config == nil || s.config.cache == nil {
		return
	}
	for _, c := range changes {
		s.config.cache.evict(c.User)
	}
}
