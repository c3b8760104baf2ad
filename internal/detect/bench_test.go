package detect

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// BenchmarkRecord measures what a verification pays for the detectors:
// one non-blocking send to the queue (drained as it fills).
func BenchmarkRecord(b *testing.B) {
	e, err := New(Defaults())
	if err != nil {
		b.Fatal(err)
	}
	ev := store.UsageEvent{At: t0, TokenName: "api", SourceIP: "10.0.0.5", Code: "valid"}
	for b.Loop() {
		e.Record(ev)
		if len(e.queue) == cap(e.queue) {
			for len(e.queue) > 0 {
				<-e.queue
			}
		}
	}
}

// BenchmarkObserve measures the detectors' goroutine per event: 1,000
// tokens used from 100 networks, in the steady state (baselines learnt).
func BenchmarkObserve(b *testing.B) {
	e, err := New(Defaults())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	evs := make([]store.UsageEvent, 100_000)
	for i := range evs {
		evs[i] = store.UsageEvent{At: t0.Add(time.Duration(i) * time.Millisecond), TokenName: fmt.Sprintf("t%d", i%1000),
			SourceIP: fmt.Sprintf("10.0.%d.5", i%100), Code: "valid"}
	}
	for _, ev := range evs {
		e.observe(ctx, ev)
	}
	i := 0
	for b.Loop() {
		ev := evs[i%len(evs)]
		ev.At = ev.At.Add(100 * time.Second)
		e.observe(ctx, ev)
		i++
	}
}
