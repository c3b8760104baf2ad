// Package clocktest is a settable clock for tests: Now reads it, Advance and
// Set move it, and Sleep records the wait and moves the clock on instead of
// sleeping, so tests of timeouts, backoff and expiry never wait.
//
// It is safe for concurrent use.
package clocktest

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Start is the time a new clock reads.
var Start = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// Clock is a settable clock.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

// New returns a clock reading Start.
func New() *Clock { return &Clock{now: Start} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Sleep records a wait of d and moves the clock on by d, without waiting.
// It returns the context's error, as a sleep cut short would.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

// Waits returns the waits Sleep recorded, in order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}
