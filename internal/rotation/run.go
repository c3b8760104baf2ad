package rotation

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// RunOptions says what one run does.
type RunOptions struct {
	Selection
	DryRun       bool // plan only: rotate nothing, change nothing
	MaxRotations int  // rotate at most this many tokens; 0 means no bound
}

// Report is what a run did. It holds fingerprints, never values.
type Report struct {
	At       time.Time
	Planned  []Item   // every token due (or forced) when the run began
	Results  []Result // one per rotation attempted, in plan order
	StillDue []Item   // due but left for the next run by MaxRotations
	LeftOut  []Item   // due (or forced) but left out by Selection.SkipKinds
	// Honeytokens are the honeytokens due (or forced) that the run left
	// alone, since Selection.Honeytokens was not set and Tokens did not name
	// them. They are no failure and never make NextDue earlier.
	Honeytokens []Item
	Revoked     int // previous versions revoked because their overlap ended
	// Retired counts the previous versions of credentials retired at their
	// issuers (login locked, password removed) because their overlap ended.
	Retired int
	// RetireFailed says why a credential's previous version could not be
	// retired; it still logs in until a run retires it.
	RetireFailed error
	NextDue      time.Time
}

// Rotated counts the tokens that rotated.
func (r Report) Rotated() int {
	n := 0
	for _, x := range r.Results {
		if x.Err == nil && x.Skipped == "" {
			n++
		}
	}
	return n
}

// Failed returns the results that failed.
func (r Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Err != nil {
			out = append(out, x)
		}
	}
	return out
}

// Run rotates every token due now (or the selected ones), at most
// MaxRotations of them, under the store's run lock, then revokes previous
// versions whose overlap has ended. A token that fails does not stop the
// others; the report says what failed. The error is non-nil when the run
// could not start or finish its bookkeeping; the report is still complete
// for what was rotated.
func (e *Engine) Run(ctx context.Context, opts RunOptions) (Report, error) {
	if opts.DryRun {
		return e.plan(ctx, Report{At: e.reg.Now()}, opts)
	}
	// Each run holds the lock in its own name, so two runs of one engine
	// exclude each other too.
	holder := fmt.Sprintf("%s/run/%d", e.holder, e.seq.Add(1))
	l, ctx, err := acquire(ctx, e.reg.Store(), store.RunLock, holder, e.lockTTL, e.lockWait, e.poll, e.noticeFor(""))
	if err != nil {
		return Report{}, fmt.Errorf("rotation run: %w", err)
	}
	if l == nil {
		return Report{}, fmt.Errorf("rotation run: %w: another run still holds the store's run lock after %s", ErrLocked, e.lockWait)
	}
	defer l.release()
	// What is due is judged once the lock is held, not before the wait.
	rep := Report{At: e.reg.Now()}
	if rep, err = e.plan(ctx, rep, opts); err != nil {
		return rep, err
	}
	todo := rep.Planned
	if opts.MaxRotations > 0 && len(todo) > opts.MaxRotations {
		todo, rep.StillDue = todo[:opts.MaxRotations], todo[opts.MaxRotations:]
	}
	rep.Results = e.rotateAll(ctx, todo)
	for _, r := range rep.Results {
		if at := r.NextRotationAt; !at.IsZero() && (rep.NextDue.IsZero() || at.Before(rep.NextDue)) {
			rep.NextDue = at
		}
	}
	if len(rep.StillDue) > 0 || len(rep.Failed()) > 0 {
		rep.NextDue = rep.At
	}
	if rep.Revoked, err = e.reg.RevokeExpired(ctx); err != nil {
		return rep, fmt.Errorf("rotation run: %w", err)
	}
	rep.Retired, rep.RetireFailed = e.retireExpired(ctx)
	if rep.RetireFailed != nil {
		rep.NextDue = rep.At
	}
	return rep, e.record(ctx, rep)
}

func (e *Engine) plan(ctx context.Context, rep Report, opts RunOptions) (Report, error) {
	tokens, err := e.reg.Tokens(ctx)
	if err != nil {
		return rep, fmt.Errorf("rotation run: list tokens: %w", err)
	}
	for _, name := range opts.Tokens {
		if !hasToken(tokens, name) {
			return rep, fmt.Errorf("rotation run: no token is named %q: %w", name, store.ErrNotFound)
		}
	}
	rep.Planned, rep.LeftOut, rep.Honeytokens, rep.NextDue = plan(tokens, rep.At, opts.Selection)
	return rep, nil
}

// rotateAll rotates items with the engine's workers and returns their
// results in the items' order.
func (e *Engine) rotateAll(ctx context.Context, items []Item) []Result {
	results := make([]Result, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range min(e.workers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], _ = e.rotate(ctx, items[i], true)
				if e.progress != nil {
					mu.Lock()
					done++
					e.progress(done, len(items), results[i])
					mu.Unlock()
				}
			}
		}()
	}
	for i := range items {
		if ctx.Err() != nil {
			results[i] = Result{Token: items[i].Token, Reason: items[i].Reason, Err: fmt.Errorf("rotate %s: %w", items[i].Token, ctx.Err())}
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func (e *Engine) record(ctx context.Context, rep Report) error {
	outcome := audit.Success
	var failed []string
	for _, r := range rep.Failed() {
		failed = append(failed, r.Token)
	}
	if len(failed) > 0 || rep.RetireFailed != nil {
		outcome = audit.Failure
	}
	d := map[string]string{
		"planned":   strconv.Itoa(len(rep.Planned)),
		"rotated":   strconv.Itoa(rep.Rotated()),
		"failed":    strings.Join(failed, ","),
		"still_due": strconv.Itoa(len(rep.StillDue)),
		"revoked":   strconv.Itoa(rep.Revoked),
		"retired":   strconv.Itoa(rep.Retired),
	}
	if err := e.reg.RecordRun(ctx, outcome, d); err != nil {
		return fmt.Errorf("rotation run: %w", err)
	}
	return nil
}

func hasToken(tokens []registry.TokenInfo, name string) bool {
	for _, t := range tokens {
		if t.Name == name {
			return true
		}
	}
	return false
}
