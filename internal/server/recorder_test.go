package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// memUsage is an in-memory store.UsageLog: it keeps the batches it is
// given, and fails or blocks a write when the test says so.
type memUsage struct {
	mu      sync.Mutex
	batches [][]store.UsageEvent
	calls   int
	fail    func(call int) error // nil: every write succeeds
	entered chan struct{}        // when set, each write signals it...
	release chan struct{}        // ...and waits for this (or its context)
}

func (m *memUsage) AppendUsage(ctx context.Context, evs []store.UsageEvent) error {
	m.mu.Lock()
	m.calls++
	call, fail, entered, release := m.calls, m.fail, m.entered, m.release
	m.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(call); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches = append(m.batches, append([]store.UsageEvent(nil), evs...))
	return nil
}

func (m *memUsage) sizes() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n []int
	for _, b := range m.batches {
		n = append(n, len(b))
	}
	return n
}

func (m *memUsage) Usage(context.Context, store.UsageQuery) ([]store.UsageEvent, error) {
	return nil, errors.New("not kept")
}
func (m *memUsage) UsageSummary(context.Context, store.UsageQuery) ([]store.UsageSummary, error) {
	return nil, errors.New("not kept")
}
func (m *memUsage) LastUsed(context.Context, string) (time.Time, string, bool, error) {
	return time.Time{}, "", false, errors.New("not kept")
}
func (m *memUsage) PruneUsage(context.Context, time.Time) (store.UsagePruned, error) {
	return store.UsagePruned{}, errors.New("not kept")
}
func (m *memUsage) EnsureUsagePartitions(context.Context, time.Time, int) error { return nil }

// pgDenied is an error as pgx reports a missing grant.
type pgDenied struct{}

func (pgDenied) Error() string {
	return "ERROR: permission denied for table usage_events (SQLSTATE 42501)"
}
func (pgDenied) SQLState() string { return "42501" }

// eventually polls cond until it holds, for at most a few seconds.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func events(n int) []store.UsageEvent {
	evs := make([]store.UsageEvent, n)
	for i := range evs {
		evs[i] = store.UsageEvent{VersionID: fmt.Sprintf("v%06d", i), Code: "valid", Endpoint: "verify"}
	}
	return evs
}

// reports keeps the drop reports a recorder makes.
type reports struct {
	mu   sync.Mutex
	seen []server.DroppedUsage
}

func (r *reports) add(_ context.Context, d server.DroppedUsage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, d)
	return nil
}

func (r *reports) all() []server.DroppedUsage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]server.DroppedUsage(nil), r.seen...)
}

// TestRecorderBatches checks that events are written in batches of at most
// the batch size, in order, each once, and that Close writes the rest.
func TestRecorderBatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		n, batch int
		want     []int
	}{
		{"full batches and a rest", 25, 10, []int{10, 10, 5}},
		{"one short batch", 3, 10, []int{3}},
		{"exact", 20, 10, []int{10, 10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := &memUsage{}
			rec := server.NewRecorder(m, server.WithUsageBatch(c.batch, time.Hour))
			for _, ev := range events(c.n) {
				rec.Record(ev)
			}
			full := c.n / c.batch * c.batch
			pollUntil(t, "full batches written", func() bool { return rec.Written() == int64(full) })
			if err := rec.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := m.sizes(); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("batches %v, want %v", got, c.want)
			}
			i := 0
			for _, b := range m.batches {
				for _, ev := range b {
					if ev.VersionID != fmt.Sprintf("v%06d", i) {
						t.Fatalf("event %d is %s", i, ev.VersionID)
					}
					i++
				}
			}
			if rec.Written() != int64(c.n) || rec.Dropped() != 0 {
				t.Errorf("written %d dropped %d, want %d and 0", rec.Written(), rec.Dropped(), c.n)
			}
		})
	}
}

// TestRecorderInterval checks that a batch short of the size is written
// after the flush interval, without Close.
func TestRecorderInterval(t *testing.T) {
	t.Parallel()
	m := &memUsage{}
	rec := server.NewRecorder(m, server.WithUsageBatch(1000, 20*time.Millisecond))
	defer rec.Close(context.Background())
	start := time.Now()
	for _, ev := range events(3) {
		rec.Record(ev)
	}
	pollUntil(t, "3 events written", func() bool { return rec.Written() == 3 })
	t.Logf("written after %v", time.Since(start))
}

// TestRecorderOverflow checks that a full queue drops, counts (metric and
// audit report) and never blocks Record.
func TestRecorderOverflow(t *testing.T) {
	t.Parallel()
	m := &memUsage{entered: make(chan struct{}, 1), release: make(chan struct{})}
	rep := &reports{}
	reg := prometheus.NewRegistry()
	rec := server.NewRecorder(m, server.WithUsageQueue(4), server.WithUsageBatch(1, time.Hour),
		server.WithDropReport(time.Minute, rep.add))
	reg.MustRegister(rec)
	evs := events(8)
	rec.Record(evs[0])
	<-m.entered // the writer holds the first event and waits in its write
	for _, ev := range evs[1:] {
		rec.Record(ev) // 4 fit the queue; 3 are dropped
	}
	if got := rec.Dropped(); got != 3 {
		t.Errorf("dropped %d, want 3", got)
	}
	close(m.release)
	go func() {
		for range m.entered {
		}
	}()
	if err := rec.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rec.Written() != 5 {
		t.Errorf("written %d, want 5", rec.Written())
	}
	want := map[string]float64{"tokenward_usage_events_dropped_total": 3, "tokenward_usage_events_written_total": 5, "tokenward_usage_queue_depth": 0}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		v := mf.GetMetric()[0]
		got := v.GetCounter().GetValue() + v.GetGauge().GetValue()
		if w, ok := want[mf.GetName()]; !ok || got != w {
			t.Errorf("%s = %v, want %v", mf.GetName(), got, w)
		}
		delete(want, mf.GetName())
	}
	if len(want) > 0 {
		t.Errorf("metrics missing: %v", want)
	}
	if r := rep.all(); len(r) != 1 || r[0].Count != 3 || !strings.Contains(r[0].Why, "queue was full") {
		t.Errorf("drop reports %+v, want one of 3, the queue full", r)
	}
}

// TestRecorderWriteFailure checks retries, and that a write that keeps
// failing drops its batch saying why (for PostgreSQL, the grant).
func TestRecorderWriteFailure(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		fail        func(call int) error
		dropped     int64
		wantLog     string
		wantStatus  string
		wantReports int
	}{
		{"transient", func(call int) error {
			if call <= 2 {
				return errors.New("connection reset")
			}
			return nil
		}, 0, "", "on", 0},
		{"no grant", func(int) error { return fmt.Errorf("append usage: %w", pgDenied{}) }, 5,
			"grant it INSERT on usage_events", "on, but writing fails: the store's role may not write the usage log", 1},
		{"read-only", func(int) error { return fmt.Errorf("append usage: %w", store.ErrReadOnly) }, 5,
			"the store was opened read-only", "on, but writing fails: the store was opened read-only", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			logs := &lockedBuffer{}
			rep := &reports{}
			m := &memUsage{fail: c.fail}
			rec := server.NewRecorder(m, server.WithUsageBatch(5, time.Hour), server.WithUsageRetries(2, time.Millisecond),
				server.WithRecorderLogger(slog.New(slog.NewTextHandler(logs, nil))), server.WithDropReport(time.Minute, rep.add))
			for _, ev := range events(5) {
				rec.Record(ev)
			}
			pollUntil(t, "the batch handled", func() bool { return rec.Written()+rec.Dropped() == 5 })
			if got := rec.Status(); !strings.HasPrefix(got, c.wantStatus) {
				t.Errorf("status %q, want %q...", got, c.wantStatus)
			}
			if err := rec.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if rec.Dropped() != c.dropped {
				t.Errorf("dropped %d, want %d", rec.Dropped(), c.dropped)
			}
			if c.wantLog != "" && !strings.Contains(logs.String(), c.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), c.wantLog)
			}
			if r := rep.all(); len(r) != c.wantReports || c.wantReports > 0 && !strings.Contains(r[0].Why, "write failed") {
				t.Errorf("drop reports %+v", r)
			}
		})
	}
}

// TestRecorderReportsOncePerInterval checks that drops are reported at
// most once per report interval, and the rest on Close.
func TestRecorderReportsOncePerInterval(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	var reads atomic.Int64 // the writer reads the clock on every tick
	now := func() time.Time { reads.Add(1); return clock.Now() }
	m := &memUsage{fail: func(int) error { return errors.New("disk full") }}
	rep := &reports{}
	rec := server.NewRecorder(m, server.WithUsageBatch(1, 2*time.Millisecond), server.WithUsageRetries(0, 0),
		server.WithRecorderClock(now), server.WithDropReport(time.Minute, rep.add))
	rec.Record(events(1)[0])
	pollUntil(t, "the first drop reported", func() bool { return len(rep.all()) == 1 })
	clock.Advance(10 * time.Second)
	rec.Record(events(1)[0])
	pollUntil(t, "the second drop counted", func() bool { return rec.Dropped() == 2 })
	// Ticks pass; within the minute nothing more is reported.
	before := reads.Load()
	pollUntil(t, "ticks", func() bool { return reads.Load() >= before+5 })
	if n := len(rep.all()); n != 1 {
		t.Fatalf("%d reports within a minute, want 1", n)
	}
	clock.Advance(time.Minute)
	pollUntil(t, "the second report after the minute", func() bool { return len(rep.all()) == 2 })
	r := rep.all()
	if r[0].Count != 1 || r[1].Count != 1 || !r[1].Since.Equal(r[0].Until) {
		t.Errorf("reports %+v", r)
	}
	if err := rec.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(rep.all()); n != 2 {
		t.Errorf("%d reports after Close with nothing new, want 2", n)
	}
}

// TestRecorderCloseTimeout checks that Close gives up at its deadline and
// counts what it could not write.
func TestRecorderCloseTimeout(t *testing.T) {
	t.Parallel()
	m := &memUsage{entered: make(chan struct{}, 10), release: make(chan struct{})} // never released
	rec := server.NewRecorder(m, server.WithUsageBatch(2, time.Hour), server.WithUsageRetries(0, 0))
	for _, ev := range events(4) {
		rec.Record(ev)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := rec.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the deadline", err)
	}
	if rec.Dropped() != 4 || rec.Written() != 0 {
		t.Errorf("dropped %d written %d, want 4 and 0", rec.Dropped(), rec.Written())
	}
	rec.Record(events(1)[0]) // after Close: dropped, never blocks
	if rec.Dropped() != 5 {
		t.Errorf("a record after Close: dropped %d", rec.Dropped())
	}
}
