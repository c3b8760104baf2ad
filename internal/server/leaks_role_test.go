package server_test

import (
	"database/sql"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// leaksGuide documents the PostgreSQL grants of a server that responds to
// leaks; its SQL block is what TestPostgresLeakResponderRole runs, so the
// guide cannot drift.
const leaksGuide = "../../templates/guides/leaks.md"

// leakGuideSQL extracts the statements of the guide's SQL block after the
// marker that names test and says what.
func leakGuideSQL(t *testing.T, test, what string) []string {
	t.Helper()
	b, err := os.ReadFile(leaksGuide)
	must(t, err)
	m := regexp.MustCompile("(?s)" + test + " " + regexp.QuoteMeta(what) + " the next block\\. -->\n```sql\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no SQL block after the marker %q of %s", leaksGuide, what, test)
	}
	var out []string
	for _, stmt := range strings.Split(string(m[1]), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// leakGuideRole creates, as the owner of the database dsn names, the role
// the guide's SQL blocks for test create and grant (the guide's database
// is called tokenward), drops it when the test ends, and returns the DSN
// that logs in as it.
func leakGuideRole(t *testing.T, dsn, test string) string {
	t.Helper()
	stmts := append(leakGuideSQL(t, test, "creates the role with the SQL of"), leakGuideSQL(t, test, "runs exactly the SQL of")...)
	role := regexp.MustCompile(`^CREATE ROLE (\w+)`).FindStringSubmatch(stmts[0])
	if role == nil {
		t.Fatalf("the first SQL block of %s creates no role", test)
	}
	u, err := url.Parse(dsn)
	must(t, err)
	owner, err := sql.Open("pgx", dsn)
	must(t, err)
	t.Cleanup(func() {
		_, _ = owner.Exec(`DROP OWNED BY ` + role[1])
		_, _ = owner.Exec(`DROP ROLE IF EXISTS ` + role[1])
		owner.Close()
	})
	for _, stmt := range stmts {
		stmt = strings.ReplaceAll(stmt, "DATABASE tokenward ", "DATABASE "+strings.TrimPrefix(u.Path, "/")+" ")
		if _, err := owner.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	u.User = url.UserPassword(role[1], "change-me")
	return u.String()
}

// TestPostgresLeakResponderRole: a server logged in as the role the leaks
// guide documents, created with exactly its SQL, answers a partner report
// by revoking the leaked version and rotating the token, and can change
// nothing else.
func TestPostgresLeakResponderRole(t *testing.T) {
	w := newLeakWorld(t, leakSetup{postgres: true, serverRole: "TestPostgresLeakResponderRole"})
	leaked := w.values[0]
	if status, ans := w.report(leaked); status != 200 || len(ans) != 1 || ans[0].Label != "true_positive" {
		t.Fatalf("answer %d %+v\n%s", status, ans, w.log.String())
	}
	if got := w.code(leaked); got != token.Revoked {
		t.Fatalf("the leaked value: %s", got)
	}
	fresh := w.fileValue()
	if fresh == leaked || w.code(fresh) != token.Valid {
		t.Fatalf("not rotated: alerts %+v\n%s", w.alerts.all(), w.log.String())
	}
	if a := w.alerts.all(); len(a) != 1 || a[0].Evidence["response"] != "rotated" {
		t.Fatalf("alerts: %+v", a)
	}
	roleDSN := leakGuideRoleDSN(t, w.dsn)
	refused(t, roleDSN, "the leak responder role",
		`UPDATE tokens SET owner = 'mallory'`,
		`INSERT INTO scopes (name, created_at, updated_at) VALUES ('admin:*', 0, 0)`,
		`DELETE FROM token_versions`,
		`DELETE FROM audit_events`,
		`UPDATE audit_events SET actor = 'mallory'`,
		`UPDATE destinations SET config = '{}'`,
		`SELECT COUNT(*) FROM settings`,
		`SELECT COUNT(*) FROM user_values`)
}

// leakGuideRoleDSN is the DSN of the role leakGuideRole created on dsn's
// database.
func leakGuideRoleDSN(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	must(t, err)
	u.User = url.UserPassword("tokenward_server", "change-me")
	return u.String()
}

// refused checks that each query, run as the role dsn logs in as, is
// refused with permission denied.
func refused(t *testing.T, dsn, who string, queries ...string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	must(t, err)
	defer db.Close()
	for _, q := range queries {
		if _, err := db.ExecContext(t.Context(), q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s as %s: %v, want permission denied", q, who, err)
		}
	}
}
