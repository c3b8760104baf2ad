package store

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestUsageColumns checks the column count and indexes AppendUsage builds
// its rows with against usageColumns.
func TestUsageColumns(t *testing.T) {
	cols := strings.Split(usageColumns, ", ")
	if len(cols) != usageColumnCount {
		t.Fatalf("usageColumns has %d columns, usageColumnCount says %d", len(cols), usageColumnCount)
	}
	for name, i := range map[string]int{"token_id": colTokenID, "token_name": colTokenName, "version_id": colVersionID,
		"fingerprint": colFingerprint, "code": colCode, "endpoint": colEndpoint, "source_ip": colSourceIP,
		"user_agent": colUserAgent, "method": colMethod, "path": colPath, "caller": colCaller, "instance": colInstance} {
		if cols[i] != name {
			t.Errorf("column %d is %s, not %s", i, cols[i], name)
		}
	}
}

// TestUsageBoxesRows checks that a row's arguments are its own event's
// whatever the rows before it held: the boxes kept from one row never
// leak a value into the next.
func TestUsageBoxesRows(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	evs := []UsageEvent{
		{At: at, TokenID: "t1", TokenName: "a", Code: "valid", Endpoint: "verify", SourceIP: "10.0.0.1", ScopesRequired: []string{"x:read"}, Caller: "c"},
		{At: at.Add(time.Second), TokenID: "t1", TokenName: "a", Code: "valid", Endpoint: "verify", SourceIP: "10.0.0.1", ScopesRequired: []string{"x:read"}, Caller: "c"},
		{At: at, Code: "malformed", Endpoint: "authz", UserAgent: "ua\x00", Method: "GET", Path: "/p", Honeytoken: true},
		{At: at, TokenID: "t2", TokenName: "b", Code: "valid", Endpoint: "verify", SourceIP: "2001:db8::1", ScopesRequired: []string{"x:read", "y"}},
	}
	var b usageBoxes
	for i := range evs {
		e := &evs[i]
		scopes := scopesJSON(e.ScopesRequired)
		var key any
		if k := sourceKey(e.SourceIP); k != nil {
			key = k
		}
		want := []any{micros(e.At), text(e.TokenID), text(e.TokenName), text(e.VersionID), text(e.Fingerprint), text(e.Code),
			text(e.Endpoint), text(e.SourceIP), key, UsageNetwork(e.SourceIP), text(e.UserAgent), text(e.Method), text(e.Path),
			scopes, text(e.Caller), text(e.Instance), e.Honeytoken}
		if got := b.row(nil, e); !reflect.DeepEqual(got, want) {
			t.Errorf("event %d: row\n%#v\nwant\n%#v", i, got, want)
		}
	}
}

// TestUsageBoxesEmptyNull checks the rows of SQLite's INSERT: an empty
// text column that defaults to ” is NULL, which the INSERT coalesces to
// ” (checked on both engines by the usage tests, which read every field
// back); code, scopes and the rest keep their values.
func TestUsageBoxesEmptyNull(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	evs := []UsageEvent{
		{At: at, TokenID: "t1", TokenName: "a", Code: "valid", Endpoint: "verify", SourceIP: "10.0.0.1", Caller: "c"},
		{At: at, Code: "", SourceIP: "not an address"},
		{At: at, TokenID: "t1", TokenName: "a", VersionID: "v", Fingerprint: "f", Code: "valid", Endpoint: "authz",
			SourceIP: "10.0.0.1", UserAgent: "ua", Method: "GET", Path: "/p", Caller: "c", Instance: "i"},
	}
	b := usageBoxes{emptyNull: true}
	plain := usageBoxes{}
	for i := range evs {
		got, full := b.row(nil, &evs[i]), plain.row(nil, &evs[i])
		for col := range full {
			want := full[col]
			if usageEmptyNull(col) && want == "" {
				want = nil
			}
			if !reflect.DeepEqual(got[col], want) {
				t.Errorf("event %d, column %d: %#v, want %#v", i, col, got[col], want)
			}
		}
	}
	insert := usageInsert(1)
	for col, name := range strings.Split(usageColumns, ", ") {
		switch name {
		case "code", "scopes_required", "at", "source_key", "honeytoken":
			if usageEmptyNull(col) {
				t.Errorf("column %s may be NULL for ''", name)
			}
		default:
			if !usageEmptyNull(col) {
				t.Errorf("text column %s binds '' as text", name)
			}
		}
	}
	if n := strings.Count(insert, "coalesce(?,'')"); n != 12 {
		t.Errorf("the INSERT coalesces %d arguments, want 12: %s", n, insert)
	}
}

// TestUsageDailyCountsRuns checks the rollup's counts of a batch whose
// events come in runs (the previous event again at another time, as a
// busy token's do), where usageDailyCounts adds to the previous event's
// rows, against the same events counted one at a time and merged as the
// upsert merges rows: uses and failures add up, the latest time wins and
// names the row (of equal times, the later event).
func TestUsageDailyCountsRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 12))
	day0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	scopeSets := [][]string{nil, {"billing:read"}, {"billing:read", "billing:write"}, {"billing:read", "billing:read"}, {"Not A Scope", "deploy:run"}}
	var events []UsageEvent
	for len(events) < 3000 {
		if len(events) > 0 && rng.IntN(10) < 7 {
			e := events[len(events)-1]
			e.At = day0.Add(time.Duration(rng.IntN(3*24*60)) * time.Minute) // may cross a day, or tie
			events = append(events, e)
			continue
		}
		tok := rng.IntN(4)
		e := UsageEvent{At: day0.Add(time.Duration(rng.IntN(3*24*60)) * time.Minute), Code: []string{"valid", "valid", "expired", "insufficient_scope"}[rng.IntN(4)],
			ScopesRequired: scopeSets[rng.IntN(len(scopeSets))]}
		if tok > 0 {
			e.TokenID = fmt.Sprintf("id-%d", tok)
			e.TokenName = fmt.Sprintf("name-%d-%d", tok, rng.IntN(2)) // renamed now and then
		}
		events = append(events, e)
	}
	want := map[usageDailyKey]usageDailyCount{}
	for i := range events {
		for k, c := range usageDailyCounts(events[i : i+1]) {
			w, ok := want[k]
			if !ok {
				want[k] = *c
				continue
			}
			w.uses += c.uses
			w.failures += c.failures
			if c.last >= w.last {
				w.last, w.name = c.last, c.name
			}
			want[k] = w
		}
	}
	got := usageDailyCounts(events)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for k, w := range want {
		if c := got[k]; c == nil || *c != w {
			t.Errorf("row %+v: %+v, want %+v", k, c, w)
		}
	}
}
