package report

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/detect"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/")

var engines *storetest.Engines

func TestMain(m *testing.M) { storetest.Main(m, &engines) }

const day1 = 24 * time.Hour

// world is a store with one token for each kind of finding, built through
// the registry, and the secrets that must never appear in a report.
type world struct {
	reg     *registry.Registry
	st      store.Store
	now     time.Time
	secrets []string
	policy  policy.Policy
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newWorld builds the world on st with a registry that has the master key
// and a deterministic source of randomness, so its audit chain (and so the
// report) is the same at every run.
func newWorld(t *testing.T, st store.Store) world {
	ctx := context.Background()
	rnd := rand.NewChaCha8([32]byte{17})
	material := make([]byte, seal.KeySize)
	_, _ = rnd.Read(material)
	key, err := seal.NewKey(material)
	must(t, err)
	clock := clocktest.New()
	now := clock.Now()
	t0 := now.Add(-60 * day1)
	clock.Set(t0)
	reg := registry.New(st, seal.NewKeyring(key), registry.WithClock(clock.Now), registry.WithActor("test"), registry.WithRandom(rnd))
	w := world{reg: reg, st: st, now: now, secrets: []string{base64.StdEncoding.EncodeToString(material)},
		policy: policy.Policy{RequireOwner: true, MaxTTL: 80 * day1}}

	for _, s := range []string{"billing:read", "billing:write", "deploy:read", "deploy:write", "audit:read"} {
		_, err := reg.CreateScope(ctx, s, "")
		must(t, err)
	}
	_, err = reg.CreateRole(ctx, registry.RoleSpec{Name: "deployer", Scopes: []string{"deploy:read", "deploy:write"}})
	must(t, err)
	dest, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: "acme/billing", Name: "BILLING_TOKEN"})
	must(t, err)
	long := store.Lifetime{TTL: 90 * day1, RotateBefore: 14 * day1, Overlap: day1}
	specs := []registry.TokenSpec{
		{Name: "billing-ci", Owner: "team-billing", Scopes: []string{"billing:read", "billing:write"}, Lifetime: long, Destinations: []store.Destination{dest}},
		{Name: "decoy", Owner: "security", Scopes: []string{"billing:write"}, Lifetime: long, Honeytoken: true},
		{Name: "deploy-bot", Owner: "team-ops", Roles: []string{"deployer"}, Lifetime: store.Lifetime{TTL: 75 * day1, RotateBefore: 14 * day1, Overlap: day1}},
		{Name: "deploy-two", Owner: "team-ops", Roles: []string{"deployer"}, Lifetime: store.Lifetime{TTL: 75 * day1, RotateBefore: 30 * day1, Overlap: day1}},
		{Name: "expiring", Owner: "team-audit", Scopes: []string{"audit:read"}, Lifetime: store.Lifetime{TTL: 14 * day1, RotateBefore: 7 * day1, Overlap: day1}},
		{Name: "old-unused", Scopes: []string{"audit:read"}, Lifetime: store.Lifetime{TTL: 75 * day1, RotateBefore: 7 * day1, Overlap: day1}},
	}
	ids := map[string]string{}
	versions := map[string]string{}
	for _, spec := range specs {
		tk, err := reg.CreateToken(ctx, spec)
		must(t, err)
		ids[spec.Name] = tk.ID
		is, err := reg.IssueFirst(ctx, spec.Name)
		must(t, err)
		versions[spec.Name] = is.VersionID
		w.secrets = append(w.secrets, is.Value)
	}
	// deploy-bot's rotation was due: it began, and did not finish.
	clock.Set(now.Add(-2 * day1))
	is, _, err := reg.BeginRotation(ctx, "deploy-bot")
	must(t, err)
	w.secrets = append(w.secrets, is.Value)
	must(t, reg.RecordDelivery(ctx, "billing-ci", versions["billing-ci"], dest.Key, errors.New("403 Resource not accessible by integration")))

	must(t, reg.CreateSetting(ctx, registry.SettingSpec{Key: "session.timeout", Type: "number", Default: json.RawMessage(`15`), UserEditable: true,
		Constraints: store.Constraints{Min: ptr(1), Max: ptr(120)}}))
	must(t, reg.CreateSetting(ctx, registry.SettingSpec{Key: "smtp.password", Type: "string", Default: json.RawMessage(`"s3cret-default"`), UserEditable: true, Sensitive: true}))
	must(t, reg.CreateSetting(ctx, registry.SettingSpec{Key: "ui.theme", Type: "string", Default: json.RawMessage(`"light"`), UserEditable: true,
		Constraints: store.Constraints{AllowedValues: []json.RawMessage{json.RawMessage(`"light"`), json.RawMessage(`"midnight-purple"`)}}}))
	must(t, reg.SetUserValues(ctx, "alice", map[string]json.RawMessage{"session.timeout": json.RawMessage(`97`), "smtp.password": json.RawMessage(`"hunter2-sealed"`),
		"ui.theme": json.RawMessage(`"midnight-purple"`)}))
	// No user value is printed, sensitive or not.
	w.secrets = append(w.secrets, "s3cret-default", "hunter2-sealed", "midnight-purple")
	// Tightened behind the registry's back, as a setting updated by an
	// older tokenward or by hand would be.
	must(t, st.Update(ctx, func(tx store.Tx) error {
		for key, c := range map[string]store.Constraints{"session.timeout": {Min: ptr(1), Max: ptr(60)}, "smtp.password": {Pattern: "[a-z]{1,4}"},
			"ui.theme": {AllowedValues: []json.RawMessage{json.RawMessage(`"light"`)}}} {
			s, err := tx.GetSetting(ctx, key)
			if err != nil {
				return err
			}
			s.Constraints = c
			if err := tx.UpdateSetting(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}))

	ul, err := reg.UsageLog()
	must(t, err)
	ev := func(name string, at time.Time, code string, scopes ...string) store.UsageEvent {
		return store.UsageEvent{At: at, TokenID: ids[name], TokenName: name, VersionID: versions[name], Code: code, Endpoint: "verify",
			SourceIP: "192.0.2.10", ScopesRequired: scopes, Honeytoken: name == "decoy"}
	}
	var events []store.UsageEvent
	for d := 1; d <= 5; d++ {
		at := now.Add(-time.Duration(d) * day1)
		for range d {
			events = append(events, ev("billing-ci", at, "valid", "billing:read"))
		}
		events = append(events, ev("deploy-bot", at, "valid", "deploy:read"))
	}
	events = append(events,
		ev("billing-ci", now.Add(-time.Hour), "insufficient_scope", "billing:write"),
		ev("deploy-two", t0.Add(day1), "valid", "deploy:read"),
		ev("decoy", now.Add(-3*day1), "not_found", "billing:write"))
	must(t, ul.AppendUsage(ctx, events))

	al, err := reg.AlertLog()
	must(t, err)
	for _, a := range []store.Alert{
		{ID: "a1", At: now.Add(-3 * day1), Detector: detect.ExpiredVersionUsed, Severity: store.SeverityHigh, TokenID: ids["expiring"], TokenName: "expiring", Detail: "expired version presented"},
		{ID: "a2", At: now.Add(-2 * day1), Detector: detect.ExpiredVersionUsed, Severity: store.SeverityHigh, TokenID: ids["expiring"], TokenName: "expiring", Detail: "expired version presented"},
		{ID: "a3", At: now.Add(-3 * day1), Detector: "honeytoken_used", Severity: store.SeverityCritical, TokenID: ids["decoy"], TokenName: "decoy", Detail: "decoy presented"},
		{ID: "a4", At: now.Add(-day1), Detector: "new_network", Severity: store.SeverityWarn, TokenID: ids["billing-ci"], TokenName: "billing-ci", Detail: "new network"},
		{ID: "a5", At: now.Add(-day1), Detector: "failure_burst", Severity: store.SeverityWarn, TokenID: ids["billing-ci"], TokenName: "billing-ci", Detail: "burst", AckedBy: "ops", AckedAt: now},
	} {
		must(t, al.AppendAlert(ctx, a))
	}
	clock.Set(now)
	return w
}

func ptr(f float64) *float64 { return &f }

func (w world) build(t *testing.T, opts Options) *Report {
	t.Helper()
	opts.Now = w.now
	rep, err := Build(context.Background(), w.reg, opts)
	must(t, err)
	return rep
}

// find returns the findings of kind, and of token when given.
func find(rep *Report, kind, token string) []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if f.Kind == kind && (token == "" || f.Token == token) {
			out = append(out, f)
		}
	}
	return out
}

// TestReportFindings: each kind of finding appears once where the world
// put it, with its level and fix, on both engines.
func TestReportFindings(t *testing.T) {
	t.Parallel()
	engines.Run(t, func(t *testing.T, st store.Store, _ string) {
		w := newWorld(t, st)
		rep := w.build(t, Options{Policy: w.policy, PolicySource: "policy.hcl"})
		type want struct {
			kind, token, scope string
			level              review.Level
			detail, fix        string // substrings
		}
		for _, c := range []want{
			{KindNeverUsed, "old-unused", "", review.Warn, "has never been used", "tokenward_token` whose name is `old-unused`"},
			{KindNeverUsed, "expiring", "", review.Warn, "never been used", ""},
			{KindUnused, "deploy-two", "", review.Warn, "last used on 2026-09-29", "remove"},
			{KindUnusedScope, "billing-ci", "billing:write", review.Warn,
				"`billing-ci` holds `billing:read`, `billing:write`; in the 31 days since 2026-10-28 it was asked only for `billing:read`", `scopes = ["billing:read"]`},
			{KindUnusedScope, "deploy-bot", "deploy:write", review.Warn, "never required",
				"role `deployer`: remove it from the `tokenward_role` `deployer` (`scopes = [\"deploy:read\"]`), which takes it from the role's other holders too (`deploy-two`)"},
			{KindPolicyViolation, "billing-ci", "", review.High, "ttl", "change ttl"},
			{KindPolicyViolation, "old-unused", "", review.High, "owner", ""},
			{KindVersionExpired, "expiring", "", review.High, "expired on 2026-10-12", "tokenward rotate --token expiring"},
			{KindRotationOverdue, "deploy-two", "", review.Warn, "due for rotation since 2026-11-12", ""},
			{KindRotationUnfinished, "deploy-bot", "", review.Warn, "still pending", ""},
			{KindDeliveryFailed, "billing-ci", "", review.High, "to `github_secret:acme/billing:BILLING_TOKEN` failed on 2026-11-25: `403", ""},
			{KindExpiredVersionUsed, "expiring", "", review.High, "2 alerts", "--code expired"},
			{KindInvalidUserValue, "", "", review.Warn, "user `alice` holds for `session.timeout` no longer passes the setting: value must be at most 60", ""},
			{KindInvalidUserValue, "", "", review.Warn, "`smtp.password` no longer passes the setting: value does not match the pattern", ""},
			{KindInvalidUserValue, "", "", review.Warn, "`ui.theme` no longer passes the setting: value must be one of \"light\"", ""},
			{KindOpenAlerts, "", "", review.High, "1 open honeytoken_used alerts", "tokenward alerts"},
			{KindOpenAlerts, "", "", review.Warn, "1 open new_network alerts", ""},
		} {
			var got *Finding
			for _, f := range find(rep, c.kind, c.token) {
				if (c.scope == "" || f.Scope == c.scope) && strings.Contains(f.Detail, c.detail) {
					got = &f
					break
				}
			}
			if got == nil {
				t.Errorf("no %s finding on %q with detail %q; findings:\n%s", c.kind, c.token, c.detail, rep.JSON())
				continue
			}
			if got.Level != c.level || !strings.Contains(got.Fix, c.fix) {
				t.Errorf("%s on %s: level %s, fix %q; want %s, fix with %q", c.kind, c.token, got.Level, got.Fix, c.level, c.fix)
			}
		}
		// Honeytokens are no use, acknowledged alerts are not open, and
		// an intact, signed chain is no finding.
		for _, f := range rep.Findings {
			if f.Token == "decoy" && f.Kind != KindPolicyViolation {
				t.Errorf("a finding on the honeytoken: %+v", f)
			}
			if strings.Contains(f.Detail, "failure_burst") || f.Kind == KindAuditChainBroken || f.Kind == KindAuditNoCheckpoint {
				t.Errorf("unexpected finding: %+v", f)
			}
		}
		if n := len(find(rep, KindSensitiveUnchecked, "")); n != 0 {
			t.Errorf("with the key, %d sensitive_values_unchecked findings", n)
		}
		if rep.Risk != review.High || !rep.Audit.Intact || rep.Audit.Latest == nil || rep.Audit.Latest.Seq != rep.Audit.HeadSeq {
			t.Errorf("risk %s, audit %+v", rep.Risk, rep.Audit)
		}
		if len(rep.Busiest) != 2 || rep.Busiest[0].Token != "billing-ci" || rep.Busiest[0].Total != 16 || rep.Busiest[0].Failed != 1 || rep.Busiest[1].Token != "deploy-bot" {
			t.Errorf("busiest = %+v", rep.Busiest)
		}

		// Without the master key the sealed value is not checked, and said so.
		keyless := registry.New(st, nil, registry.WithClock(func() time.Time { return w.now }))
		rep, err := Build(context.Background(), keyless, Options{Now: w.now})
		must(t, err)
		un := find(rep, KindSensitiveUnchecked, "")
		if len(un) != 1 || un[0].Level != review.Info || !strings.Contains(un[0].Detail, "1 sensitive values of `smtp.password`") {
			t.Errorf("keyless: %+v", un)
		}
		if n := len(find(rep, KindPolicyViolation, "")); n != 0 {
			t.Errorf("no policy given, %d violations", n)
		}
	})
}

// TestReportGolden: the Markdown and the JSON of the world, byte for byte,
// twice the same, and without a secret.
func TestReportGolden(t *testing.T) {
	t.Parallel()
	engines.Run(t, func(t *testing.T, st store.Store, _ string) {
		w := newWorld(t, st)
		rep := w.build(t, Options{Policy: w.policy, PolicySource: "policy.hcl"})
		again := w.build(t, Options{Policy: w.policy, PolicySource: "policy.hcl"})
		md, js := rep.Markdown(), rep.JSON()
		if md != again.Markdown() || !bytes.Equal(js, again.JSON()) {
			t.Error("two reports of the same store and clock differ")
		}
		for _, s := range w.secrets {
			if strings.Contains(md, s) || bytes.Contains(js, []byte(s)) {
				t.Errorf("the report holds a secret (%d bytes)", len(s))
			}
		}
		if !strings.HasPrefix(md, "## tokenward report: risk HIGH\n\n```mermaid\nxychart-beta\n") {
			t.Errorf("the Markdown does not start with the chart:\n%s", md)
		}
		var parsed struct {
			Risk     string           `json:"risk"`
			Findings []map[string]any `json:"findings"`
		}
		must(t, json.Unmarshal(js, &parsed))
		if parsed.Risk != "high" || len(parsed.Findings) != len(rep.Findings) {
			t.Errorf("JSON risk %q, %d findings", parsed.Risk, len(parsed.Findings))
		}
		for _, f := range parsed.Findings {
			for k, v := range f {
				if v == "" {
					t.Errorf("finding %v has an empty %s: fields that do not apply are left out", f, k)
				}
			}
		}
		golden(t, "report.md", []byte(md))
		golden(t, "report.json", js)
	})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update && strings.HasSuffix(t.Name(), "sqlite") {
		must(t, os.MkdirAll("testdata", 0o755))
		must(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test -update to rewrite it):\n%s", t.Name(), path, got)
	}
}
