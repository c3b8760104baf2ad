package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// The configuration's change events (issue 15): GET /v1/users/{user}/events
// and GET /v1/events are Server-Sent Events streams of the change log. Each
// event's id is the log's sequence number, so a client that reconnects with
// Last-Event-ID gets what it missed. The events:
//
//	event: change    data: {"revision": N, "keys": [...]}                  (GET /v1/users/{user}/events)
//	event: change    data: {"user": U, "revision": N, "keys": [...]}       (GET /v1/events; user null: a setting changed, every user's configuration with it)
//	event: gap       data: {"revision": N, "last_event_id": L, "oldest": O} Last-Event-ID is older than the log keeps: read the configuration again
//	event: shutdown  data: {"reason": "..."}                               the instance stops: reconnect with Last-Event-ID
//	event: denied    data: {"reason": "..."}                               the caller's token no longer grants the stream
//
// and a comment (": keep-alive") every keep-alive period.

// Event names of the streams.
const (
	EventChange   = "change"
	EventGap      = "gap"
	EventShutdown = "shutdown"
	EventDenied   = "denied"
)

// StreamConfig bounds and paces the event streams; a zero field takes its
// default.
type StreamConfig struct {
	// MaxStreams bounds the streams one instance holds open (default
	// 10,000); past it a stream is refused with 503.
	MaxStreams int
	// MaxPerToken bounds the streams one caller token holds open on one
	// instance (default 2,500, a quarter of the default MaxStreams, so
	// one caller cannot take them all); past it 429.
	MaxPerToken int
	// KeepAlive is how long a stream may stay silent before a comment is
	// sent, so that proxies keep it (default 15s).
	KeepAlive time.Duration
	// Recheck is how often a stream's caller token is verified again
	// against the snapshot (default 2s): a revoked token, or one that lost
	// its scope, loses its stream within that.
	Recheck time.Duration
	// Poll is how often the change log is read when no change is announced
	// (default 250ms).
	Poll time.Duration
	// Buffer is how many events may wait for one slow client before it is
	// disconnected (default 64).
	Buffer int
	// WriteWindow is how long a client may take to accept one event, on
	// top of the keep-alive period (default 10s); past it, it is
	// disconnected.
	WriteWindow time.Duration
}

// Defaults of StreamConfig.
const (
	DefaultMaxStreams         = 10000
	DefaultMaxStreamsPerToken = 2500
	defaultKeepAlive          = 15 * time.Second
	defaultRecheck            = 2 * time.Second
	defaultStreamBuffer       = 64
	defaultWriteWindow        = 10 * time.Second
	// streamRetry is the reconnection delay the streams ask of clients.
	streamRetry = time.Second
)

// withDefaults fills the zero fields of c.
func (c StreamConfig) withDefaults() StreamConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxStreams, DefaultMaxStreams)
	def(&c.MaxPerToken, DefaultMaxStreamsPerToken)
	def(&c.Buffer, defaultStreamBuffer)
	defd(&c.KeepAlive, defaultKeepAlive)
	defd(&c.Recheck, defaultRecheck)
	defd(&c.Poll, DefaultPollInterval)
	defd(&c.WriteWindow, defaultWriteWindow)
	return c
}

// WithStreams sets the event streams' bounds and pace.
func WithStreams(c StreamConfig) Option { return func(s *Server) { s.streams = c } }

// WithChangeLog sets where the event streams read the change log; the
// default is the configuration API's store (WithConfigStore, or the
// registry of WithRegistryAccess).
func WithChangeLog(cl ChangeLog) Option { return func(s *Server) { s.changes = cl } }

// streamMetrics are the streams' collectors.
type streamMetrics struct {
	open   prometheus.Gauge
	events prometheus.Counter
	slow   prometheus.Counter
	ended  *prometheus.CounterVec
}

// streamRoutes registers the event streams and their metrics.
func (s *Server) streamRoutes(mux *http.ServeMux) {
	s.streams = s.streams.withDefaults()
	if s.changes == nil {
		if cs := s.configAPI().store; cs != nil {
			s.changes = cs
		}
	}
	s.hub = newHub(s)
	s.streamMetrics = streamMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tokenward_config_streams_open",
			Help: "Configuration event streams open on this instance."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "tokenward_config_stream_events_total",
			Help: "Events sent on the configuration event streams, replays and gaps included."}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{Name: "tokenward_config_streams_slow_total",
			Help: "Event streams disconnected because their client did not keep up."}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenward_config_streams_ended_total",
			Help: "Event streams ended by the server, by reason (slow, denied, shutdown, write_failed)."}, []string{"reason"}),
	}
	s.metrics.reg.MustRegister(s.streamMetrics.open, s.streamMetrics.events, s.streamMetrics.slow, s.streamMetrics.ended)
	mux.Handle("GET /v1/users/{user}/events", s.route("user_events", func(w http.ResponseWriter, r *http.Request) {
		s.stream(w, r, r.PathValue("user"), false)
	}))
	mux.Handle("GET /v1/events", s.route("events", func(w http.ResponseWriter, r *http.Request) {
		s.stream(w, r, "", true)
	}))
}

// changeEvent is the data of a change event; User is left out of a
// user's own stream.
type changeEvent struct {
	User     *string  `json:"user,omitempty"`
	Revision int64    `json:"revision"`
	Keys     []string `json:"keys"`
}

// allUsersEvent is changeEvent on GET /v1/events, where user is always
// present: null for a setting's change.
type allUsersEvent struct {
	User     *string  `json:"user"`
	Revision int64    `json:"revision"`
	Keys     []string `json:"keys"`
}

type gapEvent struct {
	Revision    int64 `json:"revision"`
	LastEventID int64 `json:"last_event_id"`
	Oldest      int64 `json:"oldest"`
}

type reasonEvent struct {
	Reason string `json:"reason"`
}

// stream serves one event stream: user's changes, or every user's when
// all.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, user string, all bool) {
	if s.changes == nil {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: "this server has no configuration change log: it serves verification only"})
		return
	}
	if !all {
		var ok bool
		if user, ok = configUser(w, r); !ok {
			return
		}
	}
	caller, ok := s.streamCaller(w, r, user)
	if !ok {
		return
	}
	last, resume, err := lastEventID(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	ctx := r.Context()
	sub, pos, err := s.hub.subscribe(ctx, user, all, caller.token)
	switch {
	case errors.Is(err, errTooManyStreams):
		w.Header().Set("Retry-After", retryAfter(5*time.Second))
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: err.Error() + ": try again later or another instance"})
		return
	case errors.Is(err, errTooManyTokenStreams):
		w.Header().Set("Retry-After", retryAfter(5*time.Second))
		writeJSON(w, http.StatusTooManyRequests, oauthError{Error: "too_many_streams",
			Description: err.Error() + ": close some, or follow every user on one stream (GET /v1/events)"})
		return
	case err != nil:
		s.log.Warn("open an event stream: read the change log", "error", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable", Description: "the change log cannot be read now"})
		return
	}
	defer s.hub.unsubscribe(sub)

	// after: a client resuming from an instance whose follower is ahead of
	// this one's is not sent again what it has.
	es := &eventStream{w: w, rc: http.NewResponseController(w), s: s, all: all, after: last}
	// The route's deadlines are a request's: a stream has none for reading
	// (a read deadline passing would cancel its context), and each write
	// moves the write deadline on (raw).
	s.deadline("events", es.rc.SetReadDeadline(time.Time{}))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Authorization")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	if !es.raw(fmt.Sprintf("retry: %d\n\n", streamRetry.Milliseconds())) {
		return
	}
	if resume && !s.catchUp(ctx, es, user, last, pos) {
		return
	}
	shutdown := shuttingDown(ctx)
	tick := time.NewTicker(min(s.streams.Recheck, s.streams.KeepAlive))
	defer tick.Stop()
	for {
		select {
		case c := <-sub.ch:
			// Checked before every event, not only on the tick: a caller
			// whose scope was removed a moment ago hears nothing more.
			if why := s.streamAllowed(caller, user); why != "" {
				s.streamMetrics.ended.WithLabelValues("denied").Inc()
				es.event(EventDenied, "", reasonEvent{Reason: why})
				return
			}
			if !es.change(c) {
				return
			}
		case <-sub.dropped:
			s.streamMetrics.ended.WithLabelValues("slow").Inc()
			return
		case <-shutdown:
			s.streamMetrics.ended.WithLabelValues("shutdown").Inc()
			es.event(EventShutdown, "", reasonEvent{Reason: "this instance is shutting down: reconnect with Last-Event-ID"})
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			if why := s.streamAllowed(caller, user); why != "" {
				s.streamMetrics.ended.WithLabelValues("denied").Inc()
				es.event(EventDenied, "", reasonEvent{Reason: why})
				return
			}
			if time.Since(es.wrote) >= s.streams.KeepAlive && !es.raw(": keep-alive\n\n") {
				return
			}
		}
	}
}

// catchUp sends what a reconnecting client missed after last, up to pos
// (where the hub's events begin): the log's entries, or, when last is
// older than the log keeps, the current revision in a gap event. False
// when the stream must end.
func (s *Server) catchUp(ctx context.Context, es *eventStream, user string, last, pos int64) bool {
	oldest, head, err := s.changes.ConfigChangeWindow(ctx)
	if err != nil {
		s.log.Warn("replay an event stream: read the change log", "error", err.Error())
		return false
	}
	// The log's numbers are dense, and oldest is head+1 when it keeps
	// none: nothing was pruned after last when oldest <= last+1. An id past
	// the head is of another store, or of a store restored from a backup.
	gap := last > head || oldest > last+1
	if gap {
		rev := pos
		if user != "" {
			cfg, err := s.changes.ReadUserConfig(ctx, user, false)
			if err != nil {
				s.log.Warn("replay an event stream: read the user's configuration", "error", err.Error())
				return false
			}
			rev = cfg.Revision
		}
		es.after = pos
		return es.event(EventGap, strconv.FormatInt(pos, 10), gapEvent{Revision: rev, LastEventID: last, Oldest: oldest})
	}
	for after := last; after < pos; {
		changes, err := s.changes.ConfigChanges(ctx, after, followBatch)
		if err != nil {
			s.log.Warn("replay an event stream: read the change log", "error", err.Error())
			return false
		}
		if len(changes) == 0 {
			return true
		}
		// Not evicted from the cache here: these changes are older than
		// where the hub's follower stands, and a reconnecting caller must
		// not be able to empty the cache of every user at will (the cache
		// follows the log on its own).
		for _, c := range changes {
			if c.Seq > pos {
				return true // the hub sends it
			}
			after = c.Seq
			if (user == "" || c.User == "" || c.User == user) && !es.change(c) {
				return false
			}
		}
	}
	return true
}

// lastEventID reads the Last-Event-ID header: a change's sequence number.
func lastEventID(r *http.Request) (int64, bool, error) {
	v := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, errors.New("Last-Event-ID must be the id of an event of this stream: a whole number, 0 or more")
	}
	return n, true, nil
}

// eventStream writes the events of one stream.
type eventStream struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	s     *Server
	all   bool
	after int64     // changes up to this sequence number were sent
	wrote time.Time // the last write, for the keep-alive
}

// change sends a change of the log.
func (es *eventStream) change(c registry.ConfigChange) bool {
	if c.Seq <= es.after {
		return true
	}
	es.after = c.Seq
	keys := c.Keys
	if keys == nil {
		keys = []string{}
	}
	var data any = changeEvent{Revision: c.Seq, Keys: keys}
	if es.all {
		ev := allUsersEvent{Revision: c.Seq, Keys: keys}
		if c.User != "" {
			u := c.User
			ev.User = &u
		}
		data = ev
	}
	return es.event(EventChange, strconv.FormatInt(c.Seq, 10), data)
}

// event sends one event; data is one line of JSON.
func (es *eventStream) event(name, id string, data any) bool {
	b, err := json.Marshal(data)
	if err != nil {
		return false
	}
	var sb strings.Builder
	if id != "" {
		sb.WriteString("id: " + id + "\n")
	}
	sb.WriteString("event: " + name + "\ndata: ")
	sb.Write(b)
	sb.WriteString("\n\n")
	if !es.raw(sb.String()) {
		return false
	}
	es.s.streamMetrics.events.Inc()
	return true
}

// raw writes and flushes text within the write window. The deadline it
// sets lasts until the next keep-alive is due, and its window past that:
// over HTTP/2 a write deadline that passes ends the stream even when
// nothing is being written.
func (es *eventStream) raw(text string) bool {
	c := es.s.streams
	es.s.deadline("events", es.rc.SetWriteDeadline(time.Now().Add(c.KeepAlive+c.Recheck+c.WriteWindow)))
	if _, err := es.w.Write([]byte(text)); err != nil {
		es.s.streamMetrics.ended.WithLabelValues("write_failed").Inc()
		return false
	}
	if err := es.rc.Flush(); err != nil {
		es.s.streamMetrics.ended.WithLabelValues("write_failed").Inc()
		return false
	}
	es.wrote = time.Now()
	return true
}

// shutdownKey is the context key under which Serve puts a channel closed
// when the server begins to shut down.
type shutdownKey struct{}

// shuttingDown is the channel Serve closes when it begins to shut down;
// nil (never ready) when the handler runs outside Serve.
func shuttingDown(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(shutdownKey{}).(<-chan struct{})
	return ch
}
