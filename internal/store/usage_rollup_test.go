package store_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

func usageRollup(t *testing.T, st store.Store) store.UsageRollup {
	t.Helper()
	r, ok := store.AsUsageRollup(st)
	if !ok {
		t.Fatalf("a %T has no daily usage rollup", st)
	}
	return r
}

// handScopeName is a scope name as the registry documents it, written
// again here so that the rollup's own pattern is checked, not copied.
var handScopeName = regexp.MustCompile(`^[a-z][a-z0-9_.-]*:([a-z][a-z0-9_.-]*|\*)$`)

// rolledUpByHand aggregates events the way usage_daily's contract says,
// one loop at a time, for the rows from the day of since on. It applies
// no cap on the scopes of a token and day: the tests that use it stay
// below it.
func rolledUpByHand(events []store.UsageEvent, since time.Time) ([]store.UsageDay, []store.ScopeUse) {
	type dayKey struct {
		id  string
		day time.Time
	}
	type scopeKey struct{ id, scope string }
	days := map[dayKey]*store.UsageDay{}
	scopes := map[scopeKey]*store.ScopeUse{}
	from := since.UTC().Truncate(24 * time.Hour)
	for _, e := range events {
		d := e.At.UTC().Truncate(24 * time.Hour)
		if e.TokenID == "" || d.Before(from) {
			continue
		}
		u := days[dayKey{e.TokenID, d}]
		if u == nil {
			u = &store.UsageDay{TokenID: e.TokenID, Day: d}
			days[dayKey{e.TokenID, d}] = u
		}
		u.Uses++
		if e.Code != "valid" {
			u.Failures++
		}
		if !e.At.Before(u.LastAt) {
			u.LastAt, u.TokenName = e.At, e.TokenName
		}
		if e.Code != "valid" {
			continue
		}
		seen := map[string]bool{}
		for _, sc := range e.ScopesRequired {
			if !handScopeName.MatchString(sc) || len(sc) > 128 || seen[sc] {
				continue
			}
			seen[sc] = true
			s := scopes[scopeKey{e.TokenID, sc}]
			if s == nil {
				s = &store.ScopeUse{TokenID: e.TokenID, Scope: sc}
				scopes[scopeKey{e.TokenID, sc}] = s
			}
			s.Uses++
			if !e.At.Before(s.LastAt) {
				s.LastAt, s.TokenName = e.At, e.TokenName
			}
		}
	}
	outDays := []store.UsageDay{}
	for _, u := range days {
		outDays = append(outDays, *u)
	}
	sort.Slice(outDays, func(i, j int) bool {
		a, b := outDays[i], outDays[j]
		if !a.Day.Equal(b.Day) {
			return a.Day.Before(b.Day)
		}
		return a.TokenName < b.TokenName
	})
	outScopes := []store.ScopeUse{}
	for _, s := range scopes {
		outScopes = append(outScopes, *s)
	}
	sort.Slice(outScopes, func(i, j int) bool {
		a, b := outScopes[i], outScopes[j]
		if a.TokenName != b.TokenName {
			return a.TokenName < b.TokenName
		}
		return a.Scope < b.Scope
	})
	return outDays, outScopes
}

// scoped is an event of a token id with a name of its own and the scopes
// it required.
func scoped(at time.Time, id, name, code string, scopes ...string) store.UsageEvent {
	return store.UsageEvent{At: at, TokenID: id, TokenName: name, VersionID: "v", Code: code, Endpoint: "verify",
		SourceIP: "192.0.2.1", ScopesRequired: scopes}
}

// TestUsageRollup: AppendUsage keeps the daily rollup as the events
// aggregated by hand say, across batches (the newest event names a row),
// UsageDays and ScopeUses read whole days of it, a read-only store reads
// it too, and PruneUsage removes the days wholly before its cut.
func TestUsageRollup(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		u, r := usageLog(t, st), usageRollup(t, st)
		d0 := usageDay
		d1, d2 := d0.Add(24*time.Hour), d0.Add(48*time.Hour)
		h := func(n float64) time.Time { return d0.Add(time.Duration(n * float64(time.Hour))) }
		batches := [][]store.UsageEvent{{
			scoped(h(1), "id-ci", "ci", "valid", "billing:read", "billing:write"),
			scoped(h(2), "id-ci", "ci", "valid", "billing:read", "billing:read"), // listed twice, counted once
			scoped(h(3), "id-ci", "ci", "insufficient_scope", "billing:admin"),   // a failure: no scope row
			scoped(d1, "id-ci", "ci", "valid", "billing:read"),                   // exactly midnight: the next day
			scoped(h(4), "id-deploy", "deploy", "expired", "deploy:run"),
			scoped(h(4), "id-deploy", "deploy", "valid", "", "deploy:run"),
			scoped(h(5), "", "", "not_found", "billing:read"), // no token: not rolled up
		}, {
			scoped(d1.Add(-time.Microsecond), "id-ci", "ci-renamed", "valid", "billing:read"), // newest of d0: names it
			scoped(h(0.5), "id-ci", "ci-old", "valid", "billing:write"),                       // older: names nothing
			scoped(d1.Add(time.Hour), "id-deploy", "deploy-2", "valid", "deploy:run"),
		}, {
			scoped(d2, "id-ci", "ci", "valid", "billing:read"),
		}}
		var all []store.UsageEvent
		for _, b := range batches {
			if err := u.AppendUsage(ctx, b); err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}

		wantDays := []store.UsageDay{
			{TokenID: "id-ci", TokenName: "ci-renamed", Day: d0, Uses: 5, Failures: 1, LastAt: d1.Add(-time.Microsecond)},
			{TokenID: "id-deploy", TokenName: "deploy", Day: d0, Uses: 2, Failures: 1, LastAt: h(4)},
			{TokenID: "id-ci", TokenName: "ci", Day: d1, Uses: 1, LastAt: d1},
			{TokenID: "id-deploy", TokenName: "deploy-2", Day: d1, Uses: 1, LastAt: d1.Add(time.Hour)},
			{TokenID: "id-ci", TokenName: "ci", Day: d2, Uses: 1, LastAt: d2},
		}
		wantScopes := []store.ScopeUse{
			{TokenID: "id-ci", TokenName: "ci", Scope: "billing:read", Uses: 5, LastAt: d2},
			{TokenID: "id-ci", TokenName: "ci", Scope: "billing:write", Uses: 2, LastAt: h(1)},
			{TokenID: "id-deploy", TokenName: "deploy-2", Scope: "deploy:run", Uses: 2, LastAt: d1.Add(time.Hour)},
		}
		handDays, handScopes := rolledUpByHand(all, d0)
		if !reflect.DeepEqual(handDays, wantDays) || !reflect.DeepEqual(handScopes, wantScopes) {
			t.Fatalf("the hand aggregate disagrees with the expected rows:\n%+v\n%+v", handDays, handScopes)
		}

		ro, err := store.Open(ctx, dsn, store.ReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		for name, rr := range map[string]store.UsageRollup{"writer": r, "read-only": usageRollup(t, ro)} {
			t.Run(name, func(t *testing.T) {
				dayCases := []struct {
					name         string
					since, until time.Time
					want         []store.UsageDay
				}{
					{"every day", d0, time.Time{}, wantDays},
					{"no since bound", time.Time{}, time.Time{}, wantDays},
					{"since inside a day takes it whole", h(23), time.Time{}, wantDays},
					{"until excludes its own day", d0, d1.Add(time.Hour), wantDays[:2]},
					{"one day", d1, d2, wantDays[2:4]},
					{"after the last", d2.Add(24 * time.Hour), time.Time{}, []store.UsageDay{}},
				}
				for _, c := range dayCases {
					got, err := rr.UsageDays(ctx, c.since, c.until)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, c.want) {
						t.Errorf("%s: UsageDays\n got %+v\nwant %+v", c.name, got, c.want)
					}
				}
				scopesSinceD1 := []store.ScopeUse{
					{TokenID: "id-ci", TokenName: "ci", Scope: "billing:read", Uses: 2, LastAt: d2},
					{TokenID: "id-deploy", TokenName: "deploy-2", Scope: "deploy:run", Uses: 1, LastAt: d1.Add(time.Hour)},
				}
				scopeCases := []struct {
					name  string
					since time.Time
					want  []store.ScopeUse
				}{
					{"every day", d0, wantScopes},
					{"since inside a day takes it whole", h(12), wantScopes},
					{"from the second day", d1, scopesSinceD1},
					{"the last day", d2, []store.ScopeUse{{TokenID: "id-ci", TokenName: "ci", Scope: "billing:read", Uses: 1, LastAt: d2}}},
					{"after the last", d2.Add(24 * time.Hour), []store.ScopeUse{}},
				}
				for _, c := range scopeCases {
					got, err := rr.ScopeUses(ctx, c.since)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, c.want) {
						t.Errorf("%s: ScopeUses\n got %+v\nwant %+v", c.name, got, c.want)
					}
				}
			})
		}
		// A cut inside d1: d0 goes, d1 (the day the cut falls in) stays whole.
		if _, err := u.PruneUsage(ctx, d1.Add(12*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := r.UsageDays(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, wantDays[2:]) {
			t.Errorf("after a prune inside the second day:\n got %+v\nwant %+v", got, wantDays[2:])
		}
		gotScopes, err := r.ScopeUses(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		_, want := rolledUpByHand(all, d1)
		if !reflect.DeepEqual(gotScopes, want) {
			t.Errorf("scopes after the prune:\n got %+v\nwant %+v", gotScopes, want)
		}
		// A cut at midnight takes the day before it and keeps its own.
		if _, err := u.PruneUsage(ctx, d2); err != nil {
			t.Fatal(err)
		}
		if got, err := r.UsageDays(ctx, time.Time{}, time.Time{}); err != nil || !reflect.DeepEqual(got, wantDays[4:]) {
			t.Errorf("after a prune at the third midnight: %+v, %v; want %+v", got, err, wantDays[4:])
		}
	})
}

// TestUsageRollupManyBatches: batches of many tokens and days, appended
// one after another, roll up as the events they left in the log.
func TestUsageRollupManyBatches(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		u, r := usageLog(t, st), usageRollup(t, st)
		codes := []string{"valid", "valid", "valid", "expired", "insufficient_scope"}
		scopes := [][]string{nil, {"x:a"}, {"x:a", "b"}, {"x:c", "x:a", "x:c"}} // "b" is no scope name: no row
		n := 0
		for batch := 0; batch < 6; batch++ {
			var events []store.UsageEvent
			for i := 0; i < 700; i++ { // more rows than one upsert takes in the last batches
				n++
				tok := n * 7 % 23
				id, name := "id-"+string(rune('a'+tok)), "tok-"+string(rune('a'+tok))
				if tok == 0 {
					id, name = "", ""
				}
				at := usageDay.Add(time.Duration(n*37%(72*60)) * time.Minute)
				events = append(events, scoped(at, id, name, codes[n%len(codes)], scopes[n%len(scopes)]...))
			}
			if err := u.AppendUsage(ctx, events); err != nil {
				t.Fatal(err)
			}
		}
		logged, err := u.Usage(ctx, store.UsageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		// The log reads newest first; the names are per id, so order
		// decides nothing here.
		wantDays, wantScopes := rolledUpByHand(logged, time.Time{})
		gotDays, err := r.UsageDays(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		gotScopes, err := r.ScopeUses(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(wantDays) < 60 || !reflect.DeepEqual(gotDays, wantDays) {
			t.Errorf("UsageDays (%d rows, want %d):\n got %+v\nwant %+v", len(gotDays), len(wantDays), gotDays, wantDays)
		}
		if !reflect.DeepEqual(gotScopes, wantScopes) {
			t.Errorf("ScopeUses:\n got %+v\nwant %+v", gotScopes, wantScopes)
		}
	})
}

// TestUsageRollupBackfill: events logged by a tokenward before the rollup
// (schema version 10) are rolled up by migration 11 as AppendUsage would
// have.
func TestUsageRollupBackfill(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			dialect := goose.DialectSQLite3
			if engine == "postgres" {
				dialect = goose.DialectPostgres
			}
			raw := rawDB(t, dsn)
			p, err := goose.NewProvider(dialect, raw, os.DirFS("migrations/"+engine))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 10); err != nil {
				t.Fatal(err)
			}
			d0 := usageDay
			events := []store.UsageEvent{
				scoped(d0.Add(time.Hour), "id-ci", "ci-old", "valid", "billing:read", "billing:write"),
				scoped(d0.Add(2*time.Hour), "id-ci", "ci", "valid", "billing:read", "billing:read"),
				scoped(d0.Add(3*time.Hour), "id-ci", "ci", "expired", "billing:read"),
				scoped(d0.Add(24*time.Hour), "id-ci", "ci", "valid", "billing:write"),
				scoped(d0.Add(24*time.Hour-time.Microsecond), "id-deploy", "deploy", "insufficient_scope", "deploy:run"),
				scoped(d0.Add(5*time.Hour), "", "", "not_found", "billing:read"),
				scoped(d0.Add(50*time.Hour), "id-deploy", "deploy", "valid", "", "deploy:run"),
			}
			insert := `INSERT INTO usage_events (at, token_id, token_name, code, scopes_required) VALUES (?, ?, ?, ?, ?)`
			if engine == "postgres" {
				insert = `INSERT INTO usage_events (at, token_id, token_name, code, scopes_required) VALUES ($1, $2, $3, $4, $5)`
			}
			for _, e := range events {
				sj, _ := json.Marshal(e.ScopesRequired)
				if _, err := raw.ExecContext(ctx, insert, e.At.UnixMicro(), e.TokenID, e.TokenName, e.Code, string(sj)); err != nil {
					t.Fatal(err)
				}
			}
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatalf("migrate to the rollup: %v", err)
			}
			defer st.Close()
			r := usageRollup(t, st)
			wantDays, wantScopes := rolledUpByHand(events, time.Time{})
			if len(wantDays) != 4 || len(wantScopes) != 3 {
				t.Fatalf("hand aggregate: %d days, %d scopes; want 4 and 3", len(wantDays), len(wantScopes))
			}
			gotDays, err := r.UsageDays(ctx, time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			gotScopes, err := r.ScopeUses(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotDays, wantDays) {
				t.Errorf("backfilled days:\n got %+v\nwant %+v", gotDays, wantDays)
			}
			if !reflect.DeepEqual(gotScopes, wantScopes) {
				t.Errorf("backfilled scopes:\n got %+v\nwant %+v", gotScopes, wantScopes)
			}
			// And AppendUsage adds to the backfilled rows.
			more := scoped(d0.Add(4*time.Hour), "id-ci", "ci", "valid", "billing:write")
			if err := usageLog(t, st).AppendUsage(ctx, []store.UsageEvent{more}); err != nil {
				t.Fatal(err)
			}
			wantDays, _ = rolledUpByHand(append(events, more), time.Time{})
			if gotDays, err := r.UsageDays(ctx, time.Time{}, time.Time{}); err != nil || !reflect.DeepEqual(gotDays, wantDays) {
				t.Errorf("after an append on the backfill: %+v, %v; want %+v", gotDays, err, wantDays)
			}
		})
	}
}

// TestUsageRollupHostileText: names that are not valid text on PostgreSQL
// (NUL, bytes that are not UTF-8) are stored as U+FFFD, as the events are;
// a required scope that is not a scope name (those, or any other) gets no
// row, and the batch is never refused.
func TestUsageRollupHostileText(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		at := usageDay.Add(time.Hour)
		if err := usageLog(t, st).AppendUsage(ctx, []store.UsageEvent{
			scoped(at, "id-x", "x\x00", "valid", "a:b\x00", "a:b\xff", "x:b", "X:B", "x:", "x:b:c"),
			scoped(at.Add(time.Second), "id-x", "x\xfe", "valid", "a:b\xff", "x:b"),
		}); err != nil {
			t.Fatal(err)
		}
		got, err := usageRollup(t, st).ScopeUses(ctx, usageDay)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.ScopeUse{{TokenID: "id-x", TokenName: "x\uFFFD", Scope: "x:b", Uses: 2, LastAt: at.Add(time.Second)}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ScopeUses:\n got %+v\nwant %+v", got, want)
		}
		days, err := usageRollup(t, st).UsageDays(ctx, usageDay, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 1 || days[0].Uses != 2 || days[0].TokenName != "x\uFFFD" {
			t.Errorf("UsageDays: %+v, want one day of 2 uses named x\uFFFD", days)
		}
	})
}

// TestUsageRollupScopeCap: an event that lists 5,000 distinct made-up
// scopes (as a wildcard billing:* would grant), and a batch of many such
// events, add at most 64 scope rows a token and day; every event still
// counts in the totals.
func TestUsageRollupScopeCap(t *testing.T) {
	t.Parallel()
	const rowCap = 64 // the rollup's documented bound
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		u, r := usageLog(t, st), usageRollup(t, st)
		junk := make([]string, 5000)
		for i := range junk {
			junk[i] = fmt.Sprintf("billing:junk%d", i)
		}
		at := usageDay.Add(time.Hour)
		// One event of 5,000 scopes, then a batch of 50 events of 100 other
		// scopes each, for the same token and day; another token's one
		// scope is counted as ever.
		batch := []store.UsageEvent{scoped(at, "id-w", "wild", "valid", append([]string{"billing:read"}, junk...)...),
			scoped(at, "id-o", "other", "valid", "billing:read")}
		if err := u.AppendUsage(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if first, err := r.ScopeUses(ctx, usageDay); err != nil || len(first) != rowCap+1 {
			t.Fatalf("after the event of 5,000 scopes: %d scope rows, %v; want %d (and the other token's)", len(first), err, rowCap+1)
		}
		var second []store.UsageEvent
		for i := range 50 {
			second = append(second, scoped(at.Add(time.Duration(i)*time.Second), "id-w", "wild", "valid", junk[i*100:(i+1)*100]...))
		}
		if err := u.AppendUsage(ctx, second); err != nil {
			t.Fatal(err)
		}
		scopes, err := r.ScopeUses(ctx, usageDay)
		if err != nil {
			t.Fatal(err)
		}
		perToken := map[string]int{}
		read := false
		for _, s := range scopes {
			perToken[s.TokenID]++
			read = read || s.TokenID == "id-w" && s.Scope == "billing:read" && s.Uses == 1
		}
		// Each batch adds at most rowCap rows: two batches, at most 2*cap.
		if n := perToken["id-w"]; n < rowCap || n > 2*rowCap {
			t.Errorf("%d scope rows for the token of 5,000 scopes, want between %d and %d", n, rowCap, 2*rowCap)
		}
		if !read {
			t.Errorf("the first scope the event listed, billing:read, has no row of 1 use: %+v", scopes[:min(len(scopes), 3)])
		}
		if perToken["id-o"] != 1 {
			t.Errorf("the other token has %d scope rows, want 1", perToken["id-o"])
		}
		days, err := r.UsageDays(ctx, usageDay, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		uses := map[string]int64{}
		for _, d := range days {
			uses[d.TokenID] = d.Uses
		}
		if uses["id-w"] != 51 || uses["id-o"] != 1 {
			t.Errorf("totals %v, want id-w 51 and id-o 1", uses)
		}
	})
}
