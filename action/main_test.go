package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// world is a store with one issued token, and the environment that reaches it.
type world struct {
	env   map[string]string
	path  string
	value string
}

func newWorld(t *testing.T) world {
	t.Helper()
	ctx := t.Context()
	w := world{path: filepath.Join(t.TempDir(), "tw.db")}
	w.env = registrytest.Env(t, w.path)
	w.env["TOKENWARD_NOW"] = "2026-11-27T09:00:00Z"
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
	if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: "ci-deploy", Scopes: []string{"billing:read"},
		Lifetime: store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour}}); err != nil {
		t.Fatal(err)
	}
	issued, err := reg.IssueFirst(ctx, "ci-deploy")
	if err != nil {
		t.Fatal(err)
	}
	w.value = issued.Value
	for _, s := range []registry.SettingSpec{
		{Key: "ui.theme", Type: "string", Default: json.RawMessage(`"dark"`), UserEditable: true},
		{Key: "smtp.password", Type: "string", Default: json.RawMessage(`"smtp-Secret-99"`), Sensitive: true, UserEditable: true},
		{Key: "api.keys", Type: "list", Default: json.RawMessage(`["k-Secret-1","k&Secret<2\"x"]`), Sensitive: true, UserEditable: true},
	} {
		if err := reg.CreateSetting(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w world) getenv(k string) string { return w.env[k] }

func (w world) with(kv ...string) world {
	env := map[string]string{}
	for k, v := range w.env {
		env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	w.env = env
	return w
}

type result struct {
	code           int
	stdout, stderr string
}

func (w world) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, w.getenv)
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	// No command ever prints a token value or a sensitive setting, except
	// right after ::add-mask::, which hides it in the workflow log, or a
	// sensitive setting when asked to with --reveal.
	secrets := []string{w.value}
	if !strings.Contains(strings.Join(args, " "), "--reveal") {
		secrets = append(secrets, "smtp-Secret-99")
	}
	for _, secret := range secrets {
		for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
			if strings.Contains(line, secret) && !strings.HasPrefix(line, "::add-mask::") {
				t.Fatalf("tokenward %v printed a secret: %q", args, line)
			}
		}
	}
	return r
}

func TestVerify(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cases := []struct {
		name     string
		w        world
		stdin    string
		args     []string
		wantExit int
		wantCode string
	}{
		{"valid", w, w.value + "\n", []string{"verify"}, 0, "valid"},
		{"valid with scope", w, w.value, []string{"verify", "--scope", "billing:read"}, 0, "valid"},
		{"missing scope", w, w.value, []string{"verify", "--scope", "billing:read", "--scope", "users:read"}, 1, "insufficient_scope"},
		{"malformed", w, "tw_nonsense", []string{"verify"}, 1, "malformed"},
		{"expired by the clock", w.with("TOKENWARD_NOW", "2027-03-01T00:00:00Z"), w.value, []string{"verify"}, 1, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.w.run(t, tc.stdin, tc.args...)
			if r.code != tc.wantExit {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tc.wantExit, r.stderr)
			}
			var out verifyOutput
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
			}
			if string(out.Code) != tc.wantCode || out.Valid != (tc.wantExit == 0) {
				t.Fatalf("output %+v, want code %s", out, tc.wantCode)
			}
			if tc.wantCode == "valid" && (out.Token != "ci-deploy" || out.ExpiresAt != "2027-02-25T09:00:00Z" || len(out.Scopes) != 1) {
				t.Fatalf("output %+v", out)
			}
		})
	}
}

// TestVerifyRefusesBadScopes: a --scope that is not a scope name, or more
// of them than registry.MaxRequiredScopes, is a usage error (exit 2) said
// on stderr, before any token is verified or any use recorded.
func TestVerifyRefusesBadScopes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	many := []string{"verify"}
	for i := range registry.MaxRequiredScopes + 1 {
		many = append(many, "--scope", fmt.Sprintf("billing:x%d", i))
	}
	atCap := append([]string{"verify"}, many[1:1+2*registry.MaxRequiredScopes]...)
	cases := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"upper case", []string{"verify", "--scope", "Billing:Read"}, `scope 1, "Billing:Read", is not a scope name`},
		{"no action", []string{"verify", "--scope", "billing:read", "--scope", "billing"}, `scope 2, "billing", is not a scope name`},
		{"empty", []string{"verify", "--scope", ""}, `scope 1, "", is not a scope name`},
		{"a token value", []string{"verify", "--scope", w.value}, "it looks like a token value"},
		{"too many", many, fmt.Sprintf("%d scopes are required; a verification requires at most %d", registry.MaxRequiredScopes+1, registry.MaxRequiredScopes)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := w.run(t, w.value, tc.args...)
			if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, tc.wantStderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", r.code, r.stdout, r.stderr, exitUsage, tc.wantStderr)
			}
		})
	}
	// The cap itself is allowed: the token lacks the made-up scopes.
	if r := w.run(t, w.value, atCap...); r.code != exitFailed || !strings.Contains(r.stdout, "insufficient_scope") {
		t.Fatalf("%d scopes: exit %d, stdout %q, stderr %q; want exit %d, insufficient_scope", registry.MaxRequiredScopes, r.code, r.stdout, r.stderr, exitFailed)
	}
}

func TestVerifyMasksInWorkflow(t *testing.T) {
	t.Parallel()
	w := newWorld(t).with("GITHUB_ACTIONS", "true")
	r := w.run(t, w.value, "verify")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stdout+r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "::add-mask::"+w.value+"\n") {
		t.Fatalf("the value is not masked before anything else is printed:\n%s", r.stdout)
	}
}

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.run(t, "", "audit", "verify")
	if r.code != 0 || !strings.Contains(r.stdout, "audit chain intact: 7 events") {
		t.Fatalf("intact chain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Tamper with event 4 behind the store's back.
	db, err := sql.Open("sqlite", "file:"+w.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP TRIGGER audit_events_no_update", "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	r = w.run(t, "", "audit", "verify")
	if r.code != 1 || !strings.Contains(r.stderr, "audit event 4") {
		t.Fatalf("tampered chain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestAuditVerifyHeadPastAGap: the recorded head's event is missing while a
// later one exists; the walk must end and name the missing event.
func TestAuditVerifyHeadPastAGap(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	db, err := sql.Open("sqlite", "file:"+w.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP TRIGGER audit_events_no_delete", "DELETE FROM audit_events WHERE seq = 5", "UPDATE audit_head SET seq = 5"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"audit", "verify"}, strings.NewReader(""), &out, &errOut, w.getenv)
	if code != exitFailed || !strings.Contains(errOut.String(), "audit event 5") {
		t.Fatalf("exit %d, stderr %q; want event 5 named", code, errOut.String())
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if r := w.run(t, "", "config", "set", "--user", "alice", "ui.theme=light"); r.code != 0 {
		t.Fatalf("set: exit %d %s", r.code, r.stderr)
	}
	// A sensitive value comes on stdin, never as an argument.
	if r := w.run(t, "alice-pw\n", "config", "set", "--user", "alice", "--stdin", "smtp.password"); r.code != 0 {
		t.Fatalf("set from stdin: exit %d %s", r.code, r.stderr)
	}
	r := w.run(t, "", "config", "set", "--user", "alice", "ghost.key=1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "ghost.key") {
		t.Fatalf("unknown key: exit %d %s", r.code, r.stderr)
	}
	r = w.run(t, "", "config", "get", "--user", "alice")
	if r.code != 0 {
		t.Fatalf("get: exit %d %s", r.code, r.stderr)
	}
	var got map[string]effectiveOutput
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if string(got["ui.theme"].Value) != `"light"` || got["ui.theme"].Source != "user" {
		t.Fatalf("ui.theme = %+v", got["ui.theme"])
	}
	if got["smtp.password"].Value != nil || !got["smtp.password"].Sensitive || strings.Contains(r.stdout, "alice-pw") {
		t.Fatalf("sensitive value printed without --reveal: %s", r.stdout)
	}
	r = w.run(t, "", "config", "get", "--user", "alice", "--reveal")
	if !strings.Contains(r.stdout, "alice-pw") {
		t.Fatalf("--reveal did not show the value: %s", r.stdout)
	}
	// In a workflow, a revealed value is masked before it is printed: every
	// printed line that holds a secret is covered by an earlier mask.
	r = w.with("GITHUB_ACTIONS", "true").run(t, "", "config", "get", "--user", "alice", "--reveal")
	var masks []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if m, ok := strings.CutPrefix(line, "::add-mask::"); ok {
			masks = append(masks, m)
			continue
		}
		for _, secret := range []string{"alice-pw", "k-Secret-1", "k&Secret<2"} {
			if !strings.Contains(line, secret) {
				continue
			}
			covered := false
			for _, m := range masks {
				if strings.Contains(m, secret) && strings.Contains(line, m) {
					covered = true
				}
			}
			if !covered {
				t.Fatalf("printed line %q is not covered by a mask %q", line, masks)
			}
		}
	}
	if len(masks) == 0 || !strings.Contains(r.stdout, `k&Secret<2\"x`) {
		t.Fatalf("reveal printed:\n%s", r.stdout)
	}
	// set and unset leave the other values alone.
	if r := w.run(t, "", "config", "unset", "--user", "alice", "smtp.password"); r.code != 0 || !strings.Contains(r.stdout, "unset smtp.password") {
		t.Fatalf("unset: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	r = w.run(t, "", "config", "get", "--user", "alice")
	got = nil
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got["smtp.password"].Source != "default" || got["ui.theme"].Source != "user" {
		t.Fatalf("after unset: %s", r.stdout)
	}
}

func TestRekey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	newKey := sealtest.Encoded(t)
	both := w.with("TOKENWARD_MASTER_KEY", newKey+","+w.env["TOKENWARD_MASTER_KEY"])
	if r := both.run(t, "", "rekey"); r.code != 0 || !strings.Contains(r.stdout, "re-wrapped 2 sealed values") {
		t.Fatalf("rekey: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	onlyNew := w.with("TOKENWARD_MASTER_KEY", newKey)
	if r := onlyNew.run(t, "", "config", "get", "--user", "bob", "--reveal"); r.code != 0 || !strings.Contains(r.stdout, "smtp-Secret-99") {
		t.Fatalf("after rekey the new key alone cannot open: %s%s", r.stdout, r.stderr)
	}
}

func TestErrorsSayWhatToSet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cases := []struct {
		name     string
		w        world
		args     []string
		wantExit int
		want     string
	}{
		{"no store", w.with("TOKENWARD_STORE", ""), []string{"audit", "verify"}, exitTrouble, "TOKENWARD_STORE"},
		{"no key", w.with("TOKENWARD_MASTER_KEY", ""), []string{"rekey"}, exitTrouble, "TOKENWARD_MASTER_KEY"},
		{"audit verify needs no key", w.with("TOKENWARD_MASTER_KEY", ""), []string{"audit", "verify"}, exitOK, ""},
		{"bad clock", w.with("TOKENWARD_NOW", "yesterday"), []string{"config", "get", "--user", "a"}, exitTrouble, "RFC 3339"},
		{"malformed config argument is not echoed", w, []string{"config", "set", "--user", "a", "hunter2-secret"}, exitUsage, "argument 1 is not KEY=VALUE"},
		{"unknown command", w, []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"no command", w, nil, exitUsage, "Usage"},
		{"verify without input", w, []string{"verify"}, exitUsage, "no token on stdin"},
		{"store from the action input", w.with("TOKENWARD_STORE", "", "INPUT_STORE", w.path), []string{"audit", "verify"}, exitOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.w.run(t, "", tc.args...)
			if strings.Contains(r.stderr, "hunter2") {
				t.Fatalf("the argument was echoed: %s", r.stderr)
			}
			if r.code != tc.wantExit || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d (want %d), stderr %q does not say %q", r.code, tc.wantExit, r.stderr, tc.want)
			}
		})
	}
}
