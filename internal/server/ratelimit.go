package server

import (
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// limiter counts the uses of each rate-limited token on this instance. It is
// keyed by token id, not by snapshot, so a reload does not reset a token's
// count; a token whose allowance has refilled carries no state and is
// dropped, so memory stays bounded by the tokens used within their period.
//
// Each token is a GCRA (generic cell rate algorithm) cell, the token bucket
// in one timestamp: a limit of N per P lets N uses through at once and then
// one every P/N.
type limiter struct {
	mu        sync.Mutex
	tat       map[string]time.Time // theoretical arrival time of the next use, per token id
	nextSweep time.Time
}

// sweepEvery is how often idle tokens are dropped.
const sweepEvery = time.Minute

func newLimiter() *limiter { return &limiter{tat: map[string]time.Time{}} }

// allow counts one use of token id under limit at now. It reports whether
// the use is allowed and, when not, how long until the next one will be.
func (l *limiter) allow(id string, limit store.RateLimit, now time.Time) (time.Duration, bool) {
	if limit.Requests <= 0 || limit.Per <= 0 {
		return 0, true
	}
	interval := limit.Per / time.Duration(limit.Requests)
	if interval <= 0 {
		interval = 1 // more than one use a nanosecond: no practical limit
	}
	burst := limit.Per - interval // how far ahead of now the next arrival may be
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	tat, ok := l.tat[id]
	if !ok || tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > burst {
		return ahead - burst, false
	}
	l.tat[id] = tat.Add(interval)
	return 0, true
}

// sweep drops the tokens whose allowance has refilled, at most once every
// sweepEvery. The caller holds l.mu.
func (l *limiter) sweep(now time.Time) {
	if now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = now.Add(sweepEvery)
	for id, tat := range l.tat {
		if !tat.After(now) {
			delete(l.tat, id)
		}
	}
}

// size is the number of tokens with state, for tests.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}
