package rotation

import (
	"cmp"
	"slices"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
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
	// SkipKinds leaves out the tokens with a destination of one of these
	// kinds, such as destination.KindFile on a machine that does not hold
	// the files: the plan lists them in LeftOut instead.
	SkipKinds []string
	// Honeytokens takes honeytokens too. Without it a plan leaves them
	// alone unless Tokens names them: a decoy's planted value is meant to
	// stay where it was planted, and rotating it would write a new decoy
	// to its destinations for nothing.
	Honeytokens bool
}

// selects reports whether the selection takes the token by name.
func (s Selection) selects(ti registry.TokenInfo) bool {
	return len(s.Tokens) == 0 || slices.Contains(s.Tokens, ti.Name)
}

// leavesAlone reports whether the selection leaves a honeytoken alone: it
// was neither asked for with Honeytokens nor named.
func (s Selection) leavesAlone(ti registry.TokenInfo) bool {
	return ti.Honeytoken && !s.Honeytokens && !slices.Contains(s.Tokens, ti.Name)
}

// skips reports whether the token has a destination of a kind left out.
func (s Selection) skips(ti registry.TokenInfo) bool {
	return slices.ContainsFunc(ti.Destinations, func(d store.Destination) bool { return slices.Contains(s.SkipKinds, d.Kind) })
}

// Plan returns the tokens due at now, expired ones first, then interrupted
// rotations, unissued tokens, due ones by how long they have been due, and
// forced ones last; and the tokens the selection would take but whose
// destinations it skips, in the same order. It returns the earliest time a
// token not in the plan becomes due (zero when none will): now for a due
// token the selection leaves out, since another run must take it.
//
// Honeytokens the selection leaves alone (see Selection.Honeytokens) are
// in neither list and never make the next due time earlier, expired ones
// included: a decoy that is never rotated must not keep a scheduled run
// due, or failing. A run's Report lists them.
func Plan(tokens []registry.TokenInfo, now time.Time, sel Selection) (items, leftOut []Item, nextDue time.Time) {
	items, leftOut, _, nextDue = plan(tokens, now, sel)
	return items, leftOut, nextDue
}

// plan is Plan, and also returns the honeytokens it leaves alone that it
// would otherwise take (due ones, or every selected one with Force), in
// plan order, so a run can say it did not rotate them.
func plan(tokens []registry.TokenInfo, now time.Time, sel Selection) (items, leftOut, alone []Item, nextDue time.Time) {
	earliest := func(at time.Time) {
		if !at.IsZero() && (nextDue.IsZero() || at.Before(nextDue)) {
			nextDue = at
		}
	}
	for _, ti := range tokens {
		it, due := classify(ti, now)
		if sel.leavesAlone(ti) {
			if sel.selects(ti) && (due || sel.Force) {
				if !due {
					it = Item{Token: ti.Name, Reason: ReasonForced}
				}
				alone = append(alone, it)
			}
			continue
		}
		if !sel.selects(ti) {
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
		if sel.skips(ti) {
			leftOut = append(leftOut, it)
			earliest(now)
			continue
		}
		items = append(items, it)
	}
	sortItems(leftOut)
	sortItems(items)
	sortItems(alone)
	return items, leftOut, alone, nextDue
}

func sortItems(items []Item) {
	slices.SortStableFunc(items, func(a, b Item) int {
		if c := a.Reason.rank() - b.Reason.rank(); c != 0 {
			return c
		}
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Token, b.Token)
	})
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
