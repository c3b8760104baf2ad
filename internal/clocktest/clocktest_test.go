package clocktest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t.Parallel()
	c := New()
	if !c.Now().Equal(Start) {
		t.Fatalf("a new clock reads %v", c.Now())
	}
	c.Advance(time.Hour)
	if err := c.Sleep(t.Context(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if want := Start.Add(time.Hour + 30*time.Second); !c.Now().Equal(want) {
		t.Fatalf("now %v, want %v", c.Now(), want)
	}
	c.Set(Start)
	if !c.Now().Equal(Start) {
		t.Fatalf("after Set: %v", c.Now())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Sleep(ctx, time.Second); err == nil {
		t.Fatal("Sleep on an ended context returned no error")
	}
	if w := c.Waits(); !slices.Equal(w, []time.Duration{30 * time.Second, time.Second}) {
		t.Fatalf("waits %v", w)
	}
}

func TestClockConcurrent(t *testing.T) {
	t.Parallel()
	c := New()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Advance(time.Second)
			_ = c.Sleep(context.Background(), time.Second)
			_ = c.Now()
		}()
	}
	wg.Wait()
	if want := Start.Add(100 * time.Second); !c.Now().Equal(want) || len(c.Waits()) != 50 {
		t.Fatalf("now %v, %d waits", c.Now(), len(c.Waits()))
	}
}
