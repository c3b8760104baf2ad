package provider

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// tokenSnapshot is every token of the store, read at once and kept for the
// provider process, so a plan's Read of each token is a map lookup instead
// of a transaction of six queries. It is tagged with the store's change
// counter, the audit head's seq, read before the tokens: every change
// appends to the audit chain in its own transaction, so a Read that finds
// the head moved (a rotation by the scheduled workflow, an apply of another
// configuration, a destroy) reads the store again before it answers.
type tokenSnapshot struct {
	reg *registry.Registry
	mu  sync.Mutex // one load at a time
	set atomic.Pointer[tokenSet]
}

// tokenSet is one load of the snapshot.
type tokenSet struct {
	seq    int64 // the audit head's seq read before the tokens
	byName map[string]registry.TokenInfo
}

func newTokenSnapshot(reg *registry.Registry) *tokenSnapshot { return &tokenSnapshot{reg: reg} }

// token returns the token named name as the store holds it now, or an error
// that wraps registry.ErrNotFound.
func (s *tokenSnapshot) token(ctx context.Context, name string) (registry.TokenInfo, error) {
	head, err := s.reg.AuditHead(ctx)
	if err != nil {
		return registry.TokenInfo{}, err
	}
	set := s.set.Load()
	if set == nil || set.seq != head.Seq {
		if set, err = s.load(ctx, head.Seq); err != nil {
			return registry.TokenInfo{}, err
		}
	}
	ti, ok := set.byName[name]
	if !ok {
		return registry.TokenInfo{}, fmt.Errorf("get token %s: %w", name, registry.ErrNotFound)
	}
	return ti, nil
}

// load reads every token, unless another Read loaded them at seq already.
// The tokens are read after seq was: a change in between is in the set and
// makes the next Read load again, never the other way round.
func (s *tokenSnapshot) load(ctx context.Context, seq int64) (*tokenSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.set.Load(); set != nil && set.seq == seq {
		return set, nil
	}
	tis, err := s.reg.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	set := &tokenSet{seq: seq, byName: make(map[string]registry.TokenInfo, len(tis))}
	for _, ti := range tis {
		set.byName[ti.Name] = ti
	}
	s.set.Store(set)
	return set, nil
}
