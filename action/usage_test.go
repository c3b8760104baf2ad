package main

import (
	"encoding/csv"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// The world's clock is 2026-11-27T09:00:00Z.
var usageNow = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// hostileUA is a user agent an attacker sends: a spreadsheet formula, a
// terminal escape that retitles the window, and a bidirectional override.
const hostileUA = "=HYPERLINK(\"http://evil\")\x1b]0;pwned\x07\u202e"

// usageWorld is a world whose store holds usage events and alerts.
func usageWorld(t *testing.T) world {
	t.Helper()
	w := newWorld(t)
	st, err := store.Open(t.Context(), w.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, _ := store.AsUsageLog(st)
	at := func(ago time.Duration) time.Time { return usageNow.Add(-ago) }
	evs := []store.UsageEvent{
		{At: at(48 * time.Hour), TokenID: "x", TokenName: "ci-deploy", VersionID: "v1", Code: "valid", Endpoint: "verify", SourceIP: "192.0.2.1"},
		{At: at(3 * time.Hour), TokenID: "x", TokenName: "ci-deploy", VersionID: "v1", Code: "valid", Endpoint: "introspect", SourceIP: "192.0.2.8",
			UserAgent: "curl/8", ScopesRequired: []string{"billing:read"}, Caller: "gateway"},
		{At: at(2 * time.Hour), TokenID: "x", TokenName: "ci-deploy", VersionID: "v0", Code: "revoked", Endpoint: "authz", SourceIP: "198.51.100.3",
			UserAgent: hostileUA, Method: "GET", Path: "/api/-1+1"},
		{At: at(time.Hour), Code: "not_found", Endpoint: "verify", SourceIP: "2001:db8::1", UserAgent: "scanner"},
	}
	if err := u.AppendUsage(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	a, _ := store.AsAlertLog(st)
	for _, al := range []store.Alert{
		{ID: "al-old", At: at(72 * time.Hour), Detector: "new_network", Severity: store.SeverityWarn, TokenName: "ci-deploy", SourceIP: "192.0.2.1", Detail: "old"},
		{ID: "al-1", At: at(2 * time.Hour), Detector: "revoked_version_used", Severity: store.SeverityHigh, TokenName: "ci-deploy", SourceIP: "198.51.100.3",
			Detail: "a revoked version of ci-deploy was presented", Evidence: map[string]string{"version": "v0", "user_agent": hostileUA}},
	} {
		if err := a.AppendAlert(t.Context(), al); err != nil {
			t.Fatal(err)
		}
	}
	// The readers need no master key.
	delete(w.env, "TOKENWARD_MASTER_KEY")
	return w
}

func TestUsageJSON(t *testing.T) {
	t.Parallel()
	w := usageWorld(t)
	cases := []struct {
		name    string
		args    []string
		sources []string
	}{
		{"default: the last 24 hours", nil, []string{"2001:db8::1", "198.51.100.3", "192.0.2.8"}},
		{"one token", []string{"--token", "ci-deploy"}, []string{"198.51.100.3", "192.0.2.8"}},
		{"a week", []string{"--since", "7d", "--token", "ci-deploy"}, []string{"198.51.100.3", "192.0.2.8", "192.0.2.1"}},
		{"a network", []string{"--since", "7d", "--ip", "192.0.2.0/24"}, []string{"192.0.2.8", "192.0.2.1"}},
		{"an address", []string{"--ip", "2001:db8::1"}, []string{"2001:db8::1"}},
		{"a code", []string{"--code", "revoked"}, []string{"198.51.100.3"}},
		{"a limit", []string{"--limit", "1"}, []string{"2001:db8::1"}},
		{"nothing", []string{"--token", "nobody"}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.run(t, "", append([]string{"usage", "--format", "json"}, c.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got []map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, r.stdout)
			}
			sources := []string{}
			for _, e := range got {
				keys := make([]string, 0, len(e))
				for k := range e {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				want := []string{"caller", "code", "endpoint", "method", "path", "scopes_required", "source_ip", "time", "token", "user_agent", "version"}
				if !reflect.DeepEqual(keys, want) {
					t.Fatalf("event fields %v, want exactly %v", keys, want)
				}
				sources = append(sources, e["source_ip"].(string))
			}
			if !reflect.DeepEqual(sources, c.sources) {
				t.Errorf("sources %v, want %v", sources, c.sources)
			}
		})
	}
	r := w.run(t, "", "usage", "--format", "json", "--code", "revoked")
	var got []usageEventOutput
	_ = json.Unmarshal([]byte(r.stdout), &got)
	want := usageEventOutput{Time: "2026-11-27T07:00:00Z", Token: "ci-deploy", Version: "v0", Code: "revoked", SourceIP: "198.51.100.3",
		UserAgent: hostileUA, Endpoint: "authz", Method: "GET", Path: "/api/-1+1", ScopesRequired: []string{}}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("event %+v, want %+v", got, want)
	}
	if strings.ContainsRune(r.stdout, 0x1b) {
		t.Error("JSON output holds a raw escape character")
	}
}

func TestUsageTableAndCSVNeutraliseHostileText(t *testing.T) {
	t.Parallel()
	w := usageWorld(t)
	for _, format := range []string{"table", "csv"} {
		t.Run(format, func(t *testing.T) {
			r := w.run(t, "", "usage", "--format", format, "--code", "revoked")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if strings.ContainsAny(r.stdout, "\x1b\x07\u202e") {
				t.Errorf("output holds a terminal escape or a bidirectional override: %q", r.stdout)
			}
			if !strings.Contains(r.stdout, `\x1b]0;pwned\x07\u202e`) {
				t.Errorf("the escapes are not shown as text: %q", r.stdout)
			}
			if format == "csv" {
				rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
				if err != nil || len(rows) != 2 {
					t.Fatalf("csv: %v %q", err, r.stdout)
				}
				if rows[0][0] != "time" || rows[0][10] != "user_agent" {
					t.Errorf("header %v", rows[0])
				}
				if ua := rows[1][10]; !strings.HasPrefix(ua, "'=HYPERLINK") {
					t.Errorf("a formula in a cell is not neutralised: %q", ua)
				}
			} else if !strings.HasPrefix(r.stdout, "TIME ") || !strings.Contains(r.stdout, "2026-11-27T07:00:00Z") {
				t.Errorf("table: %q", r.stdout)
			}
		})
	}
	r := w.run(t, "", "alerts")
	if r.code != 0 || strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, "al-1") || strings.Contains(r.stdout, "al-old") {
		t.Errorf("alerts table: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
}

func TestUsageSummary(t *testing.T) {
	t.Parallel()
	w := usageWorld(t)
	r := w.run(t, "", "usage", "--summary", "--since", "7d", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got []usageSummaryOutput
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	last := "2026-11-27T07:00:00Z"
	want := []usageSummaryOutput{{Token: "ci-deploy", Uses: 3, Failures: 1, Networks: 2, LastUsedAt: &last, LastUsedIP: "198.51.100.3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	r = w.run(t, "", "usage", "--summary")
	if r.code != 0 || !strings.Contains(r.stdout, "ci-deploy") || !strings.HasPrefix(r.stdout, "TOKEN") {
		t.Errorf("summary table: %d %q %s", r.code, r.stdout, r.stderr)
	}
}

func TestUsageBadFlags(t *testing.T) {
	t.Parallel()
	w := usageWorld(t)
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"usage", "--ip", "not-a-net"}, "--ip"},
		{[]string{"usage", "--since", "3x"}, "-since"},
		{[]string{"usage", "--format", "xml"}, "--format"},
		{[]string{"usage", "--code", "Bad Code"}, "--code"},
		{[]string{"usage", "--limit", "-1"}, "-limit"},
		{[]string{"usage", "maintain", "--usage-retention", "ninety"}, "-usage-retention"},
		{[]string{"alerts", "--format", "csv"}, "--format"},
		{[]string{"alerts", "ack"}, "one alert id"},
	} {
		r := w.run(t, "", c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.says) {
			t.Errorf("%v: exit %d %q, want %d naming %s", c.args, r.code, r.stderr, exitUsage, c.says)
		}
	}
}

func TestUsageMaintainAndAlertsAck(t *testing.T) {
	t.Parallel()
	w := usageWorld(t)
	r := w.run(t, "", "usage", "maintain", "--usage-retention", "1d")
	if r.code != 0 || !strings.Contains(r.stdout, "removed 1 events from 2026-11-25T09:00:00Z to 2026-11-25T09:00:00Z") {
		t.Fatalf("maintain: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := w.run(t, "", "usage", "--since", "30d", "--format", "json"); strings.Contains(r.stdout, "192.0.2.1\"") {
		t.Errorf("the pruned event is still listed: %s", r.stdout)
	}
	r = w.run(t, "", "usage", "maintain")
	if r.code != 0 || !strings.Contains(r.stdout, "usage retention 90d: nothing older to remove") {
		t.Errorf("maintain again: exit %d %q %s", r.code, r.stdout, r.stderr)
	}

	r = w.with("USER", "alice").run(t, "", "alerts", "ack", "al-1")
	if r.code != 0 || r.stdout != "alert al-1 acknowledged by alice\n" {
		t.Fatalf("ack: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := w.run(t, "", "alerts", "ack", "--by", "bob", "nope"); r.code != exitFailed || !strings.Contains(r.stderr, "no alert has the id") {
		t.Errorf("ack of an unknown alert: exit %d %s", r.code, r.stderr)
	}
	r = w.run(t, "", "alerts", "--since", "7d", "--format", "json")
	var got []alertOutput
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 {
		t.Fatalf("alerts: %v %s", err, r.stdout)
	}
	if got[0].ID != "al-1" || got[0].AckedBy != "alice" || got[0].AckedAt == nil || got[0].Evidence["version"] != "v0" || got[1].AckedAt != nil {
		t.Errorf("alerts after the ack: %+v", got)
	}

	// Both changes are in the audit chain, which verifies.
	ar, err := registry.OpenAuditReader(t.Context(), registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	if _, err := ar.Verify(t.Context(), audit.Options{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), w.path, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, _ := st.AuditEvents(t.Context(), 0, 1000)
	var actions []string
	for _, e := range events[len(events)-2:] {
		actions = append(actions, e.Action+" "+e.Actor+" "+e.Details["count"]+e.Details["by"])
	}
	if want := []string{"usage.prune tokenward 1", "alert.ack alice alice"}; !reflect.DeepEqual(actions, want) {
		t.Errorf("audit events %v, want %v", actions, want)
	}
}
