package server

import (
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestLimiter checks the rate limit of one token: N uses at once, then one
// every Per/N, and the wait it reports.
func TestLimiter(t *testing.T) {
	t.Parallel()
	type step struct {
		advance  time.Duration
		wantOK   bool
		wantWait time.Duration
	}
	cases := []struct {
		name  string
		limit store.RateLimit
		steps []step
	}{
		{"no limit", store.RateLimit{}, []step{{0, true, 0}, {0, true, 0}, {0, true, 0}}},
		{"3 a minute", store.RateLimit{Requests: 3, Per: time.Minute}, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, false, 20 * time.Second},
			{5 * time.Second, false, 15 * time.Second},
			{15 * time.Second, true, 0},
			{0, false, 20 * time.Second},
			// Idle for the whole period: the full burst again.
			{2 * time.Minute, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 20 * time.Second},
		}},
		{"1 an hour", store.RateLimit{Requests: 1, Per: time.Hour}, []step{
			{0, true, 0}, {59 * time.Minute, false, time.Minute}, {time.Minute, true, 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, clock := newLimiter(), clocktest.New()
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				wait, ok := l.allow("tk", tc.limit, clock.Now())
				if ok != s.wantOK || wait != s.wantWait {
					t.Errorf("step %d: allowed %v, wait %s; want %v, %s", i, ok, wait, s.wantOK, s.wantWait)
				}
			}
		})
	}
}

// TestLimiterForgetsIdleTokens checks that memory is bounded: a token whose
// allowance has refilled is dropped at the next sweep.
func TestLimiterForgetsIdleTokens(t *testing.T) {
	t.Parallel()
	l, clock := newLimiter(), clocktest.New()
	limit := store.RateLimit{Requests: 10, Per: time.Second}
	for i := range 1000 {
		l.allow(string(rune('a'+i%26))+string(rune(i)), limit, clock.Now())
	}
	if n := l.size(); n != 1000 {
		t.Fatalf("%d tokens counted, want 1000", n)
	}
	clock.Advance(sweepEvery)
	l.allow("busy", limit, clock.Now())
	if n := l.size(); n != 1 {
		t.Errorf("%d tokens kept after a sweep, want only the one used since", n)
	}
}
