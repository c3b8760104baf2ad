package rotation

import (
	"slices"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// TestPlanLeavesHoneytokensAlone: a plan takes a honeytoken only when the
// selection asks for honeytokens or names it; otherwise it lists the due
// (or forced) ones as left alone, and they never make the next due time
// earlier, even expired.
func TestPlanLeavesHoneytokensAlone(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	honey := func(ti registry.TokenInfo) registry.TokenInfo {
		ti.Honeytoken = true
		return ti
	}
	tokens := []registry.TokenInfo{
		info("real-due", now.Add(10*day), false),                    // due 4 days ago
		info("real-later", now.Add(30*day), false),                  // due in 16 days
		honey(info("decoy-expired", now.Add(-day), false)),          // expired
		honey(info("decoy-due", now.Add(day), false)),               // due 13 days ago
		honey(info("decoy-fresh", now.Add(60*day), false)),          // due in 46 days
		honey(info("decoy-unissued", time.Time{}, false)),           // no value yet
		honey(info("decoy-soon", now.Add(14*day+time.Hour), false)), // due in an hour
	}
	names := func(items []Item) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, it.Token+"/"+string(it.Reason))
		}
		return out
	}
	for _, c := range []struct {
		name        string
		sel         Selection
		items, left []string
		next        time.Time
	}{
		{"due", Selection{}, []string{"real-due/due"},
			[]string{"decoy-expired/expired", "decoy-unissued/unissued", "decoy-due/due"}, now.Add(16 * day)},
		{"forced", Selection{Force: true}, []string{"real-due/due", "real-later/forced"},
			[]string{"decoy-expired/expired", "decoy-unissued/unissued", "decoy-due/due", "decoy-fresh/forced", "decoy-soon/forced"}, time.Time{}},
		{"with honeytokens", Selection{Honeytokens: true}, []string{"decoy-expired/expired", "decoy-unissued/unissued", "decoy-due/due", "real-due/due"},
			[]string{}, now.Add(time.Hour)},
		{"a decoy by name", Selection{Tokens: []string{"decoy-due", "real-later"}}, []string{"decoy-due/due"}, []string{}, now},
		{"a decoy by name, forced", Selection{Force: true, Tokens: []string{"decoy-fresh"}}, []string{"decoy-fresh/forced"}, []string{}, now},
		{"a real token by name", Selection{Tokens: []string{"real-later"}}, []string{}, []string{}, now},
	} {
		t.Run(c.name, func(t *testing.T) {
			items, leftOut, alone, next := plan(tokens, now, c.sel)
			if got := names(items); !slices.Equal(got, c.items) {
				t.Errorf("plan = %v, want %v", got, c.items)
			}
			if got := names(alone); !slices.Equal(got, c.left) {
				t.Errorf("left alone = %v, want %v", got, c.left)
			}
			if len(leftOut) != 0 {
				t.Errorf("left out %v without SkipKinds", names(leftOut))
			}
			if !next.Equal(c.next) {
				t.Errorf("next due = %v, want %v", next, c.next)
			}
			if pi, pl, pn := Plan(tokens, now, c.sel); !slices.Equal(names(pi), names(items)) || len(pl) != 0 || !pn.Equal(next) {
				t.Errorf("Plan = %v, %v, %v; want plan's", names(pi), names(pl), pn)
			}
		})
	}
}
