package review_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/review"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden reports of runtime_test.go in testdata")

// runtimeNow is when the facts of the runtime tests were read.
var runtimeNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return runtimeNow.Add(-time.Duration(n) * 24 * time.Hour) }

func scopes(ss ...string) []any {
	out := []any{}
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

// runtimePlan changes tokens in every way the usage facts judge.
func runtimePlan() *tfjson.Plan {
	role := func(name string, ss ...string) obj { return obj{"name": name, "scopes": scopes(ss...)} }
	return &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
		change("tokenward_role", "deployer", noop, role("deployer", "deploy:run", "deploy:read"), role("deployer", "deploy:run", "deploy:read"), nil),
		change("tokenward_role", "reader", update, role("reader", "r:read", "r:list"), role("reader", "r:read"), nil),
		// api loses billing:write, used 2 days ago, and reports:read,
		// used 20 days ago; audit:read it keeps was never used.
		change("tokenward_token", "api", update,
			token("api", "scopes", scopes("audit:read", "billing:read", "billing:write", "reports:read")),
			token("api", "scopes", scopes("audit:read", "billing:read")), nil),
		// ci loses the role deployer; deploy:read it keeps as its own.
		change("tokenward_token", "ci", update,
			token("ci", "scopes", scopes("deploy:read"), "roles", scopes("deployer")),
			token("ci", "scopes", scopes("deploy:read"), "roles", scopes()), nil),
		// viewer keeps the role reader, which shrinks.
		change("tokenward_token", "viewer", update,
			token("viewer", "roles", scopes("reader")),
			token("viewer", "owner", "data", "roles", scopes("reader")), nil),
		// wild narrows a wildcard to what one consumer uses.
		change("tokenward_token", "wild", update,
			token("wild", "scopes", scopes("files:*")), token("wild", "scopes", scopes("files:read")), nil),
		change("tokenward_token", "idle", update,
			token("idle", "scopes", scopes("x:read")), token("idle", "scopes", scopes("x:read", "x:write")), nil),
		change("tokenward_token", "old", del, token("old", "scopes", scopes("o:read")), nil, nil),
		change("tokenward_token", "stale", del, token("stale", "scopes", scopes("s:read")), nil, nil),
		change("tokenward_token", "ghost", update, token("ghost"), token("ghost", "owner", "nobody"), nil),
		change("tokenward_token", "decoy", del, token("decoy", "honeytoken", true, "scopes", scopes("admin:*")), nil, nil),
		change("tokenward_token", "fresh", create, nil, token("fresh", "scopes", scopes("f:read")), nil),
		// batch is left as it is, and loses r:list with the role reader;
		// cron loses the role legacy, which is deleted.
		change("tokenward_token", "batch", noop, token("batch", "roles", scopes("reader")), token("batch", "roles", scopes("reader")), nil),
		change("tokenward_role", "legacy", del, role("legacy", "legacy:run"), nil, nil),
		change("tokenward_token", "cron", noop, token("cron", "roles", scopes("legacy")), token("cron", "roles", scopes("legacy")), nil),
		change("tokenward_token", "quiet", noop, token("quiet", "roles", scopes("reader")), token("quiet", "roles", scopes("reader")), nil),
	}}
}

func runtimeFacts() *review.Runtime {
	use := func(n int64, ago int) review.ScopeUse {
		return review.ScopeUse{Uses: n, LastAt: daysAgo(ago).Add(-time.Hour)}
	}
	return &review.Runtime{Now: runtimeNow, Window: 30 * 24 * time.Hour, Tokens: map[string]review.TokenUsage{
		"api": {LastUsedAt: daysAgo(0), LastUsedNetwork: "192.0.2.0/24", Scopes: map[string]review.ScopeUse{
			"billing:read": use(120, 0), "billing:write": use(3, 2), "reports:read": use(1, 20)}},
		"ci": {LastUsedAt: daysAgo(1), LastUsedNetwork: "2001:db8:1::/48", Scopes: map[string]review.ScopeUse{
			"deploy:run": use(40, 1), "deploy:read": use(40, 1)}},
		"viewer": {LastUsedAt: daysAgo(4), Scopes: map[string]review.ScopeUse{"r:list": use(7, 4), "r:read": use(2, 9)}},
		"wild":   {LastUsedAt: daysAgo(1), Scopes: map[string]review.ScopeUse{"files:read": use(9, 1), "files:write": use(1, 1)}},
		"idle":   {},
		"old":    {LastUsedAt: daysAgo(3), LastUsedNetwork: "198.51.100.0/24", Scopes: map[string]review.ScopeUse{"o:read": use(5, 3)}},
		"stale":  {LastUsedAt: daysAgo(60), LastUsedNetwork: "198.51.100.0/24"},
		"decoy":  {LastUsedAt: daysAgo(1), LastUsedNetwork: "203.0.113.0/24"},
		"batch":  {LastUsedAt: daysAgo(1), Scopes: map[string]review.ScopeUse{"r:list": use(30, 1)}},
		"cron":   {LastUsedAt: daysAgo(3), Scopes: map[string]review.ScopeUse{"legacy:run": use(3, 3)}},
		"quiet":  {LastUsedAt: daysAgo(2), Scopes: map[string]review.ScopeUse{"r:read": use(4, 2)}},
	}}
}

// TestRuntimeFlags: what the usage facts make of each change.
func TestRuntimeFlags(t *testing.T) {
	rep := review.Build(runtimePlan(), review.Options{Runtime: runtimeFacts()})
	want := []struct {
		address string
		level   review.Level
		phrase  string
	}{
		{"tokenward_token.api", review.High, "scope `billing:write` is no longer granted but was used 3 times in the last 30d, last on `2026-11-30` (2 days ago): a consumer will start failing"},
		{"tokenward_token.api", review.Warn, "scope `reports:read` is no longer granted and was used 1 time in the last 30d, last on `2026-11-12` (20 days ago)"},
		{"tokenward_token.ci", review.High, "scope `deploy:run` is no longer granted (it came through role `deployer`, removed from the token)"},
		{"tokenward_token.viewer", review.High, "scope `r:list` is no longer granted (role `reader` no longer grants it) but was used 7 times"},
		{"tokenward_token.wild", review.High, "scope `files:write` is no longer granted"},
		{"tokenward_role.reader", review.High, "scope `r:list` is no longer granted to token `batch` but was used 30 times in the last 30d, last on `2026-12-01` (yesterday)"},
		{"tokenward_role.legacy", review.High, "scope `legacy:run` is no longer granted to token `cron` but was used 3 times"},
		{"tokenward_token.old", review.High, "token `old` is deleted but was used on `2026-11-29` (3 days ago) from network `198.51.100.0/24`: a consumer still uses it"},
	}
	for _, w := range want {
		if !hasFlag(rep, w.address, w.level, review.Breakage, w.phrase) {
			t.Errorf("%s: no %s breakage flag saying %q", w.address, w.level, w.phrase)
		}
	}
	never := map[string][]string{
		"tokenward_token.api":   {"billing:read", "audit:read"},
		"tokenward_token.ci":    {"deploy:read"},
		"tokenward_token.wild":  {"files:read"},
		"tokenward_token.stale": {"deleted"},
		"tokenward_token.idle":  {"no longer granted"},
		"tokenward_token.fresh": {"used"},
		"tokenward_token.decoy": {"still uses", "was used"},
		"tokenward_role.reader": {"to token `viewer`", "to token `quiet`"}, // viewer's own change says it; quiet keeps what it uses
	}
	for _, ch := range rep.Changes {
		for _, f := range ch.Flags {
			if f.Category != review.Breakage {
				continue
			}
			for _, p := range never[ch.Address] {
				if strings.Contains(f.Message, p) {
					t.Errorf("%s: breakage flag %q names %q, which the change does not take from a consumer", ch.Address, f.Message, p)
				}
			}
		}
	}
	details := map[string][]string{
		"tokenward_token.api":   {"last use: `2026-12-02` (today), from network `192.0.2.0/24`", "held but not used in the last 30d: `audit:read`"},
		"tokenward_token.idle":  {"last use: never", "scopes used in the last 30d: none", "held but not used in the last 30d: `x:read`, `x:write`"},
		"tokenward_token.stale": {"last use: `2026-10-03` (60 days ago), from network `198.51.100.0/24`"},
		"tokenward_token.ghost": {"usage: `ghost` is not in the store given with --store"},
		"tokenward_token.decoy": {"last presented (by whoever holds the decoy): `2026-12-01` (yesterday), from network `203.0.113.0/24`"},
	}
	for _, ch := range rep.Changes {
		for _, d := range details[ch.Address] {
			if !strings.Contains(strings.Join(ch.Details, "\n"), d) {
				t.Errorf("%s: no detail %q in\n%s", ch.Address, d, strings.Join(ch.Details, "\n"))
			}
		}
		if ch.Address == "tokenward_token.fresh" && strings.Contains(strings.Join(ch.Details, "\n"), "use") {
			t.Errorf("a new token has no use to show, got\n%s", strings.Join(ch.Details, "\n"))
		}
	}
	if rep.Risk != review.High {
		t.Errorf("risk %s, want high", rep.Risk)
	}
	if !strings.Contains(rep.Usage, "2026-11-02 to 2026-12-02") {
		t.Errorf("usage line %q does not say the window", rep.Usage)
	}
}

// TestStoreTokens: the tokens whose use is read are those changed that the
// store has, and those unchanged that hold a role the plan changes.
func TestStoreTokens(t *testing.T) {
	got := strings.Join(review.StoreTokens(runtimePlan()), " ")
	if want := "api batch ci cron decoy ghost idle old quiet stale viewer wild"; got != want {
		t.Errorf("StoreTokens = %s, want %s", got, want)
	}
}

// TestRuntimeUnavailable: without usage facts the review says so in one
// line and is otherwise the review without a store.
func TestRuntimeUnavailable(t *testing.T) {
	plan := runtimePlan()
	without := review.Build(plan, review.Options{})
	with := review.Build(plan, review.Options{Runtime: &review.Runtime{Unavailable: "the store's usage log holds no event yet"}})
	if without.Usage != "" || strings.Contains(without.Markdown(), "Usage") {
		t.Errorf("a review without --store speaks of usage: %q", without.Usage)
	}
	got := strings.Replace(with.Markdown(), "\nUsage: not shown, the store's usage log holds no event yet.\n", "", 1)
	if got != without.Markdown() {
		t.Errorf("the review with no usage data is not the review without a store and one line:\n--- got\n%s\n--- without\n%s", with.Markdown(), without.Markdown())
	}
	if with.Risk != without.Risk {
		t.Errorf("risk %s with no usage data, %s without a store", with.Risk, without.Risk)
	}
}

// TestRuntimeGolden: the whole report with usage facts, in both forms, the
// same at every run.
func TestRuntimeGolden(t *testing.T) {
	rep := review.Build(runtimePlan(), review.Options{Runtime: runtimeFacts()})
	for _, g := range []struct{ file, got string }{
		{"runtime.md", rep.Markdown()},
		{"runtime.json", string(rep.JSON())},
		{"runtime_unavailable.md", review.Build(runtimePlan(), review.Options{Runtime: &review.Runtime{Unavailable: "the store could not be read (the reason is in the log)"}}).Markdown()},
	} {
		path := filepath.Join("testdata", g.file)
		if *updateGolden {
			if err := os.WriteFile(path, []byte(g.got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to write it)", err)
		}
		if g.got != string(want) {
			t.Errorf("report differs from %s:\n--- got\n%s\n--- want\n%s", path, g.got, want)
		}
		if again := review.Build(runtimePlan(), review.Options{Runtime: runtimeFacts()}); g.file == "runtime.md" && again.Markdown() != g.got {
			t.Error("two reviews of the same plan and facts differ")
		}
	}
}

// TestRuntimeNeverShowsAnAddress: whatever the caller passes as the last
// use's network, the report shows at most its /24 or /48.
func TestRuntimeNeverShowsAnAddress(t *testing.T) {
	cases := []struct{ given, shown string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"192.0.2.77/32", "192.0.2.0/24"},
		{"::ffff:192.0.2.9", "192.0.2.0/24"},
		{"2001:db8:1:2::5", "2001:db8:1::/48"},
		{"2001:db8:1:2::/64", "2001:db8:1::/48"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"not an address", ""},
	}
	for _, c := range cases {
		t.Run(c.given, func(t *testing.T) {
			facts := &review.Runtime{Now: runtimeNow, Window: 30 * 24 * time.Hour, Tokens: map[string]review.TokenUsage{
				"old": {LastUsedAt: daysAgo(1), LastUsedNetwork: c.given}}}
			plan := &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
				change("tokenward_token", "old", del, token("old"), nil, nil)}}
			md := review.Build(plan, review.Options{Runtime: facts}).Markdown()
			if c.shown == "" {
				if strings.Contains(md, "network") {
					t.Errorf("%q is shown as a network:\n%s", c.given, md)
				}
				return
			}
			if !strings.Contains(md, "- last use: `2026-12-01` (yesterday), from network `"+c.shown+"`") ||
				!strings.Contains(md, "was used on `2026-12-01` (yesterday) from network `"+c.shown+"`") {
				t.Errorf("%q is not shown as %s:\n%s", c.given, c.shown, md)
			}
		})
	}
}

// BenchmarkReviewRuntime reviews bigPlan's 1,000 changed tokens without
// and with usage facts for each (ten used scopes, one of them lost), side
// by side: the facts' cost is the difference.
func BenchmarkReviewRuntime(b *testing.B) {
	plan, err := review.Read(bytes.NewReader(bigPlan(b, 1000)))
	if err != nil {
		b.Fatal(err)
	}
	facts := &review.Runtime{Now: runtimeNow, Window: 30 * 24 * time.Hour, Tokens: map[string]review.TokenUsage{}}
	for _, name := range review.StoreTokens(plan) {
		u := review.TokenUsage{LastUsedAt: daysAgo(1), LastUsedNetwork: "192.0.2.0/24", Scopes: map[string]review.ScopeUse{}}
		for i := range 10 {
			u.Scopes[fmt.Sprintf("c:%d", i)] = review.ScopeUse{Uses: 5, LastAt: daysAgo(i)}
		}
		u.Scopes["a:read"] = review.ScopeUse{Uses: 1, LastAt: daysAgo(2)}
		facts.Tokens[name] = u
	}
	for _, c := range []struct {
		name string
		opts review.Options
	}{{"without", review.Options{}}, {"with", review.Options{Runtime: facts}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				_ = review.Build(plan, c.opts).Markdown()
			}
		})
	}
}
