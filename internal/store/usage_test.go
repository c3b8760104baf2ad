package store_test

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func usageLog(t *testing.T, st store.Store) store.UsageLog {
	t.Helper()
	u, ok := store.AsUsageLog(st)
	if !ok {
		t.Fatalf("a %T has no usage log", st)
	}
	return u
}

// usageDay is a UTC midnight the usage tests count days from.
var usageDay = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func ev(at time.Time, tokenName, ip, code string) store.UsageEvent {
	id := ""
	if tokenName != "" {
		id = "id-" + tokenName
	}
	return store.UsageEvent{At: at, TokenID: id, TokenName: tokenName, VersionID: "v-" + tokenName, Fingerprint: "fp", Code: code,
		Endpoint: "verify", SourceIP: ip, UserAgent: "curl/8", ScopesRequired: []string{"billing:read"}, Instance: "i1"}
}

func TestUsageLogQueries(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		u := usageLog(t, st)
		h := func(n int) time.Time { return usageDay.Add(time.Duration(n) * time.Hour) }
		events := []store.UsageEvent{
			ev(h(1), "ci", "192.0.2.10", "valid"),
			ev(h(2), "ci", "192.0.2.99", "valid"),
			ev(h(3), "ci", "198.51.100.7", "insufficient_scope"),
			ev(h(4), "deploy", "2001:db8:1:2::5", "valid"),
			ev(h(5), "deploy", "2001:db8:1:ffff::9", "expired"),
			ev(h(6), "", "203.0.113.1", "not_found"),
			ev(h(30), "ci", "::ffff:192.0.2.200", "valid"), // the next day, written as IPv4-mapped
		}
		events[3].Method, events[3].Path, events[3].Endpoint, events[3].Caller = "GET", "/api/x", "authz", "gateway"
		events[3].ScopesRequired = nil
		events[4].Honeytoken = true
		if err := u.AppendUsage(ctx, events); err != nil {
			t.Fatal(err)
		}
		if err := u.AppendUsage(ctx, nil); err != nil {
			t.Fatalf("append no events: %v", err)
		}
		all, err := u.Usage(ctx, store.UsageQuery{})
		if err != nil || len(all) != len(events) {
			t.Fatalf("all events: %d, %v; want %d", len(all), err, len(events))
		}
		// Newest first, every field as written, seq assigned.
		got := all[len(all)-4]
		want := events[3]
		want.Seq = got.Seq
		if got.Seq == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("event read back:\n got %+v\nwant %+v", got, want)
		}
		if !all[len(all)-1].At.Equal(h(1)) || !all[0].At.Equal(h(30)) || !all[2].Honeytoken {
			t.Errorf("order: first %v, last %v, want newest first (and the honeytoken flag kept)", all[0].At, all[len(all)-1].At)
		}
		ip4 := netip.MustParsePrefix("192.0.2.0/24")
		cases := []struct {
			name string
			q    store.UsageQuery
			want []string // source IPs, newest first
		}{
			{"one token", store.UsageQuery{TokenName: "deploy"}, []string{"2001:db8:1:ffff::9", "2001:db8:1:2::5"}},
			{"since", store.UsageQuery{TokenName: "ci", Since: h(2)}, []string{"::ffff:192.0.2.200", "198.51.100.7", "192.0.2.99"}},
			{"until", store.UsageQuery{TokenName: "ci", Until: h(2)}, []string{"192.0.2.10"}},
			{"ipv4 network, mapped address included", store.UsageQuery{Network: ip4}, []string{"::ffff:192.0.2.200", "192.0.2.99", "192.0.2.10"}},
			{"ipv4 host", store.UsageQuery{Network: netip.MustParsePrefix("192.0.2.99/32")}, []string{"192.0.2.99"}},
			{"ipv6 /64", store.UsageQuery{Network: netip.MustParsePrefix("2001:db8:1:2::/64")}, []string{"2001:db8:1:2::5"}},
			{"ipv6 /48", store.UsageQuery{Network: netip.MustParsePrefix("2001:db8:1::/48")}, []string{"2001:db8:1:ffff::9", "2001:db8:1:2::5"}},
			{"code", store.UsageQuery{Code: "not_found"}, []string{"203.0.113.1"}},
			{"limit", store.UsageQuery{TokenName: "ci", Limit: 2}, []string{"::ffff:192.0.2.200", "198.51.100.7"}},
			{"nothing", store.UsageQuery{TokenName: "ci", Code: "expired"}, []string{}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := u.Usage(ctx, c.q)
				if err != nil {
					t.Fatal(err)
				}
				ips := []string{}
				for _, e := range got {
					ips = append(ips, e.SourceIP)
				}
				if !reflect.DeepEqual(ips, c.want) {
					t.Errorf("sources = %v, want %v", ips, c.want)
				}
			})
		}

		sum, err := u.UsageSummary(ctx, store.UsageQuery{Until: h(24)})
		if err != nil {
			t.Fatal(err)
		}
		wantSum := []store.UsageSummary{
			{TokenName: "ci", Uses: 3, Failures: 1, Networks: 2, LastUsedAt: h(3), LastUsedIP: "198.51.100.7"},
			{TokenName: "deploy", Uses: 2, Failures: 1, Networks: 1, LastUsedAt: h(5), LastUsedIP: "2001:db8:1:ffff::9"},
		}
		if !reflect.DeepEqual(sum, wantSum) {
			t.Errorf("summary:\n got %+v\nwant %+v", sum, wantSum)
		}
		sum, err = u.UsageSummary(ctx, store.UsageQuery{TokenName: "ci", Code: "valid"})
		if err != nil || len(sum) != 1 || sum[0].Uses != 3 || sum[0].Failures != 0 || sum[0].LastUsedIP != "::ffff:192.0.2.200" || sum[0].Networks != 1 {
			t.Errorf("summary of ci's valid uses: %+v, %v", sum, err)
		}

		at, ip, ok, err := u.LastUsed(ctx, "id-ci")
		if err != nil || !ok || !at.Equal(h(30)) || ip != "::ffff:192.0.2.200" {
			t.Errorf("last use of ci: %v %q %v %v", at, ip, ok, err)
		}
		if _, _, ok, err := u.LastUsed(ctx, "id-never"); ok || err != nil {
			t.Errorf("last use of a token never used: ok %v, %v", ok, err)
		}

		w, ok := store.AsUsageWalker(st)
		if !ok {
			t.Fatal("no usage walker")
		}
		stop := errors.New("stop")
		n := 0
		if err := w.EachUsage(ctx, store.UsageQuery{}, func(store.UsageEvent) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("a walk stopped by its callback: %d events, %v", n, err)
		}
	})
}

func TestUsageNetwork(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ ip, want string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"::ffff:192.0.2.77", "192.0.2.0/24"},
		{"2001:db8:aa:bb::1", "2001:db8:aa::/48"},
		{"fe80::1%eth0", "fe80::/48"},
		{"", ""},
		{"not an ip", ""},
	} {
		if got := store.UsageNetwork(c.ip); got != c.want {
			t.Errorf("UsageNetwork(%q) = %q, want %q", c.ip, got, c.want)
		}
	}
}

func TestUsageAppendOnly(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		u := usageLog(t, st)
		if err := u.AppendUsage(t.Context(), []store.UsageEvent{ev(usageDay, "ci", "192.0.2.1", "valid")}); err != nil {
			t.Fatal(err)
		}
		if _, err := rawDB(t, dsn).ExecContext(t.Context(), `UPDATE usage_events SET code = 'valid', token_name = 'other'`); err == nil {
			t.Error("an UPDATE of a usage event succeeded")
		}
	})
}

// TestUsageLargeBatch: a batch larger than one INSERT statement is stored
// whole, in one transaction.
func TestUsageLargeBatch(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		u := usageLog(t, st)
		batch := make([]store.UsageEvent, 1234)
		for i := range batch {
			batch[i] = ev(usageDay.Add(time.Duration(i)*time.Second), "ci", fmt.Sprintf("10.0.%d.%d", i/256, i%256), "valid")
		}
		if err := u.AppendUsage(ctx, batch); err != nil {
			t.Fatal(err)
		}
		sum, err := u.UsageSummary(ctx, store.UsageQuery{})
		if err != nil || len(sum) != 1 || sum[0].Uses != 1234 || sum[0].Networks != 5 || sum[0].LastUsedIP != "10.0.4.209" {
			t.Errorf("summary: %+v, %v", sum, err)
		}
		// Text from attackers (user agents, paths) that PostgreSQL's text
		// refuses (NUL, bytes that are not UTF-8) must not lose the batch.
		odd := ev(usageDay.Add(2*time.Hour), "odd", "192.0.2.1", "valid")
		odd.UserAgent, odd.Path = "evil\x00agent\xff", "/a\x00b"
		if err := u.AppendUsage(ctx, []store.UsageEvent{odd}); err != nil {
			t.Fatalf("an event with a NUL and a byte that is not UTF-8: %v", err)
		}
		got, err := u.Usage(ctx, store.UsageQuery{TokenName: "odd"})
		if err != nil || len(got) != 1 || got[0].UserAgent != "evil\uFFFDagent\uFFFD" || got[0].Path != "/a\uFFFDb" {
			t.Errorf("odd text read back: %+v, %v", got, err)
		}
	})
}

func TestUsagePrune(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		u := usageLog(t, st)
		// 25,000 events over five days (12,000 on the oldest, more than
		// one batch of SQLite's prune), 10:00 to 10:20 each day.
		perDay := []int{12000, 5000, 3000, 3000, 2000}
		var batch []store.UsageEvent
		for d, n := range perDay {
			for i := 0; i < n; i++ {
				at := usageDay.Add(time.Duration(d)*24*time.Hour + 10*time.Hour + time.Duration(i)*100*time.Millisecond)
				batch = append(batch, ev(at, "ci", "192.0.2.1", "valid"))
			}
		}
		if err := u.AppendUsage(ctx, batch); err != nil {
			t.Fatal(err)
		}
		day := func(d int) time.Time { return usageDay.Add(time.Duration(d) * 24 * time.Hour) }
		if st.Engine() == "postgres" {
			parts, err := store.UsagePartitions(ctx, st)
			if err != nil || len(parts) != 5 || !parts[0].Equal(day(0)) || !parts[4].Equal(day(4)) {
				t.Fatalf("partitions AppendUsage created: %v, %v; want the five days", parts, err)
			}
		}
		// Nothing is older: nothing pruned.
		if p, err := u.PruneUsage(ctx, day(0)); err != nil || p != (store.UsagePruned{}) {
			t.Errorf("prune before the first event: %+v, %v", p, err)
		}
		// Before day 2 at 12:00: days 0 and 1 go whole on both engines;
		// day 2's events (10:00 to 10:05) go on SQLite, and stay with their
		// partition on PostgreSQL, which drops whole days only.
		p, err := u.PruneUsage(ctx, day(2).Add(12*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		lastOfDay := func(d int) time.Time {
			return day(d).Add(10*time.Hour + time.Duration(perDay[d]-1)*100*time.Millisecond)
		}
		want := store.UsagePruned{Count: 17000, From: day(0).Add(10 * time.Hour), To: lastOfDay(1)}
		if st.Engine() == "sqlite" {
			want.Count, want.To = 20000, lastOfDay(2)
		}
		if p != want {
			t.Errorf("pruned %+v, want %+v", p, want)
		}
		left, err := u.Usage(ctx, store.UsageQuery{})
		if err != nil || int64(len(left)) != 25000-want.Count {
			t.Errorf("left %d events, %v; want %d", len(left), err, 25000-want.Count)
		}
		if st.Engine() == "postgres" {
			parts, err := store.UsagePartitions(ctx, st)
			if err != nil || len(parts) != 3 || !parts[0].Equal(day(2)) {
				t.Errorf("partitions after the prune: %v, %v; want days 2 to 4", parts, err)
			}
		}
		// Again: nothing more.
		if p, err := u.PruneUsage(ctx, day(2).Add(12*time.Hour)); err != nil || (st.Engine() == "sqlite" && p.Count != 0) || (st.Engine() == "postgres" && p.Count != 0) {
			t.Errorf("a second prune: %+v, %v", p, err)
		}
	})
}

// TestUsagePartitions: partitions are created ahead, idempotently, by
// processes racing; an event of a day without a partition is kept (in the
// DEFAULT partition) and moved into the day's partition when it is made.
func TestUsagePartitions(t *testing.T) {
	t.Parallel()
	dsn := engines.DSN(t, "postgres")
	ctx := t.Context()
	var stores []store.Store
	for i := 0; i < 3; i++ {
		st, err := store.Open(ctx, dsn, store.Create())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	from := usageDay.Add(13 * time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, len(stores)*2)
	for i, st := range stores {
		for j := 0; j < 2; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i*2+j] = usageLog(t, st).EnsureUsagePartitions(ctx, from, 7)
			}()
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("racing ensure: %v", err)
		}
	}
	parts, err := store.UsagePartitions(ctx, stores[0])
	if err != nil || len(parts) != 8 || !parts[0].Equal(usageDay) || !parts[7].Equal(usageDay.Add(7*24*time.Hour)) {
		t.Fatalf("partitions: %v, %v; want today and 7 days ahead", parts, err)
	}
	var names []string
	rows, err := rawDB(t, dsn).QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'usage_events'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if len(names) != 9 || names[0] != "usage_events_default" || names[1] != "usage_events_p20261201" || names[8] != "usage_events_p20261208" {
		t.Errorf("partition names: %v", names)
	}

	// A day with no partition, written around AppendUsage (as a role
	// without the grant would have it): the row lands in DEFAULT.
	raw := rawDB(t, dsn)
	far := usageDay.Add(40*24*time.Hour + time.Hour)
	if _, err := raw.ExecContext(ctx, `INSERT INTO usage_events (at, token_name, token_id, code, source_ip) VALUES ($1, 'ci', 'id-ci', 'valid', '192.0.2.4')`, far.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	var inDefault int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_events_default`).Scan(&inDefault); err != nil || inDefault != 1 {
		t.Fatalf("rows in the default partition: %d, %v", inDefault, err)
	}
	// A store appending on that day creates its partition, moving the row.
	u := usageLog(t, stores[1])
	if err := u.AppendUsage(ctx, []store.UsageEvent{ev(far.Add(time.Minute), "ci", "192.0.2.5", "valid")}); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_events_default`).Scan(&inDefault); err != nil || inDefault != 0 {
		t.Errorf("rows left in the default partition: %d, %v", inDefault, err)
	}
	var inDay int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_events_p20270110`).Scan(&inDay); err != nil || inDay != 2 {
		t.Errorf("rows in the new day's partition: %d, %v; want 2", inDay, err)
	}
	got, err := u.Usage(ctx, store.UsageQuery{TokenName: "ci"})
	if err != nil || len(got) != 2 || got[1].SourceIP != "192.0.2.4" {
		t.Errorf("events of the day: %+v, %v", got, err)
	}
	// The default partition is pruned row by row.
	if _, err := raw.ExecContext(ctx, `INSERT INTO usage_events (at, code) VALUES ($1, 'valid')`, usageDay.Add(-90*24*time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	p, err := u.PruneUsage(ctx, usageDay.Add(3*24*time.Hour))
	if err != nil || p.Count != 1 || !p.From.Equal(usageDay.Add(-90*24*time.Hour)) {
		t.Errorf("prune: %+v, %v; want the one old event of the default partition", p, err)
	}
	parts, _ = store.UsagePartitions(ctx, stores[0])
	if len(parts) != 6 || !parts[0].Equal(usageDay.Add(3*24*time.Hour)) {
		t.Errorf("partitions after the prune: %v", parts)
	}
	// A day that is not a UTC midnight is refused by the function.
	if _, err := raw.ExecContext(ctx, `SELECT usage_events_partition($1)`, usageDay.Add(time.Hour).UnixMicro()); err == nil {
		t.Error("usage_events_partition accepted a time that is not a UTC midnight")
	}
	if _, err := raw.ExecContext(ctx, `SELECT usage_events_drop_partition('tokens')`); err == nil {
		t.Error("usage_events_drop_partition dropped a table that is no partition")
	}
}

func TestUsageReadOnly(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		if err := usageLog(t, st).AppendUsage(ctx, []store.UsageEvent{ev(usageDay, "ci", "192.0.2.1", "valid")}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		ro, err := store.Open(ctx, dsn, store.ReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		u := usageLog(t, ro)
		if got, err := u.Usage(ctx, store.UsageQuery{}); err != nil || len(got) != 1 {
			t.Errorf("read-only usage: %d events, %v", len(got), err)
		}
		a, _ := store.AsAlertLog(ro)
		for name, err := range map[string]error{
			"append": u.AppendUsage(ctx, []store.UsageEvent{ev(usageDay, "ci", "192.0.2.1", "valid")}),
			"ensure": u.EnsureUsagePartitions(ctx, usageDay, 1),
			"alert":  a.AppendAlert(ctx, store.Alert{ID: "a1", At: usageDay, Detector: "x", Severity: store.SeverityWarn}),
			"ack":    a.AckAlert(ctx, "a1", "me", usageDay),
			"prune":  func() error { _, err := u.PruneUsage(ctx, usageDay); return err }(),
		} {
			if !errors.Is(err, store.ErrReadOnly) {
				t.Errorf("%s on a read-only store: %v, want ErrReadOnly", name, err)
			}
		}
	})
}

func TestAlertLog(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		a, ok := store.AsAlertLog(st)
		if !ok {
			t.Fatal("no alert log")
		}
		mk := func(id string, at time.Time, sev string) store.Alert {
			return store.Alert{ID: id, At: at, Detector: "new_network", Severity: sev, TokenID: "id-ci", TokenName: "ci",
				SourceIP: "192.0.2.7", Network: "192.0.2.0/24", Detail: "ci was used from a new network",
				Evidence: map[string]string{"user_agent": "curl/8", "first_seen": "2026-12-01T00:00:00Z"}}
		}
		alerts := []store.Alert{mk("a1", usageDay, store.SeverityWarn), mk("a2", usageDay.Add(time.Hour), store.SeverityHigh), mk("a3", usageDay.Add(2*time.Hour), store.SeverityCritical)}
		alerts[0].Evidence = nil
		for _, al := range alerts {
			if err := a.AppendAlert(ctx, al); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.AppendAlert(ctx, alerts[0]); !errors.Is(err, store.ErrExists) {
			t.Errorf("a second alert with id a1: %v, want ErrExists", err)
		}
		bad := mk("a4", usageDay, "severe")
		if err := a.AppendAlert(ctx, bad); err == nil {
			t.Error("an alert with an unknown severity was stored")
		}
		got, err := a.Alerts(ctx, store.AlertQuery{Since: usageDay.Add(time.Hour)})
		alerts[0].Evidence = map[string]string{}
		if err != nil || !reflect.DeepEqual(got, []store.Alert{alerts[2], alerts[1]}) {
			t.Errorf("alerts since 01:00:\n got %+v\nwant a3, a2: %v", got, err)
		}
		got, err = a.Alerts(ctx, store.AlertQuery{Limit: 1})
		if err != nil || len(got) != 1 || got[0].ID != "a3" {
			t.Errorf("newest alert: %+v, %v", got, err)
		}
		ackAt := usageDay.Add(3 * time.Hour)
		if err := a.AckAlert(ctx, "a1", "alice", ackAt); err != nil {
			t.Fatal(err)
		}
		if err := a.AckAlert(ctx, "nope", "alice", ackAt); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ack of an unknown alert: %v, want ErrNotFound", err)
		}
		got, _ = a.Alerts(ctx, store.AlertQuery{})
		want := alerts[0]
		want.AckedBy, want.AckedAt = "alice", ackAt
		if len(got) != 3 || !reflect.DeepEqual(got[2], want) {
			t.Errorf("acknowledged alert: %+v, want %+v", got[2], want)
		}
	})
}
