package rotation

import (
	"cmp"
	"slices"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// Reason says why a token is due.
type Reason string

// The reasons, in the order a run takes them.
const (
	ReasonExpired  Reason = "expired"  // the current version has expired: consumers are failing now
	ReasonResume   Reason = "resume"   // a rotation was interrupted; its pending version waits to be delivered
	ReasonUnissued Reason = "unissued" // the token has no current version
	ReasonDue      Reason = "due"      // now >= expires_at - rotate_before
	ReasonForced   Reason = "forced"   // not due, rotated because the operator asked
)

func (r Reason) rank() int {
	return slices.Index([]Reason{ReasonExpired, ReasonResume, ReasonUnissued, ReasonDue, ReasonForced}, r)
}

// Item is one token a run should rotate.
type Item struct {
	Token  string
	Reason Reason
	DueAt  time.Time // when it became due; zero for unissued and forced
}

// Selection narrows a plan.
type Selection struct {
	Force  bool     // rotate the selected tokens even when they are not due
	Tokens []string // only these tokens; empty means every token
}

// Plan returns the tokens due at now, expired ones first, then interrupted
// rotations, unissued tokens, due ones by how long they have been due, and
// forced ones last. It returns the earliest time a token not in the plan
// becomes due (zero when none will): now for a due token the selection
// leaves out, since the next run must take it.
func Plan(tokens []registry.TokenInfo, now time.Time, sel Selection) (items []Item, nextDue time.Time) {
	earliest := func(at time.Time) {
		if !at.IsZero() && (nextDue.IsZero() || at.Before(nextDue)) {
			nextDue = at
		}
	}
	for _, ti := range tokens {
		it, due := classify(ti, now)
		if len(sel.Tokens) > 0 && !slices.Contains(sel.Tokens, ti.Name) {
			if due {
				earliest(now)
			} else {
				earliest(ti.NextRotationAt())
			}
			continue
		}
		if !due {
			if !sel.Force {
				earliest(ti.NextRotationAt())
				continue
			}
			it = Item{Token: ti.Name, Reason: ReasonForced}
		}
		items = append(items, it)
	}
	slices.SortStableFunc(items, func(a, b Item) int {
		if c := a.Reason.rank() - b.Reason.rank(); c != 0 {
			return c
		}
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Token, b.Token)
	})
	return items, nextDue
}

// classify says whether one token is due at now, and why.
func classify(ti registry.TokenInfo, now time.Time) (Item, bool) {
	it := Item{Token: ti.Name}
	switch {
	case ti.Current != nil && !now.Before(ti.Current.ExpiresAt):
		it.Reason, it.DueAt = ReasonExpired, ti.Current.ExpiresAt
	case ti.Pending != nil:
		it.Reason, it.DueAt = ReasonResume, ti.Pending.CreatedAt
	case ti.Current == nil:
		it.Reason = ReasonUnissued
	case !now.Before(ti.NextRotationAt()):
		it.Reason, it.DueAt = ReasonDue, ti.NextRotationAt()
	default:
		return it, false
	}
	return it, true
}
