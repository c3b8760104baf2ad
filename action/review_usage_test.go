package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// runtimePlanFile writes the JSON of a plan that takes billing:read from
// ci-deploy and deletes nightly, as terraform show -json has it.
func runtimePlanFile(t *testing.T) string {
	t.Helper()
	tok := func(name string, scopes ...string) map[string]any {
		return map[string]any{"name": name, "owner": "platform", "scopes": scopes, "roles": []string{}, "ttl": "90d", "rotate_before": "14d", "overlap": "1d"}
	}
	change := func(name string, actions []string, before, after map[string]any) map[string]any {
		c := map[string]any{"actions": actions, "before": before, "after": after}
		return map[string]any{"address": "tokenward_token." + name, "mode": "managed", "type": "tokenward_token", "name": name,
			"provider_name": "registry.terraform.io/tokenward/tokenward", "change": c}
	}
	plan := map[string]any{
		"format_version": "1.2", "terraform_version": "1.9.0",
		"resource_changes": []any{
			change("ci-deploy", []string{"update"}, tok("ci-deploy", "billing:read", "users:read"), tok("ci-deploy", "users:read")),
			change("nightly", []string{"delete"}, tok("nightly", "users:read"), nil),
		},
	}
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runtimeWorld is a store of the engine with two tokens, ci-deploy and
// nightly, and, when uses is set, verifications of both appended through
// the store's usage log: the review's facts come from there, as the server
// records them.
func runtimeWorld(t *testing.T, engine string, uses bool) world {
	t.Helper()
	ctx := t.Context()
	w := world{path: engines.DSN(t, engine)}
	w.env = registrytest.Env(t, w.path)
	w.env["TOKENWARD_NOW"] = usageNow.Format(time.RFC3339)
	reg, err := registry.Open(ctx, registry.Config{Getenv: w.getenv, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, s := range []string{"billing:read", "users:read"} {
		if _, err := reg.CreateScope(ctx, s, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, spec := range []registry.TokenSpec{
		{Name: "ci-deploy", Scopes: []string{"billing:read", "users:read"}},
		{Name: "nightly", Scopes: []string{"users:read"}},
	} {
		spec.Lifetime = store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour}
		if _, err := reg.CreateToken(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	issued, err := reg.IssueFirst(ctx, "ci-deploy")
	if err != nil {
		t.Fatal(err)
	}
	w.value = issued.Value // run fails the test if any output holds it
	ci, err := reg.Token(ctx, "ci-deploy")
	if err != nil {
		t.Fatal(err)
	}
	nightly, err := reg.Token(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if uses {
		u, err := reg.UsageLog()
		if err != nil {
			t.Fatal(err)
		}
		now := usageNow
		ev := func(tk registry.TokenInfo, ago time.Duration, ip string, scopes ...string) store.UsageEvent {
			return store.UsageEvent{At: now.Add(-ago), TokenID: tk.ID, TokenName: tk.Name, VersionID: "v1", Code: "valid",
				Endpoint: "introspect", SourceIP: ip, ScopesRequired: scopes, Caller: "gateway"}
		}
		evs := []store.UsageEvent{
			ev(ci, 20*24*time.Hour, "192.0.2.7", "billing:read"),
			ev(ci, 2*24*time.Hour, "192.0.2.7", "billing:read"),
			ev(ci, 2*24*time.Hour-time.Hour, "192.0.2.9"),
			ev(nightly, 3*24*time.Hour, "198.51.100.23", "users:read"),
		}
		if err := u.AppendUsage(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	delete(w.env, "TOKENWARD_MASTER_KEY") // review --store needs no key
	return w
}

// TestReviewWithStoreKnowsTheRuntime: review --store reads the changed
// tokens' use from the store's usage log and flags what a consumer still
// uses as high breakage, which --fail-on high refuses.
func TestReviewWithStoreKnowsTheRuntime(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			reviewKnowsTheRuntime(t, runtimeWorld(t, engine, true))
		})
	}
}

func reviewKnowsTheRuntime(t *testing.T, w world) {
	plan := runtimePlanFile(t)
	r := w.run(t, "", "review", "--plan", plan, "--store", w.path)
	if r.code != exitFailed || !strings.Contains(r.stderr, "risk is high") {
		t.Fatalf("review --store: exit %d, want %d\n%s%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"Usage (the store, 2026-10-28 to 2026-11-27)",
		"**high** breakage: scope `billing:read` is no longer granted but was used 2 times in the last 30d, last on `2026-11-25` (2 days ago): a consumer will start failing",
		"- last use: `2026-11-25` (2 days ago), from network `192.0.2.0/24`",
		"- scopes used in the last 30d: `billing:read` (2 uses, last `2026-11-25`)",
		"**high** breakage: token `nightly` is deleted but was used on `2026-11-24` (3 days ago) from network `198.51.100.0/24`: a consumer still uses it",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report does not say %q:\n%s", want, r.stdout)
		}
	}
	// Networks, never addresses: the report may be a public comment.
	for _, ip := range []string{"192.0.2.7", "192.0.2.9", "198.51.100.23"} {
		if strings.Contains(r.stdout, ip) {
			t.Errorf("the report shows the address %s:\n%s", ip, r.stdout)
		}
	}

	// A shorter window leaves the use of 20 days ago out.
	r = w.run(t, "", "review", "--plan", plan, "--store", w.path, "--usage-window", "7d", "--fail-on", "never", "--format", "json")
	if r.code != exitOK || !strings.Contains(r.stdout, "(1 use, last `2026-11-25`)") || !strings.Contains(r.stdout, `"usage": "Usage (the store, 2026-11-20 to 2026-11-27)`) {
		t.Fatalf("review --usage-window 7d: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Without --store, the same plan is judged by the plan alone.
	r = w.run(t, "", "review", "--plan", plan, "--fail-on", "never")
	if r.code != exitOK || strings.Contains(r.stdout, "Usage") || strings.Contains(r.stdout, "last use") {
		t.Fatalf("review without --store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestReviewWithStoreWithoutUsage: a store whose usage log is empty, or one
// that cannot be read, is said in one line; the review is otherwise the
// one without a store.
func TestReviewWithStoreWithoutUsage(t *testing.T) {
	t.Parallel()
	w := runtimeWorld(t, "sqlite", false)
	plan := runtimePlanFile(t)
	without := w.run(t, "", "review", "--plan", plan, "--fail-on", "never")
	r := w.run(t, "", "review", "--plan", plan, "--store", w.path, "--fail-on", "never")
	line := "\nUsage: not shown, the store's usage log holds no event yet (is `tokenward serve` recording usage?).\n"
	if r.code != exitOK || !strings.Contains(r.stdout, line) || strings.Replace(r.stdout, line, "", 1) != without.stdout {
		t.Fatalf("review --store on a store without usage: exit %d\n%s%s\n--- without --store\n%s", r.code, r.stdout, r.stderr, without.stdout)
	}

	// An unreachable store: the line, and the reason in the log only. The
	// audit head --store asks for fails the run, as it did before.
	missing := filepath.Join(t.TempDir(), "missing.db")
	r = w.run(t, "", "review", "--plan", plan, "--store", missing, "--fail-on", "never")
	if r.code != exitTrouble || !strings.Contains(r.stdout, "\nUsage: not shown, the store could not be read (the reason is in the log).\n") ||
		strings.Contains(r.stdout, missing) || !strings.Contains(r.stderr, "tokenward: warning: review: usage not shown") {
		t.Fatalf("review --store on a missing store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestReviewUsageWindowFlag(t *testing.T) {
	t.Parallel()
	plan := runtimePlanFile(t)
	for _, c := range []struct{ value, phrase string }{
		{"3d", "--usage-window 3d is shorter than 7d"},
		{"soon", "must be a duration such as 24h, 7d or 90d"},
		{"0", "is shorter than 7d, the span"},
	} {
		r := plainEnv().run(t, "", "review", "--plan", plan, "--usage-window", c.value)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.phrase) {
			t.Errorf("--usage-window %s: exit %d, want %d saying %q\n%s", c.value, r.code, exitUsage, c.phrase, r.stderr)
		}
	}
}

// TestPostgresReviewRole: the role the README gives review --store,
// created with exactly its SQL, reads what the review needs, without a
// master key, and nothing else of the store.
func TestPostgresReviewRole(t *testing.T) {
	t.Parallel()
	w := runtimeWorld(t, "postgres", true)
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)TestPostgresReviewRole runs exactly the SQL of the next block\\. -->\n```sql\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no SQL block after the marker of TestPostgresReviewRole")
	}
	u, err := url.Parse(w.path)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := sql.Open("pgx", w.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = owner.Exec(`DROP OWNED BY tokenward_review`)
		_, _ = owner.Exec(`DROP ROLE IF EXISTS tokenward_review`)
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
	u.User = url.UserPassword("tokenward_review", "change-me")
	reviewer := w.with("TOKENWARD_STORE", "")
	r := reviewer.run(t, "", "review", "--plan", runtimePlanFile(t), "--store", u.String())
	if r.code != exitFailed || !strings.Contains(r.stdout, "scope `billing:read` is no longer granted but was used 2 times") ||
		!strings.Contains(r.stdout, "token `nightly` is deleted but was used") || !strings.Contains(r.stderr, "audit head: ") {
		t.Fatalf("review --store as the review role: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Nothing else: not the destinations, settings or sealed values.
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"destinations", "token_versions", "settings", "user_values", "alerts"} {
		if _, err := db.ExecContext(t.Context(), "SELECT 1 FROM "+table+" LIMIT 1"); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("the review role reads %s: %v", table, err)
		}
	}
}

// BenchmarkReviewStore runs review on a plan that takes a scope from each
// of n tokens, without and with --store (SQLite, n tokens each with 100
// usage events), side by side: the usage reads' cost is the difference.
// Set TOKENWARD_BENCH_TOKENS for n (default 1000).
func BenchmarkReviewStore(b *testing.B) {
	n, err := strconv.Atoi(envOr("TOKENWARD_BENCH_TOKENS", "1000"))
	if err != nil || n < 1 {
		b.Fatalf("TOKENWARD_BENCH_TOKENS: %v", err)
	}
	ctx := b.Context()
	path := filepath.Join(b.TempDir(), "tw.db")
	env := registrytest.Env(b, path)
	env["TOKENWARD_NOW"] = usageNow.Format(time.RFC3339)
	getenv := func(k string) string { return env[k] }
	reg, err := registry.Open(ctx, registry.Config{Getenv: getenv, Create: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []string{"a:read", "a:write"} {
		if _, err := reg.CreateScope(ctx, s, ""); err != nil {
			b.Fatal(err)
		}
	}
	u, err := reg.UsageLog()
	if err != nil {
		b.Fatal(err)
	}
	tok := func(name string, scopes ...string) map[string]any {
		return map[string]any{"name": name, "owner": "o", "scopes": scopes, "roles": []string{}, "ttl": "90d", "rotate_before": "14d", "overlap": "1d"}
	}
	var changes []any
	for i := range n {
		name := fmt.Sprintf("t%05d", i)
		tk, err := reg.CreateToken(ctx, registry.TokenSpec{Name: name, Scopes: []string{"a:read", "a:write"},
			Lifetime: store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour}})
		if err != nil {
			b.Fatal(err)
		}
		evs := make([]store.UsageEvent, 100)
		for j := range evs {
			evs[j] = store.UsageEvent{At: usageNow.Add(-time.Duration(j) * 7 * time.Hour), TokenID: tk.ID, TokenName: name, Code: "valid",
				Endpoint: "introspect", SourceIP: "192.0.2.1", ScopesRequired: []string{"a:read", "a:write"}[j%2:]}
		}
		if err := u.AppendUsage(ctx, evs); err != nil {
			b.Fatal(err)
		}
		changes = append(changes, map[string]any{"address": "tokenward_token." + name, "mode": "managed", "type": "tokenward_token", "name": name,
			"change": map[string]any{"actions": []string{"update"}, "before": tok(name, "a:read", "a:write"), "after": tok(name, "a:read")}})
	}
	reg.Close()
	raw, err := json.Marshal(map[string]any{"format_version": "1.2", "resource_changes": changes})
	if err != nil {
		b.Fatal(err)
	}
	plan := filepath.Join(b.TempDir(), "plan.json")
	if err := os.WriteFile(plan, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	delete(env, "TOKENWARD_MASTER_KEY")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"without", []string{"review", "--plan", plan, "--fail-on", "never"}},
		{"with", []string{"review", "--plan", plan, "--fail-on", "never", "--store", path}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var out, errOut bytes.Buffer
				if code := run(ctx, c.args, strings.NewReader(""), &out, &errOut, getenv); code != exitOK {
					b.Fatalf("exit %d: %s", code, errOut.String())
				}
				if c.name == "with" && !strings.Contains(out.String(), "scope `a:write` is no longer granted") {
					b.Fatalf("no breakage flag:\n%s", out.String()[:min(out.Len(), 2000)])
				}
			}
		})
	}
}
