package registry_test

import (
	"database/sql"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// usageGuide documents the PostgreSQL roles of the usage log; its SQL
// blocks are what the tests below run, so the guide cannot drift.
const usageGuide = "../../templates/guides/usage.md"

// usageGuideRole creates, as the owner of dsn's database, the role the
// usage guide's SQL block for test creates, drops it when the test ends,
// and returns the DSN that logs in as it.
func usageGuideRole(t *testing.T, dsn, test, role string) string {
	t.Helper()
	b, err := os.ReadFile(usageGuide)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)" + test + " runs exactly the SQL of the next block\\. -->\n```sql\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no SQL block after the marker of %s", usageGuide, test)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = owner.Exec(`DROP OWNED BY ` + role)
		_, _ = owner.Exec(`DROP ROLE IF EXISTS ` + role)
		owner.Close()
	})
	for _, stmt := range strings.Split(string(m[1]), ";") {
		if stmt = strings.TrimSpace(stmt); stmt == "" {
			continue
		}
		stmt = strings.ReplaceAll(stmt, "DATABASE tokenward ", "DATABASE "+strings.TrimPrefix(u.Path, "/")+" ")
		if _, err := owner.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	u.User = url.UserPassword(role, "change-me")
	return u.String()
}

// ownerStore creates the store as its owner would, with one token, and
// returns the owner's environment.
func ownerStore(t *testing.T) (dsn string, env map[string]string) {
	t.Helper()
	ctx := t.Context()
	dsn = engines.DSN(t, "postgres")
	env = keyEnv(t, dsn)
	admin, err := registry.Open(ctx, registry.Config{Getenv: getenv(env), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.CreateScope(ctx, "billing:read", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateToken(ctx, registry.TokenSpec{Name: "ci", Scopes: []string{"billing:read"},
		Lifetime: store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	return dsn, env
}

// TestPostgresServerUsageRole: the server's role the guide documents,
// created with exactly its SQL, opens the store for writing without a
// master key, verifies, appends usage events (creating the day's
// partition), alerts and their audit events, and can do nothing else.
func TestPostgresServerUsageRole(t *testing.T) {
	ctx := t.Context()
	dsn, _ := ownerStore(t)
	serverDSN := usageGuideRole(t, dsn, "TestPostgresServerUsageRole", "tokenward_server")

	reg, access, err := registry.OpenServer(ctx, registry.Config{Getenv: getenv(map[string]string{registry.EnvStore: serverDSN})})
	if err != nil {
		t.Fatalf("open as the server role: %v", err)
	}
	defer reg.Close()
	if !access.Writable || access.Keys {
		t.Fatalf("access %+v, want writable without keys", access)
	}
	u, err := reg.UsageLog()
	if err != nil {
		t.Fatal(err)
	}
	// A day far ahead has no partition: the role creates it.
	far := time.Now().UTC().Add(400 * 24 * time.Hour)
	if err := u.AppendUsage(ctx, []store.UsageEvent{
		{At: time.Now(), TokenID: "x", TokenName: "ci", Code: "valid", SourceIP: "192.0.2.1"},
		{At: far, TokenName: "ci", Code: "valid", SourceIP: "192.0.2.2"},
	}); err != nil {
		t.Fatalf("append usage events as the server role: %v", err)
	}
	// The batch's event of a token was rolled up, and a second batch adds
	// to its row (the upsert's UPDATE).
	if err := u.AppendUsage(ctx, []store.UsageEvent{{At: time.Now(), TokenID: "x", TokenName: "ci", Code: "expired", SourceIP: "192.0.2.1"}}); err != nil {
		t.Fatalf("append to the day's rollup as the server role: %v", err)
	}
	rollup, err := reg.UsageRollup()
	if err != nil {
		t.Fatal(err)
	}
	days, err := rollup.UsageDays(ctx, time.Now().Add(-24*time.Hour), time.Time{})
	if err != nil {
		t.Fatalf("read the daily rollup as the server role: %v", err)
	}
	if len(days) != 1 || days[0].Uses != 2 || days[0].Failures != 1 {
		t.Errorf("daily rollup %+v, want the token's two events of today, one failed", days)
	}
	parts, err := store.UsagePartitions(ctx, reg.Store())
	if err != nil {
		t.Fatal(err)
	}
	if last := parts[len(parts)-1]; !last.Equal(far.Truncate(24 * time.Hour)) {
		t.Errorf("the server role did not create the partition of %v: %v", far, parts)
	}
	a, err := reg.AlertLog()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AppendAlert(ctx, store.Alert{ID: "al-1", At: time.Now(), Detector: "ip_denied", Severity: store.SeverityHigh, Detail: "d"}); err != nil {
		t.Fatalf("append an alert as the server role: %v", err)
	}
	if err := reg.RecordUsageDropped(ctx, 3, time.Now()); err != nil {
		t.Fatalf("record dropped events as the server role: %v", err)
	}

	refused(t, serverDSN, "the server role",
		`DELETE FROM usage_events`,
		`DELETE FROM usage_daily`,
		`UPDATE alerts SET acked_by = 'mallory'`,
		`DELETE FROM alerts`,
		`DELETE FROM audit_events`,
		`UPDATE token_versions SET state = 'current'`,
		`INSERT INTO scopes (name, created_at, updated_at) VALUES ('admin:*', 0, 0)`,
		`SELECT COUNT(*) FROM settings`,
		`SELECT COUNT(*) FROM destinations`,
		`SELECT * FROM usage_events_drop_partition('usage_events_p20990101')`,
		`CREATE TABLE usage_events_p20990101 PARTITION OF usage_events FOR VALUES FROM (4070908800000000) TO (4070995200000000)`)
	// The owner sees a chain that verifies, with the server's event in it.
	owner, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	events := storetest.AuditChain(t, owner)
	if e := events[len(events)-1]; e.Action != "usage.drop" || e.Details["dropped"] != "3" {
		t.Errorf("last audit event %+v, want the server's usage.drop", e)
	}

}

// TestPostgresUsageMaintainRole: the maintenance role the guide documents
// creates partitions ahead, drops old days, prunes the DEFAULT partition,
// records it in the audit chain and acknowledges alerts; it reads no token.
func TestPostgresUsageMaintainRole(t *testing.T) {
	ctx := t.Context()
	dsn, _ := ownerStore(t)
	owner, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	now := time.Now().UTC()
	ou, _ := store.AsUsageLog(owner)
	if err := ou.AppendUsage(ctx, []store.UsageEvent{
		{At: now.Add(-100 * 24 * time.Hour), TokenID: "x", TokenName: "ci", Code: "valid"},
		{At: now.Add(-time.Hour), TokenID: "x", TokenName: "ci", Code: "valid"},
	}); err != nil {
		t.Fatal(err)
	}
	oa, _ := store.AsAlertLog(owner)
	if err := oa.AppendAlert(ctx, store.Alert{ID: "al-1", At: now, Detector: "new_network", Severity: store.SeverityWarn, Detail: "d"}); err != nil {
		t.Fatal(err)
	}
	// An old event in the DEFAULT partition, as a server without the
	// grant leaves it.
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `INSERT INTO usage_events_default (at, code) VALUES ($1, 'valid')`, now.Add(-200*24*time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}

	maintainDSN := usageGuideRole(t, dsn, "TestPostgresUsageMaintainRole", "tokenward_usage_maintain")
	reg, err := registry.OpenUsageKeeper(ctx, registry.Config{Getenv: getenv(map[string]string{registry.EnvStore: maintainDSN})})
	if err != nil {
		t.Fatalf("open as the maintenance role: %v", err)
	}
	defer reg.Close()
	p, err := reg.MaintainUsage(ctx, 90*24*time.Hour, 7)
	if err != nil {
		t.Fatalf("maintain as the maintenance role: %v", err)
	}
	if p.Count != 2 {
		t.Errorf("pruned %+v, want the two old events", p)
	}
	// The old day's rollup went with its events; today's stays.
	or, _ := store.AsUsageRollup(owner)
	if days, err := or.UsageDays(ctx, time.Time{}, time.Time{}); err != nil || len(days) != 1 || !days[0].Day.Equal(now.Truncate(24*time.Hour)) {
		t.Errorf("daily rollup after maintain: %+v, %v; want today's row only", days, err)
	}
	parts, _ := store.UsagePartitions(ctx, owner)
	if len(parts) != 8 || !parts[7].Equal(now.Truncate(24*time.Hour).Add(7*24*time.Hour)) {
		t.Errorf("partitions %v, want today and 7 days ahead", parts)
	}
	if err := reg.AckAlert(ctx, "al-1", "alice"); err != nil {
		t.Fatalf("ack as the maintenance role: %v", err)
	}
	events := storetest.AuditChain(t, owner)
	if e := events[len(events)-1]; e.Action != "alert.ack" || events[len(events)-2].Action != "usage.prune" {
		t.Errorf("last audit events %+v", events[len(events)-2:])
	}
	refused(t, maintainDSN, "the maintenance role",
		`SELECT COUNT(*) FROM tokens`,
		`SELECT COUNT(*) FROM token_versions`,
		`INSERT INTO usage_events (at, code) VALUES (0, 'valid')`,
		`INSERT INTO usage_daily (token_id, day, scope, uses, last_at) VALUES ('x', 0, '', 1, 0)`,
		`UPDATE usage_daily SET uses = 0`,
		`UPDATE alerts SET detail = 'nothing to see'`,
		`DELETE FROM alerts`,
		`DELETE FROM audit_events`)
}

// TestPostgresPartitionFunctionsIgnoreTheCallersTables: the partition
// functions run with their owner's rights, so a caller's temporary table
// named like one they use (with a trigger that would run as the owner) must
// never be the one they find. The attack of the outside review: a temporary
// usage_events_default whose DELETE trigger grants the caller every table.
func TestPostgresPartitionFunctionsIgnoreTheCallersTables(t *testing.T) {
	ctx := t.Context()
	dsn, _ := ownerStore(t)
	serverDSN := usageGuideRole(t, dsn, "TestPostgresServerUsageRole", "tokenward_server")
	db, err := sql.Open("pgx", serverDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // one session: temporary objects are its own
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		`CREATE TEMP TABLE usage_events_default (LIKE usage_events)`,
		`CREATE FUNCTION pg_temp.evil() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			EXECUTE 'GRANT ALL ON ALL TABLES IN SCHEMA public TO tokenward_server'; RETURN NULL; END $$`,
		`CREATE TRIGGER evil BEFORE DELETE ON pg_temp.usage_events_default FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.evil()`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// 2090-01-01, a day with no partition yet: the function moves its rows
	// out of the DEFAULT partition, the real one.
	if _, err := conn.ExecContext(ctx, `SELECT usage_events_partition(3786912000000000)`); err != nil {
		t.Fatalf("create a partition as the server role: %v", err)
	}
	refused(t, serverDSN, "the server role after the attack",
		`SELECT COUNT(*) FROM destinations`,
		`DELETE FROM alerts`,
		`UPDATE token_versions SET state = 'current'`)
}
