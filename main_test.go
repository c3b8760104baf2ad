package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestLimitMemory: the provider's own GOGC and soft memory limit apply
// unless GOGC and GOMEMLIMIT set others, which win.
func TestLimitMemory(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	limitMemory()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC is %d, want the provider's %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != memoryLimit {
		t.Errorf("the memory limit is %d, want the provider's %d", got, memoryLimit)
	}

	t.Setenv("GOGC", "80")
	t.Setenv("GOMEMLIMIT", "1GiB")
	limitMemory()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the provider changed GOGC to %d", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, the provider changed the limit to %d", got)
	}
}
