package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// countingLog is a ChangeLog that counts its reads and holds no changes.
type countingLog struct {
	mu    sync.Mutex
	reads int
}

func (c *countingLog) ConfigChanges(context.Context, int64, int) ([]registry.ConfigChange, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return nil, nil
}

func (c *countingLog) ConfigChangeWindow(context.Context) (int64, int64, error) { return 0, 10, nil }

func (c *countingLog) ReadUserConfig(_ context.Context, user string, _ bool) (registry.UserConfig, error) {
	return registry.UserConfig{User: user}, nil
}

func (c *countingLog) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// noSnapshots is a Snapshots with nothing loaded: the hub needs none.
type noSnapshots struct{}

func (noSnapshots) Current() (*Snapshot, error) { return nil, ErrNotLoaded }
func (noSnapshots) Status() Status              { return Status{} }

// TestHubDropsASlowStream: a stream that does not take its events is
// dropped once its buffer is full, while another stream of the same user
// gets every event; the hub never waits.
func TestHubDropsASlowStream(t *testing.T) {
	t.Parallel()
	const buffer = 4
	s := New(noSnapshots{}, WithChangeLog(&countingLog{}), WithStreams(StreamConfig{Buffer: buffer, Poll: time.Hour}))
	h := s.hub
	ctx := t.Context()
	slow, pos, err := h.subscribe(ctx, "alice", false, "app")
	if err != nil || pos != 10 {
		t.Fatalf("subscribe: pos %d, %v; want the log's head 10", pos, err)
	}
	fast, _, err := h.subscribe(ctx, "alice", false, "app")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := h.subscribe(ctx, "bob", false, "app")
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(11); seq <= 11+buffer; seq++ {
		if !h.deliver(context.Background(), []registry.ConfigChange{{Seq: seq, User: "alice", Keys: []string{"k"}}}) {
			t.Fatal("deliver refused")
		}
		if c := <-fast.ch; c.Seq != seq {
			t.Fatalf("the reading stream got %d, want %d", c.Seq, seq)
		}
	}
	select {
	case <-slow.dropped:
	default:
		t.Fatalf("the slow stream was not dropped after %d events with a buffer of %d", buffer+1, buffer)
	}
	select {
	case <-fast.dropped:
		t.Fatal("the reading stream was dropped")
	case c := <-other.ch:
		t.Fatalf("bob's stream got alice's change %+v", c)
	default:
	}
	for _, sub := range []*subscriber{slow, fast, other} {
		h.unsubscribe(sub)
	}
	if h.open != 0 || len(h.perToken) != 0 || len(h.byUser) != 0 || h.running {
		t.Errorf("after every stream closed: open %d, per token %v, users %d, running %v; want nothing kept", h.open, h.perToken, len(h.byUser), h.running)
	}
}

// announcing is a Snapshots with nothing loaded whose announcements the
// test makes.
type announcing struct {
	noSnapshots
	mu sync.Mutex
	ch chan struct{}
}

func (a *announcing) Announced() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ch == nil {
		a.ch = make(chan struct{})
	}
	return a.ch
}

// announce closes the channel of the next announcement, if taken.
func (a *announcing) announce() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ch == nil {
		return false
	}
	close(a.ch)
	a.ch = nil
	return true
}

// TestHubFollowsOnce: many open streams share one follower, which reads
// the log once per announced change (the poll being an hour), not once per
// stream.
func TestHubFollowsOnce(t *testing.T) {
	t.Parallel()
	log := &countingLog{}
	src := &announcing{}
	s := New(src, WithChangeLog(log), WithStreams(StreamConfig{Poll: time.Hour}))
	var subs []*subscriber
	for i := range 50 {
		sub, _, err := s.hub.subscribe(t.Context(), "user"+string(rune('a'+i%26)), i%2 == 0, "app")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	waitReads := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for log.count() < want {
			if time.Now().After(deadline) {
				t.Fatalf("the log was read %d times, want %d", log.count(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitReads(1)
	for n := 2; n <= 4; n++ {
		for !src.announce() { // until the follower waits again
			time.Sleep(time.Millisecond)
		}
		waitReads(n)
		if got := log.count(); got != n {
			t.Fatalf("50 streams, %d announcements: the log was read %d times, want %d (one follower)", n-1, got, n)
		}
	}
	for _, sub := range subs {
		s.hub.unsubscribe(sub)
	}
}
