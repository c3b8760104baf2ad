package report

import (
	"database/sql"
	"fmt"
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
