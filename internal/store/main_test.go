package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/pgtest"
)

// pg is the PostgreSQL server of this test binary; nil with pgErr set when
// there is none.
var (
	pg    *pgtest.Server
	pgErr error
)

func TestMain(m *testing.M) {
	pg, pgErr = pgtest.Start()
	if pgErr != nil {
		fmt.Fprintf(os.Stderr, "\n*** POSTGRES TESTS WILL BE SKIPPED: %v ***\n\n", pgErr)
	}
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// engine opens a fresh store of one engine for a test.
type engine struct {
	name string
	dsn  func(t *testing.T) string
}

func engines() []engine {
	return []engine{
		{name: "sqlite", dsn: func(t *testing.T) string { return filepath.Join(t.TempDir(), "tokenward.db") }},
		{name: "postgres", dsn: func(t *testing.T) string { return pg.NewDatabase(t, pgErr) }},
	}
}

// forEachEngine runs fn as a subtest named after each engine, on a new store.
func forEachEngine(t *testing.T, fn func(t *testing.T, st store.Store, dsn string)) {
	t.Helper()
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			dsn := e.dsn(t)
			st, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatalf("open %s: %v", e.name, err)
			}
			t.Cleanup(func() { st.Close() })
			if st.Engine() != e.name {
				t.Fatalf("engine = %q, want %q", st.Engine(), e.name)
			}
			fn(t, st, dsn)
		})
	}
}
