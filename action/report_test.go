package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// reportWorld is the shared world with a user's sensitive value, which the
// report checks only with the master key, and its master key apart.
func reportWorld(t *testing.T) (w world, key string) {
	t.Helper()
	w = newWorld(t)
	reg, err := registry.Open(t.Context(), registry.Config{Getenv: w.getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.SetUserValues(t.Context(), "alice", map[string]json.RawMessage{"smtp.password": json.RawMessage(`"alice-Secret-7"`)}); err != nil {
		t.Fatal(err)
	}
	key = w.env["TOKENWARD_MASTER_KEY"]
	delete(w.env, "TOKENWARD_MASTER_KEY")
	return w, key
}

// TestReport: the exit codes of --fail-on, bad input and a missing store,
// and what the report says with and without the master key.
func TestReport(t *testing.T) {
	t.Parallel()
	w, key := reportWorld(t)
	policy := filepath.Join(t.TempDir(), "policy.hcl")
	if err := os.WriteFile(policy, []byte("require_owner = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// ci-deploy, created today and never used, is an info finding; so are
	// the sensitive values left unchecked without the key.
	cases := []struct {
		name string
		w    world
		args []string
		code int
		out  string // in stdout when the code is 0 or 1
		err  string // in stderr
	}{
		{"default never fails", w, nil, exitOK, "| **info** | `ci-deploy` was created on 2026-11-27", ""},
		{"fail on info", w, []string{"--fail-on", "info"}, exitFailed, "risk INFO", "2 findings reach info (risk info), which --fail-on info refuses"},
		{"fail on warn", w, []string{"--fail-on", "warn"}, exitOK, "1 sensitive values of `smtp.password` were not checked", ""},
		{"fail on info from the environment", w.with("TOKENWARD_FAIL_ON", "info"), nil, exitFailed, "", "--fail-on info refuses"},
		{"policy", w, []string{"--policy", policy, "--fail-on", "high"}, exitFailed, "the policy requires every token to name an owner", "(risk high)"},
		{"with the key the values are checked", w.with("TOKENWARD_MASTER_KEY", key), []string{"--fail-on", "info"}, exitFailed, "Every user value passes its setting.", "1 findings reach info"},
		{"with the key, signatures checked", w.with("TOKENWARD_MASTER_KEY", key), nil, exitOK, "signatures verified up to event", ""},
		{"unused after a day", w, []string{"--unused-after", "1d"}, exitOK, "over 2 days, 2026-11-26 to 2026-11-27", ""},
		{"bad format", w, []string{"--format", "xml"}, exitUsage, "", "--format \"xml\" must be markdown or json"},
		{"bad fail-on", w, []string{"--fail-on", "critical"}, exitUsage, "", "must be info, warn, high or never"},
		{"bad window", w, []string{"--unused-after", "soon"}, exitUsage, "", "must be a duration such as 24h, 7d or 90d"},
		{"empty window", w, []string{"--unused-after", "0"}, exitUsage, "", "--unused-after must be longer than zero"},
		{"missing policy", w, []string{"--policy", filepath.Join(t.TempDir(), "none.hcl")}, exitUsage, "", "none.hcl"},
		{"an argument", w, []string{"extra"}, exitUsage, "", "unexpected argument"},
		{"bad issue key", w, []string{"--issue-key", "prod store"}, exitUsage, "", "--issue-key \"prod store\" must be 1 to 64 letters, digits, and . _ -"},
		{"bad issue key from the input", w.with("INPUT_ISSUE-KEY", "<!--"), nil, exitUsage, "", "--issue-key \"<!--\" must be"},
		{"bad keep-issue", w.with("INPUT_KEEP-ISSUE", "sometimes"), nil, exitUsage, "", "--keep-issue \"sometimes\" must be auto, true or false"},
		{"no store", w.with("TOKENWARD_STORE", filepath.Join(t.TempDir(), "missing.db")), nil, exitTrouble, "", "missing.db"},
		{"wrong key", w.with("TOKENWARD_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), nil, exitTrouble, "", "does not match the store"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := c.w.run(t, "", append([]string{"report"}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stdout, c.out) || !strings.Contains(r.stderr, c.err) {
				t.Fatalf("exit %d, want %d (stdout with %q, stderr with %q)\nstdout:\n%s\nstderr:\n%s", r.code, c.code, c.out, c.err, r.stdout, r.stderr)
			}
			for _, secret := range []string{"alice-Secret-7", key} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Fatalf("the report printed a secret")
				}
			}
		})
	}
}

// TestReportJSONInWorkflow: the JSON form, the outputs and the step summary
// of a workflow run, and the same report twice.
func TestReportJSONInWorkflow(t *testing.T) {
	t.Parallel()
	w, _ := reportWorld(t)
	dir := t.TempDir()
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outputs, summary} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wf := w.with("GITHUB_ACTIONS", "true", "GITHUB_OUTPUT", outputs, "GITHUB_STEP_SUMMARY", summary, "INPUT_COMMAND", "report --fail-on high", "INPUT_FORMAT", "json")
	r := wf.run(t, "")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Risk     string `json:"risk"`
		Findings []struct {
			Level, Kind, Token string
		} `json:"findings"`
	}
	// The workflow's warnings (TOKENWARD_NOW) are workflow commands on
	// stdout too.
	var body []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if !strings.HasPrefix(line, "::") {
			body = append(body, line)
		}
	}
	if err := json.Unmarshal([]byte(strings.Join(body, "\n")), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if rep.Risk != "info" || len(rep.Findings) != 2 || rep.Findings[0].Kind != "never_used" || rep.Findings[0].Token != "ci-deploy" {
		t.Errorf("report = %+v", rep)
	}
	out, _ := os.ReadFile(outputs)
	for _, want := range []string{"risk<<", "\ninfo\n", "findings<<", "\n2\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("outputs lack %q:\n%s", want, out)
		}
	}
	sum, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(sum), "## tokenward report: risk INFO\n\n```mermaid\nxychart-beta\n") {
		t.Errorf("step summary:\n%s", sum)
	}
	if again := wf.run(t, ""); again.stdout != r.stdout {
		t.Errorf("a second run differs:\n%s\n%s", r.stdout, again.stdout)
	}
}
