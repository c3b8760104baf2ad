// Package storetest runs a test against every store engine: SQLite in a
// temporary folder and PostgreSQL on a throwaway server (see pgtest), each as
// a subtest named after the engine so the output shows which ran.
package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/pgtest"
)

// Engines holds what a test binary needs to open stores of every engine.
type Engines struct {
	pg    *pgtest.Server
	pgErr error
}

// Start prepares the engines; call it from TestMain and Stop when done. When
// no PostgreSQL is available it says so loudly on stderr.
func Start() *Engines {
	pg, err := pgtest.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\n*** POSTGRES TESTS WILL BE SKIPPED: %v ***\n\n", err)
	}
	return &Engines{pg: pg, pgErr: err}
}

// Main is a TestMain body: it starts the engines into *e, runs the tests,
// stops the engines and exits with the tests' code.
func Main(m *testing.M, e **Engines) {
	*e = Start()
	code := m.Run()
	(*e).Stop()
	os.Exit(code)
}

// Stop stops the PostgreSQL server Start started, if any.
func (e *Engines) Stop() { e.pg.Stop() }

// Postgres returns the PostgreSQL server, nil when there is none.
func (e *Engines) Postgres() *pgtest.Server { return e.pg }

// DSN returns a DSN of a new, empty store of the named engine for one test.
func (e *Engines) DSN(t *testing.T, engine string) string {
	t.Helper()
	switch engine {
	case "sqlite":
		return filepath.Join(t.TempDir(), "tokenward.db")
	case "postgres":
		return e.pg.NewDatabase(t, e.pgErr)
	}
	t.Fatalf("unknown engine %q", engine)
	return ""
}

// Names lists the engines.
var Names = []string{"sqlite", "postgres"}

// Run runs fn in parallel subtests named after each engine, each on a new
// store (created, as a first terraform apply would) that is closed when the
// subtest ends.
func (e *Engines) Run(t *testing.T, fn func(t *testing.T, st store.Store, dsn string)) {
	t.Helper()
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := e.DSN(t, name)
			st, err := store.Open(t.Context(), dsn, store.Create())
			if err != nil {
				t.Fatalf("open %s store: %v", name, err)
			}
			t.Cleanup(func() { st.Close() })
			if st.Engine() != name {
				t.Fatalf("engine = %q, want %q", st.Engine(), name)
			}
			fn(t, st, dsn)
		})
	}
}

// AuditChain reads every audit event of st, fails the test unless the chain
// verifies against the recorded head, its checkpoints match it and nothing
// is stored past the head, and returns the events.
func AuditChain(t testing.TB, st store.Store) []audit.Event {
	t.Helper()
	events, err := st.AuditEvents(context.Background(), 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(events, head); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	if _, err := audit.VerifySource(context.Background(), st, audit.Options{}); err != nil {
		t.Fatalf("audit chain and checkpoints: %v", err)
	}
	return events
}
