package registry_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// verifierGuide documents the PostgreSQL verifier role; its SQL block is
// what TestPostgresVerifierRole and TestPostgresAuditReaderRole run, so the guide cannot drift.
const verifierGuide = "../../templates/guides/verifying.md"

// guideSQL extracts the statements of the SQL block after the guide's
// marker naming test.
func guideSQL(t *testing.T, test string) []string {
	t.Helper()
	b, err := os.ReadFile(verifierGuide)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)" + test + " runs exactly the SQL of the next block\\. -->\n```sql\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no SQL block after the test's marker", verifierGuide)
	}
	var out []string
	for _, stmt := range strings.Split(string(m[1]), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// TestPostgresVerifierRole: the role the guide documents, created with
// exactly its SQL, verifies a token through OpenVerifier and can write
// nothing.
func TestPostgresVerifierRole(t *testing.T) {
	ctx := t.Context()
	dsn := engines.DSN(t, "postgres")
	env := keyEnv(t, dsn)
	admin, err := registry.Open(ctx, registry.Config{Getenv: getenv(env), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateScope(ctx, "billing:read", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateRole(ctx, registry.RoleSpec{Name: "reader", Scopes: []string{"billing:read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateToken(ctx, registry.TokenSpec{Name: "ci", Roles: []string{"reader"},
		Lifetime: store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	issued, err := admin.IssueFirst(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	admin.Close()

	verifierDSN := guideRole(t, dsn, "TestPostgresVerifierRole", "tokenward_verifier")

	v, err := registry.OpenVerifier(ctx, registry.Config{Getenv: getenv(map[string]string{registry.EnvStore: verifierDSN})})
	if err != nil {
		t.Fatalf("open as the verifier role: %v", err)
	}
	defer v.Close()
	res, err := v.Verify(ctx, issued.Value, []string{"billing:read"})
	if err != nil || res.Code != token.Valid || res.TokenName != "ci" {
		t.Fatalf("verify as the verifier role: %+v %v", res, err)
	}
	if res, err := v.Verify(ctx, issued.Value, []string{"billing:write"}); err != nil || res.Code != token.InsufficientScope {
		t.Fatalf("a scope the token lacks: %+v %v", res, err)
	}

	followsChanges(t, v.Store(), env, issued.Value)

	refused(t, verifierDSN, "the verifier role",
		`UPDATE audit_head SET seq = 0`,
		`UPDATE token_versions SET state = 'current'`,
		`INSERT INTO scopes (name, created_at, updated_at) VALUES ('admin:*', 0, 0)`,
		`DELETE FROM audit_events`,
		`SELECT COUNT(*) FROM settings`,
		`SELECT COUNT(*) FROM audit_events`)
	// A full open, which may migrate and writes a key check, is refused.
	if _, err := registry.Open(ctx, registry.Config{Getenv: getenv(map[string]string{registry.EnvStore: verifierDSN, "TOKENWARD_MASTER_KEY": env["TOKENWARD_MASTER_KEY"]})}); err == nil {
		t.Error("a full open as the verifier role succeeded")
	}
}

// followsChanges checks that what `tokenward serve` does with a verifier's
// store works with its grants: a Source loads a snapshot, a listener hears
// the notification of a change committed by the store's owner (whose
// environment is env), and the Source answers the change: value, which
// verified, is revoked by a destroy.
func followsChanges(t *testing.T, st store.Store, env map[string]string, value string) {
	t.Helper()
	ctx := t.Context()
	src, err := server.NewSource(ctx, st)
	if err != nil {
		t.Fatalf("load a snapshot as the verifier role: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	l, err := st.Listen(ctx)
	if err != nil {
		t.Fatalf("listen as the verifier role: %v", err)
	}
	defer l.Close()

	owner, err := registry.Open(ctx, registry.Config{Getenv: getenv(env)})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := owner.DeleteToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	head, err := owner.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if seq, err := l.Wait(waitCtx); err != nil || seq != head.Seq {
		t.Fatalf("the verifier role's listener heard %d, %v; want the change at %d", seq, err, head.Seq)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		snap, err := src.Current()
		if err != nil {
			t.Fatal(err)
		}
		res, _ := token.Verify(ctx, value, nil, time.Now(), func(_ context.Context, id string) (*token.Record, error) {
			if e := snap.Lookup(id); e != nil {
				return &e.Record, nil
			}
			return nil, nil
		})
		if res.Code == token.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the verifier role's Source still answers %s for a destroyed token (status %+v)", res.Code, src.Status())
		}
		<-tick.C
	}
}

// TestPostgresAuditReaderRole: the audit reader role the guide documents,
// created with exactly its SQL, verifies the audit chain and its
// checkpoints read-only, and can neither write nor read the tokens.
func TestPostgresAuditReaderRole(t *testing.T) {
	ctx := t.Context()
	dsn := engines.DSN(t, "postgres")
	env := keyEnv(t, dsn)
	admin, err := registry.Open(ctx, registry.Config{Getenv: getenv(env), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"billing:read", "billing:write"} {
		if _, err := admin.CreateScope(ctx, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	head, err := admin.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin.Close()

	auditorDSN := guideRole(t, dsn, "TestPostgresAuditReaderRole", "tokenward_auditor")

	st, err := registry.OpenStore(ctx, registry.Config{Getenv: getenv(map[string]string{registry.EnvStore: auditorDSN})}, store.ReadOnly())
	if err != nil {
		t.Fatalf("open as the audit reader role: %v", err)
	}
	defer st.Close()
	rep, err := audit.VerifySource(ctx, st, audit.Options{Witnesses: []audit.Head{head}})
	if err != nil || rep.Head != head || rep.Checkpoints == 0 || rep.Witnesses != 1 {
		t.Fatalf("verify the chain as the audit reader role: %+v %v; want head %v with its checkpoint and witness", rep, err, head)
	}

	refused(t, auditorDSN, "the audit reader role",
		`UPDATE audit_events SET actor = 'mallory'`,
		`DELETE FROM audit_checkpoints`,
		`UPDATE audit_head SET seq = 1`,
		`SELECT COUNT(*) FROM tokens`,
		`SELECT COUNT(*) FROM token_versions`,
		`SELECT COUNT(*) FROM settings`)
}

// guideRole creates, as the owner of the database dsn names, the role the
// guide's SQL block for test creates (the guide's database is called
// tokenward; this test's has its own name), drops it when the test ends,
// and returns the DSN that logs in as it.
func guideRole(t *testing.T, dsn, test, role string) string {
	t.Helper()
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
	for _, stmt := range guideSQL(t, test) {
		stmt = strings.ReplaceAll(stmt, "DATABASE tokenward ", "DATABASE "+strings.TrimPrefix(u.Path, "/")+" ")
		if _, err := owner.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	u.User = url.UserPassword(role, "change-me")
	return u.String()
}

// refused checks that each query, run as the role dsn logs in as, is
// refused with permission denied.
func refused(t *testing.T, dsn, who string, queries ...string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range queries {
		if _, err := db.ExecContext(t.Context(), q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s as %s: %v, want permission denied", q, who, err)
		}
	}
}
