package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// pubkey returns what audit pubkey prints for w's key.
func (w world) pubkey(t *testing.T) string {
	t.Helper()
	r := w.run(t, "", "audit", "pubkey")
	if r.code != 0 {
		t.Fatalf("audit pubkey: exit %d %s", r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// sqlDB opens w's SQLite file past the store, as an attacker would, with
// the append-only triggers dropped: they stop mistakes, not the owner.
func (w world) sqlDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+w.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, tr := range []string{"audit_events_no_update", "audit_events_no_delete", "audit_checkpoints_no_update", "audit_checkpoints_no_delete"} {
		if _, err := db.Exec("DROP TRIGGER " + tr); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func execAll(t *testing.T, db *sql.DB, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

var headLine = regexp.MustCompile(`audit head: (\d+:[0-9a-f]{64})\n`)

// head returns the audit head rotate --dry-run reports.
func (w world) head(t *testing.T) string {
	t.Helper()
	r := w.run(t, "", "rotate", "--dry-run")
	m := headLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("rotate --dry-run: exit %d, no audit head:\n%s%s", r.code, r.stdout, r.stderr)
	}
	return m[1]
}

func TestAuditPubkey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	line := w.pubkey(t)
	keys, err := seal.FromEnv(w.getenv)
	if err != nil {
		t.Fatal(err)
	}
	pubs, _ := keys.PublicKeys()
	if line != pubs[0].String() {
		t.Fatalf("audit pubkey printed %q, want %q", line, pubs[0])
	}
	if _, err := seal.ParsePublicKey(line); err != nil {
		t.Fatalf("audit pubkey's line does not parse: %v", err)
	}
	// During a rekey the keyring holds both: both are printed, primary first.
	other := newWorld(t)
	both := w.with("TOKENWARD_MASTER_KEY", other.env["TOKENWARD_MASTER_KEY"]+","+w.env["TOKENWARD_MASTER_KEY"])
	if got := both.pubkey(t); got != other.pubkey(t)+"\n"+line {
		t.Fatalf("audit pubkey with two keys:\n%s", got)
	}
	for _, tc := range []struct {
		name string
		w    world
		args []string
		exit int
		says string
	}{
		{"no key", w.with("TOKENWARD_MASTER_KEY", ""), nil, exitTrouble, "TOKENWARD_MASTER_KEY"},
		{"no store needed", w.with("TOKENWARD_STORE", ""), nil, exitOK, ""},
		{"help", w, []string{"--help"}, exitOK, ""},
		{"argument", w, []string{"extra"}, exitUsage, "unexpected argument (1 given, not shown)"},
	} {
		r := tc.w.run(t, "", append([]string{"audit", "pubkey"}, tc.args...)...)
		if r.code != tc.exit || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%s: exit %d, stderr %q; want %d saying %q", tc.name, r.code, r.stderr, tc.exit, tc.says)
		}
	}
}

func TestAuditSubcommands(t *testing.T) {
	t.Parallel()
	w := plainEnv()
	for _, tc := range []struct {
		args []string
		exit int
	}{{[]string{"audit", "--help"}, exitOK}, {[]string{"audit"}, exitUsage}, {[]string{"audit", "nope"}, exitUsage}} {
		if r := w.run(t, "", tc.args...); r.code != tc.exit || !strings.Contains(r.stdout+r.stderr, "tokenward audit pubkey") {
			t.Errorf("tokenward %v: exit %d, want %d with the usage", tc.args, r.code, tc.exit)
		}
	}
}

// TestAuditVerifyPubkey: an event rewritten in the raw database with every
// later hash, the checkpoints' hashes and the head recomputed passes plain
// audit verify, and fails with the public key, naming the event.
func TestAuditVerifyPubkey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	key := w.pubkey(t)
	for _, tc := range []struct {
		name string
		w    world
		args []string
		exit int
		says string
	}{
		{"no key: signatures not checked", w, nil, exitOK, "checkpoints: 7 match the chain; their signatures were not checked"},
		{"--pubkey", w, []string{"--pubkey", key}, exitOK, "signatures verified up to event 7"},
		{"the environment", w.with(EnvAuditPubkey, key), nil, exitOK, "signatures verified up to event 7"},
		{"no master key needed", w.with("TOKENWARD_MASTER_KEY", ""), []string{"--pubkey", key}, exitOK, "signatures verified up to event 7"},
		{"a bad --pubkey", w, []string{"--pubkey", "abc:xyz"}, exitUsage, "--pubkey: parse audit public key abc"},
		{"a bad environment", w.with(EnvAuditPubkey, "nonsense"), nil, exitUsage, EnvAuditPubkey + ": parse audit public key"},
		{"a bad witness", w, []string{"--witness", "7"}, exitUsage, "--witness"},
	} {
		r := tc.w.run(t, "", append([]string{"audit", "verify"}, tc.args...)...)
		if r.code != tc.exit || !strings.Contains(r.stdout+r.stderr, tc.says) {
			t.Errorf("%s: exit %d, want %d saying %q:\n%s%s", tc.name, r.code, tc.exit, tc.says, r.stdout, r.stderr)
		}
	}

	// Rewrite event 4 and everything after it, as the hashes allow.
	db := w.sqlDB(t)
	events, err := openStore(t, w).AuditEvents(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	head := audit.Genesis()
	for _, e := range events {
		if e.Seq == 4 {
			e.Actor = "mallory"
		}
		if e.Seq >= 4 {
			e = audit.Link(head, e)
			execAll(t, db, fmt.Sprintf("UPDATE audit_events SET actor = '%s', prev_hash = '%s', hash = '%s' WHERE seq = %d", e.Actor, e.PrevHash, e.Hash, e.Seq),
				fmt.Sprintf("UPDATE audit_checkpoints SET hash = '%s' WHERE seq = %d", e.Hash, e.Seq))
		}
		head = audit.Head{Seq: e.Seq, Hash: e.Hash}
	}
	execAll(t, db, fmt.Sprintf("UPDATE audit_head SET seq = %d, hash = '%s'", head.Seq, head.Hash))

	if r := w.run(t, "", "audit", "verify"); r.code != exitOK {
		t.Fatalf("plain audit verify of a chain rewritten with its hashes: exit %d %s; the attack should pass it", r.code, r.stderr)
	}
	for name, ww := range map[string]world{"--pubkey": w, "environment": w.with(EnvAuditPubkey, key)} {
		args := []string{"audit", "verify"}
		if name == "--pubkey" {
			args = append(args, "--pubkey", key)
		}
		r := ww.run(t, "", args...)
		if r.code != exitFailed || !strings.Contains(r.stderr, "audit event 4: the checkpoint of key") {
			t.Errorf("%s: exit %d, stderr %q; want event 4 named", name, r.code, r.stderr)
		}
	}

	// The rewriter deletes the checkpoints from event 4 on: --pubkey only
	// reports the range as unsigned, --signed-head fails on it.
	execAll(t, db, "DELETE FROM audit_checkpoints WHERE seq >= 4")
	if r := w.run(t, "", "audit", "verify", "--pubkey", key); r.code != exitOK || !strings.Contains(r.stdout, "events 4 to 7 are not covered by a signed checkpoint") {
		t.Errorf("--pubkey after the checkpoints were deleted: exit %d, stdout %q; want 0 naming events 4 to 7 as unsigned", r.code, r.stdout)
	}
	if r := w.run(t, "", "audit", "verify", "--pubkey", key, "--signed-head"); r.code != exitFailed || !strings.Contains(r.stderr, "events 4 to 7 are covered by no checkpoint") {
		t.Errorf("--signed-head after the checkpoints were deleted: exit %d, stderr %q; want 1 naming events 4 to 7", r.code, r.stderr)
	}
}

// TestAuditVerifySignedHead: --signed-head passes a chain signed to its
// head, and needs keys.
func TestAuditVerifySignedHead(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if r := w.run(t, "", "audit", "verify", "--pubkey", w.pubkey(t), "--signed-head"); r.code != exitOK {
		t.Errorf("a chain signed to its head: exit %d %s", r.code, r.stderr)
	}
	if r := w.run(t, "", "audit", "verify", "--signed-head"); r.code != exitUsage || !strings.Contains(r.stderr, "--signed-head needs the keys") {
		t.Errorf("--signed-head without keys: exit %d %s", r.code, r.stderr)
	}
}

// TestAuditVerifyAfterRekey: rekey starts a new signing key; audit pubkey
// run with both keys lists the old one too, and the checkpoints it signed
// still verify with it.
func TestAuditVerifyAfterRekey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	old := w.pubkey(t)
	newKey := newWorld(t).env["TOKENWARD_MASTER_KEY"]
	both := w.with("TOKENWARD_MASTER_KEY", newKey+","+w.env["TOKENWARD_MASTER_KEY"])
	if r := both.run(t, "", "rekey"); r.code != 0 {
		t.Fatalf("rekey: exit %d %s", r.code, r.stderr)
	}
	lines := strings.Split(both.pubkey(t), "\n")
	if len(lines) != 2 || lines[1] != old || lines[0] == old {
		t.Fatalf("audit pubkey during the rekey printed %q; want a new key, then the old %q", lines, old)
	}
	newID, _, _ := strings.Cut(lines[0], ":")
	oldID, _, _ := strings.Cut(old, ":")
	for _, tc := range []struct {
		name string
		keys []string
		says []string
	}{
		{"old key", []string{old}, []string{fmt.Sprintf("signatures verified up to event 7 (key %s ×7)", oldID)}},
		{"both keys", lines, []string{"signatures verified up to event 8 (", fmt.Sprintf("key %s ×1", newID), fmt.Sprintf("key %s ×7", oldID)}},
		{"one value holding both", []string{strings.Join(lines, ",")}, []string{"up to event 8"}},
	} {
		args := []string{"audit", "verify"}
		for _, k := range tc.keys {
			args = append(args, "--pubkey", k)
		}
		r := w.run(t, "", args...)
		for _, says := range tc.says {
			if r.code != 0 || !strings.Contains(r.stdout, says) {
				t.Errorf("%s: exit %d, want %q:\n%s%s", tc.name, r.code, says, r.stdout, r.stderr)
			}
		}
	}
	if r := w.run(t, "", "audit", "verify", "--pubkey", old); !strings.Contains(r.stdout, fmt.Sprintf("not checked, their key was not given: key %s ×1", newID)) {
		t.Errorf("the rekey's checkpoint by the new key is not reported as unchecked:\n%s", r.stdout)
	}
}

// TestAuditVerifyWitness: events cut from the end together with their
// checkpoints pass every check inside the store; the head an earlier run
// printed, kept outside it, catches the cut.
func TestAuditVerifyWitness(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	key := w.pubkey(t)
	before := w.head(t)
	if r := w.run(t, "", "config", "set", "--user", "alice", "ui.theme=light"); r.code != 0 {
		t.Fatalf("config set: %s", r.stderr)
	}
	witness := w.head(t)
	if !strings.HasPrefix(witness, "8:") || !strings.HasPrefix(before, "7:") {
		t.Fatalf("heads %s then %s, want 7 then 8", before, witness)
	}
	if r := w.run(t, "", "audit", "verify", "--pubkey", key, "--witness", witness, "--witness", before); r.code != 0 || !strings.Contains(r.stdout, "witnesses: 2 of 2 match") {
		t.Fatalf("intact chain with its witnesses: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	execAll(t, w.sqlDB(t), "DELETE FROM audit_events WHERE seq = 8", "DELETE FROM audit_checkpoints WHERE seq = 8",
		"UPDATE audit_head SET seq = 7, hash = '"+strings.TrimPrefix(before, "7:")+"'")
	if r := w.run(t, "", "audit", "verify", "--pubkey", key); r.code != exitOK {
		t.Fatalf("a chain cut with its checkpoints: exit %d %s; nothing in the store can tell", r.code, r.stderr)
	}
	r := w.run(t, "", "audit", "verify", "--witness", witness)
	if r.code != exitFailed || !strings.Contains(r.stderr, "audit event 8: missing, but a witness kept it") {
		t.Fatalf("with the witness: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestRowPastTheHead: an event added past the recorded head is reported by
// audit verify, and the next change says so rather than failing on a
// UNIQUE constraint.
func TestRowPastTheHead(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	execAll(t, w.sqlDB(t), `INSERT INTO audit_events (seq, at, actor, action, subject, outcome, details, prev_hash, hash)
		VALUES (8, 0, 'mallory', 'token.create', 'token/x', 'success', '{}', 'x', 'y')`)
	r := w.run(t, "", "audit", "verify")
	if r.code != exitFailed || !strings.Contains(r.stderr, "audit event 8: stored past the recorded head (event 7)") {
		t.Fatalf("audit verify: exit %d, stderr %q", r.code, r.stderr)
	}
	r = w.run(t, "", "config", "set", "--user", "alice", "ui.theme=light")
	if r.code != exitTrouble || !strings.Contains(r.stderr, "event 8 is stored past the recorded head (event 7)") || strings.Contains(r.stderr, "UNIQUE") {
		t.Fatalf("config set: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestRotateReportsTheAuditHead: a run signs the head it ends with and
// sets it as the output audit-head and in the step summary; it verifies as
// a witness, with every event signed.
func TestRotateReportsTheAuditHead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t)
	w.withFileTokens(t, dir, "api")
	outFile, summaryFile := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outFile, summaryFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	due := w.with("TOKENWARD_NOW", "2026-12-21T09:00:00Z", "GITHUB_OUTPUT", outFile, "GITHUB_STEP_SUMMARY", summaryFile)
	r := due.run(t, "", "rotate")
	m := headLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	head := m[1]
	stored, err := openStore(t, w).AuditHead(t.Context())
	if err != nil || stored.String() != head {
		t.Fatalf("rotate printed %s, the store's head is %v (%v)", head, stored, err)
	}
	outputs, _ := os.ReadFile(outFile)
	summary, _ := os.ReadFile(summaryFile)
	if !strings.Contains(string(outputs), "audit-head<<") || !strings.Contains(string(outputs), "\n"+head+"\n") {
		t.Fatalf("outputs lack audit-head %s:\n%s", head, outputs)
	}
	if !strings.Contains(string(summary), "Audit head: `"+head+"`") {
		t.Fatalf("summary lacks the audit head:\n%s", summary)
	}
	r = w.run(t, "", "audit", "verify", "--pubkey", w.pubkey(t), "--witness", head)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("signatures verified up to event %d ", stored.Seq)) || strings.Contains(r.stdout, "not covered") {
		t.Fatalf("audit verify after the run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestReviewWithStoreReportsTheAuditHead(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	outFile := filepath.Join(t.TempDir(), "output")
	if err := os.WriteFile(outFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(reviewTestdata, "token_update.plan.json")
	ww := w.with("GITHUB_OUTPUT", outFile)
	r := ww.run(t, "", "review", "--plan", plan, "--policy", reviewPolicyHCL, "--fail-on", "never", "--store", w.path)
	m := headLine.FindStringSubmatch(r.stderr)
	if r.code != 0 || m == nil || !strings.HasPrefix(m[1], "7:") || strings.Contains(r.stdout, "audit head") {
		t.Fatalf("review --store: exit %d, want the head on stderr only\n%s%s", r.code, r.stdout, r.stderr)
	}
	if outputs, _ := os.ReadFile(outFile); !strings.Contains(string(outputs), "\n"+m[1]+"\n") {
		t.Fatalf("outputs lack audit-head:\n%s", outputs)
	}
	// Without --store, review reads no store and reports no head.
	if r := ww.run(t, "", "review", "--plan", plan, "--policy", reviewPolicyHCL, "--fail-on", "never"); r.code != 0 || strings.Contains(r.stderr, "audit head") {
		t.Fatalf("review without --store: exit %d %s", r.code, r.stderr)
	}
}

// openStore opens w's store as a reader.
func openStore(t *testing.T, w world) store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), w.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
