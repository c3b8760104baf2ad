package server

import (
	"context"
	"fmt"
	"time"
)

// CatchUp returns once the Source serves a snapshot at least as new as the
// store's change counter seq, which a writer read after its change: a leak
// revocation is refused from then on, not only from the next poll. While
// Run follows the store it wakes Run and waits for it (so two reloads never
// race to swap the snapshot); otherwise it reloads itself. It ends with
// ctx.
func (s *Source) CatchUp(ctx context.Context, seq int64) error {
	if snap := s.cur.Load(); snap != nil && snap.Seq() >= seq {
		return nil
	}
	if !s.running.Load() {
		return s.reload(ctx)
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		s.poke()
		select {
		case <-ctx.Done():
			return fmt.Errorf("catch up with the store's change %d: %w", seq, context.Cause(ctx))
		case <-t.C:
		}
		if snap := s.cur.Load(); snap != nil && snap.Seq() >= seq {
			return nil
		}
	}
}
