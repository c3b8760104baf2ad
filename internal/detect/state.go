package detect

import (
	"container/list"
	"math"
	"time"
)

// bounded is a map that holds at most max keys: putting a new key when it
// is full evicts the least recently touched one and calls evicted. Every
// per-key state the engine keeps lives in one, so no client can grow the
// engine's memory without bound. It is not safe for concurrent use.
type bounded[K comparable, V any] struct {
	max     int
	order   *list.List // front: most recently touched
	items   map[K]*list.Element
	evicted func()
}

type entry[K comparable, V any] struct {
	key K
	val V
}

func newBounded[K comparable, V any](max int, evicted func()) *bounded[K, V] {
	if max < 1 {
		max = 1
	}
	return &bounded[K, V]{max: max, order: list.New(), items: map[K]*list.Element{}, evicted: evicted}
}

// get returns the value of k and marks it touched.
func (b *bounded[K, V]) get(k K) (V, bool) {
	if el, ok := b.items[k]; ok {
		b.order.MoveToFront(el)
		return el.Value.(*entry[K, V]).val, true
	}
	var zero V
	return zero, false
}

// put sets k to v, marks it touched and evicts the oldest key past max.
func (b *bounded[K, V]) put(k K, v V) {
	if el, ok := b.items[k]; ok {
		el.Value.(*entry[K, V]).val = v
		b.order.MoveToFront(el)
		return
	}
	b.items[k] = b.order.PushFront(&entry[K, V]{key: k, val: v})
	for len(b.items) > b.max {
		old := b.order.Back()
		b.order.Remove(old)
		delete(b.items, old.Value.(*entry[K, V]).key)
		if b.evicted != nil {
			b.evicted()
		}
	}
}

func (b *bounded[K, V]) len() int { return len(b.items) }

// burst counts events in a sliding window by keeping the times of the last
// n: n events fall within the window when the oldest of them is younger
// than the window at the newest. Its memory grows with the events seen, up
// to n times, so the many source networks that send one failure each cost
// one time each, not n.
type burst struct {
	times []time.Time // the last n event times; a ring once it holds n
	n     int
	next  int // once full: the slot of the oldest, written next
	full  bool
}

func newBurst(n int) *burst { return &burst{n: n} }

// add records an event at t and reports whether the last n events,
// this one included, happened within window.
func (b *burst) add(t time.Time, window time.Duration) bool {
	if !b.full {
		b.times = append(b.times, t)
		if len(b.times) < b.n {
			return false
		}
		b.full = true
		return t.Sub(b.times[0]) < window
	}
	b.times[b.next] = t
	b.next = (b.next + 1) % b.n
	oldest := b.times[b.next] // the slot to be overwritten next is the oldest
	return t.Sub(oldest) < window
}

// rate is a token's use per bucket against an exponentially weighted moving
// mean and variance of its past buckets.
type rate struct {
	bucket  time.Time // start of the current bucket
	count   int       // uses in the current bucket
	buckets int       // completed buckets folded into mean and variance
	mean    float64
	vari    float64
}

// maxIdleBuckets bounds how many empty buckets are folded in after a
// silence: past a day of 5-minute buckets the baseline is all but zero
// anyway, and the loop stays bounded.
const maxIdleBuckets = 288

// observe counts a use at t, folding completed buckets (and the empty ones
// since) into the baseline first, and returns the current bucket's count.
func (r *rate) observe(t time.Time, size time.Duration, alpha float64) int {
	b := t.Truncate(size)
	switch {
	case r.bucket.IsZero():
		r.bucket = b
	case b.After(r.bucket):
		r.fold(float64(r.count), alpha)
		idle := int(b.Sub(r.bucket)/size) - 1
		for i := 0; i < idle && i < maxIdleBuckets; i++ {
			r.fold(0, alpha)
		}
		r.bucket, r.count = b, 0
	}
	// An event older than the current bucket (clock skew between
	// instances) counts in the current one.
	r.count++
	return r.count
}

// fold adds a completed bucket's count x to the moving mean and variance
// (the incremental EWMA of Finch, "Incremental calculation of weighted mean
// and variance", 2009).
func (r *rate) fold(x, alpha float64) {
	if r.buckets == 0 {
		r.mean, r.vari = x, 0
	} else {
		diff := x - r.mean
		incr := alpha * diff
		r.mean += incr
		r.vari = (1 - alpha) * (r.vari + diff*incr)
	}
	r.buckets++
}

// limit is the count above which the current bucket is a spike.
func (r *rate) limit(k float64) float64 { return r.mean + k*math.Sqrt(r.vari) }
