package store_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// lastUsedByScan is LastUsed as a scan of every event says it: the newest
// event of the token (at, then seq, newest first, as Usage orders them).
func lastUsedByScan(t *testing.T, u store.UsageLog, tokenID string) (time.Time, string, bool) {
	t.Helper()
	all, err := u.Usage(t.Context(), store.UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.TokenID == tokenID {
			return e.At, e.SourceIP, true
		}
	}
	return time.Time{}, "", false
}

// checkLastUsed compares LastUsed with the scan for each token id.
func checkLastUsed(t *testing.T, u store.UsageLog, when string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		wantAt, wantIP, wantOK := lastUsedByScan(t, u, id)
		at, ip, ok, err := u.LastUsed(t.Context(), id)
		if err != nil || ok != wantOK || !at.Equal(wantAt) || ip != wantIP {
			t.Errorf("%s: last use of %s: %v %q %v %v; the events say %v %q %v", when, id, at, ip, ok, err, wantAt, wantIP, wantOK)
		}
	}
}

// TestUsageLastUsed: LastUsed (the rollup's last_at, then the event at that
// time) answers what a scan of the events answers: across batches appended
// out of order, days, outcomes that are failures, events at the same
// microsecond (the one appended last wins), a token whose name changed,
// and after retention on both engines, the day a cut falls in included.
func TestUsageLastUsed(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		u := usageLog(t, st)
		d := func(n, hour int) time.Time {
			return usageDay.Add(time.Duration(n)*24*time.Hour + time.Duration(hour)*time.Hour)
		}
		at := func(tm time.Time, id, name, ip, code string) store.UsageEvent {
			return store.UsageEvent{At: tm, TokenID: id, TokenName: name, Code: code, Endpoint: "verify", SourceIP: ip}
		}
		batches := [][]store.UsageEvent{
			{at(d(1, 9), "id-a", "a", "192.0.2.1", "valid"), at(d(0, 9), "id-b", "b", "192.0.2.2", "valid")},
			// Older than what is stored already, and a failure that is newer.
			{at(d(0, 8), "id-a", "a", "192.0.2.3", "valid"), at(d(1, 10), "id-a", "a", "192.0.2.4", "expired")},
			// Two events of b at the same time, in one batch and the next.
			{at(d(2, 11), "id-b", "b", "192.0.2.5", "valid"), at(d(2, 11), "id-b", "b", "192.0.2.6", "valid")},
			{at(d(2, 11), "id-b", "b-renamed", "192.0.2.7", "revoked")},
			// An event of no known token, at the newest time.
			{at(d(3, 1), "", "", "192.0.2.8", "not_found")},
		}
		ids := []string{"id-a", "id-b", "id-never"}
		checkLastUsed(t, u, "empty log", ids...)
		for i, b := range batches {
			if err := u.AppendUsage(ctx, b); err != nil {
				t.Fatal(err)
			}
			checkLastUsed(t, u, fmt.Sprintf("after batch %d", i), ids...)
		}
		if at, ip, ok, _ := u.LastUsed(ctx, "id-b"); !ok || !at.Equal(d(2, 11)) || ip != "192.0.2.7" {
			t.Errorf("last use of b: %v %q %v; want the last appended of the three at the same time", at, ip, ok)
		}
		// The events of no known token are nobody's use.
		if _, _, ok, err := u.LastUsed(ctx, ""); ok || err != nil {
			t.Errorf("last use of the empty id: ok %v, %v; want none", ok, err)
		}
		// Retention: a cut in day 1 (after a's 09:00, before its 10:00),
		// then one after all of a's events.
		for _, cut := range []time.Time{d(1, 9).Add(30 * time.Minute), d(2, 0), d(2, 12)} {
			if _, err := u.PruneUsage(ctx, cut); err != nil {
				t.Fatal(err)
			}
			checkLastUsed(t, u, "after a prune before "+cut.Format(time.DateTime), ids...)
		}
	})
}

// TestMigrationToLastUsedIndex: a store with events logged before
// migration 12 (here by a tokenward of schema version 10, so migration 11
// rolls them up) answers LastUsed as before, without the index on
// (token_id, at), and keeps appending.
func TestMigrationToLastUsedIndex(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			dialect, insert, index := goose.DialectSQLite3,
				`INSERT INTO usage_events (at, token_id, token_name, code, source_ip) VALUES (?, ?, ?, ?, ?)`,
				`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'usage_events_token_id_at'`
			if engine == "postgres" {
				dialect, insert, index = goose.DialectPostgres,
					`INSERT INTO usage_events (at, token_id, token_name, code, source_ip) VALUES ($1, $2, $3, $4, $5)`,
					`SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'usage_events_token_id_at'`
			}
			raw := rawDB(t, dsn)
			p, err := goose.NewProvider(dialect, raw, os.DirFS("migrations/"+engine))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 10); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := raw.QueryRowContext(ctx, index).Scan(&n); err != nil || n != 1 {
				t.Fatalf("the index before migration 12: %d, %v", n, err)
			}
			for i, e := range []struct {
				hours    int
				id, code string
			}{{1, "id-ci", "valid"}, {30, "id-ci", "expired"}, {2, "id-deploy", "valid"}, {2, "id-deploy", "revoked"}, {40, "", "not_found"}} {
				at := usageDay.Add(time.Duration(e.hours) * time.Hour).UnixMicro()
				if _, err := raw.ExecContext(ctx, insert, at, e.id, e.id, e.code, fmt.Sprintf("192.0.2.%d", i+1)); err != nil {
					t.Fatal(err)
				}
			}
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatalf("migrate: %v", err)
			}
			defer st.Close()
			if err := raw.QueryRowContext(ctx, index).Scan(&n); err != nil || n != 0 {
				t.Errorf("the index after migration 12: %d, %v; want it gone", n, err)
			}
			u := usageLog(t, st)
			checkLastUsed(t, u, "after the migration", "id-ci", "id-deploy", "id-never")
			if at, ip, ok, _ := u.LastUsed(ctx, "id-deploy"); !ok || !at.Equal(usageDay.Add(2*time.Hour)) || ip != "192.0.2.4" {
				t.Errorf("last use of deploy: %v %q %v; want the event inserted last of the two at 02:00", at, ip, ok)
			}
			more := store.UsageEvent{At: usageDay.Add(50 * time.Hour), TokenID: "id-deploy", TokenName: "deploy", Code: "valid", SourceIP: "198.51.100.1"}
			if err := u.AppendUsage(ctx, []store.UsageEvent{more}); err != nil {
				t.Fatal(err)
			}
			checkLastUsed(t, u, "after an append", "id-ci", "id-deploy")
		})
	}
}
