package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Recorder is the usage log's EventSink: it queues each event in a bounded
// queue and one goroutine writes them to the store in batches (at most a
// batch size of events, or what arrived in one flush interval), so
// verification never waits on the store. When the queue is full the event
// is dropped and counted; a failed write is retried with backoff and then
// its events are counted as dropped, with a log line saying why. Drops are
// reported (WithDropReport: the audit chain) at most once per report
// interval. Build one with NewRecorder and end it with Close.
type Recorder struct {
	log store.UsageLog
	// The queue: the events waiting for the writer, oldest first, at most
	// queueCap. A slice the writer swaps for a fresh one, not a channel: a
	// channel of 65,536 events is a 17 MiB buffer of pointers that every
	// garbage collection scans in full, however few events it holds
	// (about 2% of a busy server's CPU); the slice holds what is queued,
	// and is the batch the writer hands the store.
	qmu         sync.Mutex
	pending     []store.UsageEvent
	queueCap    int
	kick        chan struct{} // a batch's worth is queued (cap 1)
	kickAt      int           // the queue's length that kicks the writer
	batchSize   int
	interval    time.Duration
	retries     int
	backoff     time.Duration
	reportEvery time.Duration
	report      func(context.Context, DroppedUsage) error
	logger      *slog.Logger
	now         func() time.Time

	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context // the writes'; cancelled when Close gives up
	cancel context.CancelFunc

	overflowN atomic.Int64 // events dropped since start because the queue was full
	failedN   atomic.Int64 // events dropped since start because their write failed
	writtenN  atomic.Int64
	written   prometheus.Counter
	dropped   prometheus.CounterFunc
	depth     prometheus.GaugeFunc

	mu      sync.Mutex
	failing string // why the last write failed; empty once one succeeds

	// The writer's own state.
	reportedOverflow, reportedFailed int64     // the counts at the last report
	reportedAt                       time.Time // when drops were last reported (or the start)
	triedAt                          time.Time // when a report was last tried
	lastWhy                          string    // why the last failed write failed
	loggedAt                         time.Time // when a failed write was last logged
	loggedWhy                        string
}

// DroppedUsage is what a Recorder reports of the events it dropped since
// its last report.
type DroppedUsage struct {
	Count        int64
	Since, Until time.Time
	Why          string // the last reason: the queue was full, or why a write failed
}

// Recorder defaults.
const (
	DefaultUsageQueue = 65536
	// DefaultUsageBatch: each write of a batch costs the store a fixed
	// amount beside its events (a transaction, the COPY's set-up on
	// PostgreSQL, the rollup's upsert, a commit's flush); at 5,000 events
	// a batch that is a fifth of what 1,000 paid, about 1 µs of
	// PostgreSQL's CPU an event (BenchmarkAppendUsageBatch), while a
	// batch still takes a busy server a fraction of a second to queue.
	DefaultUsageBatch    = 5000
	DefaultUsageInterval = time.Second
	// The write of one batch, beyond which it counts as failed.
	usageWriteTimeout = 10 * time.Second
)

// RecorderOption configures a Recorder.
type RecorderOption func(*Recorder)

// WithUsageQueue sets how many events may wait for the writer (default
// DefaultUsageQueue); past that they are dropped.
func WithUsageQueue(n int) RecorderOption {
	return func(r *Recorder) {
		if n > 0 {
			r.queueCap = n
		}
	}
}

// WithUsageBatch sets the most events one write holds and how long an event
// waits at most for its write (defaults DefaultUsageBatch, DefaultUsageInterval).
func WithUsageBatch(size int, interval time.Duration) RecorderOption {
	return func(r *Recorder) {
		if size > 0 {
			r.batchSize = size
		}
		if interval > 0 {
			r.interval = interval
		}
	}
}

// WithUsageRetries sets how often a failed write is tried again, the first
// wait and how the waits double (defaults 3 and 100ms).
func WithUsageRetries(n int, backoff time.Duration) RecorderOption {
	return func(r *Recorder) { r.retries, r.backoff = max(n, 0), backoff }
}

// WithDropReport sets where drops are reported, at most once per every
// (default a minute) and once more on Close: the audit chain, in tokenward
// serve (registry.RecordUsageDropped).
func WithDropReport(every time.Duration, f func(context.Context, DroppedUsage) error) RecorderOption {
	return func(r *Recorder) {
		r.report = f
		if every > 0 {
			r.reportEvery = every
		}
	}
}

// WithRecorderLogger sets where the recorder logs failed writes and drops.
func WithRecorderLogger(l *slog.Logger) RecorderOption { return func(r *Recorder) { r.logger = l } }

// WithRecorderClock sets the clock of the drop reports.
func WithRecorderClock(now func() time.Time) RecorderOption { return func(r *Recorder) { r.now = now } }

// NewRecorder starts a recorder writing to log.
func NewRecorder(log store.UsageLog, opts ...RecorderOption) *Recorder {
	r := &Recorder{log: log, queueCap: DefaultUsageQueue, batchSize: DefaultUsageBatch, interval: DefaultUsageInterval,
		retries: 3, backoff: 100 * time.Millisecond, reportEvery: time.Minute,
		logger: slog.New(slog.DiscardHandler), now: time.Now,
		stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1)}
	for _, o := range opts {
		o(r)
	}
	r.pending = make([]store.UsageEvent, 0, min(r.batchSize, r.queueCap))
	// A queue shorter than two batches kicks at half its size, so it
	// never fills while the writer sleeps.
	r.kickAt = max(1, min(r.batchSize, r.queueCap/2))
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.written = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tokenward_usage_events_written_total",
		Help: "Usage events written to the store's usage log.",
	})
	r.dropped = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tokenward_usage_events_dropped_total",
		Help: "Usage events dropped: the queue was full, or their write failed after its retries (the log says why).",
	}, func() float64 { return float64(r.Dropped()) })
	r.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tokenward_usage_queue_depth",
		Help: "Usage events waiting to be written.",
	}, func() float64 { return float64(r.queued()) })
	r.reportedAt = r.now() // triedAt stays zero: the first drops are reported at once
	go r.run()
	return r
}

// Record queues ev for the usage log; it never blocks. A full queue, or a
// recorder closing, drops the event and counts it.
func (r *Recorder) Record(ev store.UsageEvent) {
	if r.closed.Load() {
		r.overflowN.Add(1)
		return
	}
	r.qmu.Lock()
	n := len(r.pending)
	if n >= r.queueCap {
		r.qmu.Unlock()
		r.overflowN.Add(1)
		return
	}
	r.pending = append(r.pending, ev)
	r.qmu.Unlock()
	// The writer sleeps until a batch is queued or the interval ends: one
	// wake-up a batch, not one an event.
	if n+1 >= r.kickAt {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// queued is the number of events waiting for the writer.
func (r *Recorder) queued() int {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	return len(r.pending)
}

// take takes the queued events, leaving a fresh slice of a batch's
// capacity to queue into (made before the lock is taken, so Record never
// waits for the allocation). With batches, it takes only the batches a
// kick writes: of the batch size, the last one at least the kick's size;
// the rest stays queued for the next kick or the interval.
func (r *Recorder) take(batches bool) []store.UsageEvent {
	fresh := make([]store.UsageEvent, 0, min(r.batchSize, r.queueCap))
	r.qmu.Lock()
	events := r.pending
	if batches {
		rest := len(events)
		for rest >= r.kickAt {
			rest -= min(rest, r.batchSize)
		}
		n := len(events) - rest
		fresh = append(fresh, events[n:]...)
		events = events[:n:n]
	}
	r.pending = fresh
	r.qmu.Unlock()
	return events
}

// Written and Dropped are the events written and dropped since start.
func (r *Recorder) Written() int64 { return r.writtenN.Load() }

// Dropped is the number of events dropped since start.
func (r *Recorder) Dropped() int64 { return r.overflowN.Load() + r.failedN.Load() }

// Status says whether the usage log is written: "on", or why the last write
// failed.
func (r *Recorder) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing != "" {
		return "on, but writing fails: " + r.failing
	}
	return "on"
}

// Close writes what is queued and stops the writer. When ctx ends first
// (the shutdown timeout), the writes in progress are abandoned and what was
// not written is counted as dropped.
func (r *Recorder) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		<-r.done
		return nil
	}
	before := r.Dropped()
	close(r.stop)
	select {
	case <-r.done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		<-r.done
		return fmt.Errorf("usage log: write the queued events on shutdown: %w (%d events dropped)",
			ctx.Err(), r.Dropped()-before)
	}
}

// Describe and Collect make the recorder a prometheus.Collector, which
// server.New registers on the server's registry.
func (r *Recorder) Describe(ch chan<- *prometheus.Desc) {
	r.written.Describe(ch)
	r.dropped.Describe(ch)
	r.depth.Describe(ch)
}

// Collect collects the recorder's metrics.
func (r *Recorder) Collect(ch chan<- prometheus.Metric) {
	r.written.Collect(ch)
	r.dropped.Collect(ch)
	r.depth.Collect(ch)
}

// run is the writer: it batches the queue's events until Close. It sleeps
// until Record kicks it (a batch is queued) or the flush interval ends, so
// an event waits at most the interval for its write.
func (r *Recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-r.kick:
			for r.queued() >= r.kickAt {
				r.write(r.take(true))
			}
		case <-tick.C:
			r.write(r.take(false))
			r.reportDrops(false)
		case <-r.stop:
			r.write(r.take(false))
			r.reportDrops(true)
			return
		}
	}
}

// write writes events in batches of at most the batch size. The store
// may keep the slices it was given: the queue never appends to them
// again (take left it a fresh one).
func (r *Recorder) write(events []store.UsageEvent) {
	for len(events) > 0 {
		n := min(len(events), r.batchSize)
		r.flush(events[:n:n])
		events = events[n:]
	}
}

// flush writes a batch, retrying a failed write.
func (r *Recorder) flush(batch []store.UsageEvent) {
	var err error
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.ctx, usageWriteTimeout)
		err = r.log.AppendUsage(ctx, batch)
		cancel()
		if err == nil {
			r.writtenN.Add(int64(len(batch)))
			r.written.Add(float64(len(batch)))
			r.setFailing("")
			return
		}
		if attempt >= r.retries || r.ctx.Err() != nil {
			break
		}
		t := time.NewTimer(r.backoff << attempt)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
		}
	}
	why := writeFailure(err)
	r.failedN.Add(int64(len(batch)))
	r.lastWhy = why
	r.setFailing(why)
	if now := r.now(); why != r.loggedWhy || now.Sub(r.loggedAt) >= r.reportEvery {
		r.loggedAt, r.loggedWhy = now, why
		r.logger.Error("usage log: a batch of events could not be written and is dropped",
			"events", len(batch), "attempts", r.retries+1, "why", why)
	}
}

func (r *Recorder) setFailing(why string) {
	r.mu.Lock()
	r.failing = why
	r.mu.Unlock()
}

// reportDrops reports the events dropped since the last report, at most
// once per report interval unless final.
func (r *Recorder) reportDrops(final bool) {
	overflow, failed := r.overflowN.Load()-r.reportedOverflow, r.failedN.Load()-r.reportedFailed
	n, now := overflow+failed, r.now()
	if n <= 0 || (!final && now.Sub(r.triedAt) < r.reportEvery) {
		return
	}
	r.triedAt = now
	var why []string
	if overflow > 0 {
		why = append(why, fmt.Sprintf("%d: the queue was full", overflow))
	}
	if failed > 0 {
		why = append(why, fmt.Sprintf("%d: their write failed: %s", failed, r.lastWhy))
	}
	d := DroppedUsage{Count: n, Since: r.reportedAt, Until: now, Why: strings.Join(why, "; ")}
	r.logger.Warn("usage log: events dropped", "events", n, "since", d.Since.UTC().Format(time.RFC3339), "why", d.Why)
	if r.report != nil {
		ctx, cancel := context.WithTimeout(r.ctx, usageWriteTimeout)
		err := r.report(ctx, d)
		cancel()
		if err != nil {
			r.logger.Error("usage log: the dropped events could not be recorded in the audit chain", "events", n, "err", err)
			return // reported again next time, with the drops since
		}
	}
	r.reportedOverflow += overflow
	r.reportedFailed += failed
	r.reportedAt = now
}

// writeFailure says why a write failed, and for a PostgreSQL role without
// the grant, which grant it lacks. It never holds a value: store errors
// name tables and roles, not events' contents.
func writeFailure(err error) string {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) && pg.SQLState() == "42501" {
		return fmt.Sprintf("the store's role may not write the usage log (%v): grant it INSERT on usage_events, "+
			"USAGE on the sequence usage_events_seq_seq and SELECT, INSERT, UPDATE on usage_daily (the usage guide, docs/guides/usage.md)", err)
	}
	if errors.Is(err, store.ErrReadOnly) {
		return "the store was opened read-only"
	}
	return strings.TrimSpace(err.Error())
}
