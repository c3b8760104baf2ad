package rotation

import (
	"slices"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

func info(name string, expires time.Time, pending bool) registry.TokenInfo {
	ti := registry.TokenInfo{Token: store.Token{Name: name, Lifetime: store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour}}}
	if !expires.IsZero() {
		ti.Current = &store.Version{State: token.StateCurrent, ExpiresAt: expires}
	}
	if pending {
		ti.Pending = &store.Version{State: token.StatePending, CreatedAt: expires.Add(-20 * 24 * time.Hour)}
	}
	return ti
}

func TestPlan(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tokens := []registry.TokenInfo{
		info("fresh", now.Add(60*day), false),          // due in 46 days
		info("due-late", now.Add(10*day), false),       // due 4 days ago
		info("due-early", now.Add(1*day), false),       // due 13 days ago
		info("expired", now.Add(-time.Hour), false),    // expired
		info("interrupted", now.Add(5*day), true),      // pending version waiting
		info("never", time.Time{}, false),              // no current version
		info("soon", now.Add(14*day+time.Hour), false), // due in an hour
	}
	names := func(items []Item) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, it.Token+"/"+string(it.Reason))
		}
		return out
	}
	oneDue := []registry.TokenInfo{tokens[0], tokens[1], tokens[6]} // fresh, due-late, soon
	cases := []struct {
		name   string
		tokens []registry.TokenInfo
		sel    Selection
		want   []string
		next   time.Time
	}{
		{"due", tokens, Selection{}, []string{"expired/expired", "interrupted/resume", "never/unissued", "due-early/due", "due-late/due"}, now.Add(time.Hour)},
		{"forced", tokens, Selection{Force: true}, []string{"expired/expired", "interrupted/resume", "never/unissued", "due-early/due", "due-late/due", "fresh/forced", "soon/forced"}, time.Time{}},
		// Tokens the selection leaves out still count for the next due
		// time: now when one of them is due already.
		{"selected", tokens, Selection{Tokens: []string{"fresh", "due-late"}}, []string{"due-late/due"}, now},
		{"selected forced", tokens, Selection{Force: true, Tokens: []string{"fresh"}}, []string{"fresh/forced"}, now},
		{"selected, the rest not due", oneDue, Selection{Tokens: []string{"due-late"}}, []string{"due-late/due"}, now.Add(time.Hour)},
		{"selected forced, the rest not due", []registry.TokenInfo{tokens[0], tokens[6]}, Selection{Force: true, Tokens: []string{"fresh"}}, []string{"fresh/forced"}, now.Add(time.Hour)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, leftOut, next := Plan(c.tokens, now, c.sel)
			if len(leftOut) != 0 {
				t.Errorf("left out %v without SkipKinds", names(leftOut))
			}
			if got := names(items); !slices.Equal(got, c.want) {
				t.Errorf("plan = %v\nwant   %v", got, c.want)
			}
			if !next.Equal(c.next) {
				t.Errorf("next due = %v, want %v", next, c.next)
			}
		})
	}
}

// A selection that skips file destinations leaves out the tokens with one,
// lists them, and keeps the next due time at now while one is due.
func TestPlanSkipsKinds(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	withFile := func(ti registry.TokenInfo) registry.TokenInfo {
		ti.Destinations = []store.Destination{{Key: "github_secret:acme/api:T", Kind: "github_secret"}, {Key: "file:/srv/app/.env#T", Kind: "file"}}
		return ti
	}
	tokens := []registry.TokenInfo{
		info("github-only", now.Add(10*day), false),             // due
		withFile(info("on-host", now.Add(5*day), false)),        // due, delivers to a file
		withFile(info("on-host-later", now.Add(60*day), false)), // not due
	}
	names := func(items []Item) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, it.Token+"/"+string(it.Reason))
		}
		return out
	}
	for _, c := range []struct {
		name           string
		sel            Selection
		items, leftOut []string
		next           time.Time
	}{
		{"skip files", Selection{SkipKinds: []string{"file"}}, []string{"github-only/due"}, []string{"on-host/due"}, now},
		{"skip files, forced", Selection{Force: true, SkipKinds: []string{"file"}}, []string{"github-only/due"}, []string{"on-host/due", "on-host-later/forced"}, now},
		{"skip nothing", Selection{}, []string{"on-host/due", "github-only/due"}, []string{}, now.Add(46 * day)},
		{"skip a kind no token has", Selection{SkipKinds: []string{"github_dependabot_secret"}}, []string{"on-host/due", "github-only/due"}, []string{}, now.Add(46 * day)},
	} {
		t.Run(c.name, func(t *testing.T) {
			items, leftOut, next := Plan(tokens, now, c.sel)
			if got := names(items); !slices.Equal(got, c.items) {
				t.Errorf("plan = %v, want %v", got, c.items)
			}
			if got := names(leftOut); !slices.Equal(got, c.leftOut) {
				t.Errorf("left out = %v, want %v", got, c.leftOut)
			}
			if !next.Equal(c.next) {
				t.Errorf("next due = %v, want %v", next, c.next)
			}
		})
	}
}
