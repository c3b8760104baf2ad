package store_test

import (
	"sync"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestStatementsPreparedOnce: reading the same records again, alone or
// many at once, prepares no new statement, and reads what was written.
func TestStatementsPreparedOnce(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, _ string) {
		ctx := t.Context()
		seedScopes(t, st, "billing:read")
		update(t, st, func(tx store.Tx) error {
			return tx.CreateToken(ctx, newToken("tok1", "ci-deploy", []string{"billing:read"}, nil))
		})
		readAll := func() error {
			if _, err := st.AuditHead(ctx); err != nil {
				return err
			}
			return st.View(ctx, func(tx store.Tx) error {
				tk, err := tx.GetToken(ctx, "ci-deploy")
				if err != nil {
					return err
				}
				if len(tk.Scopes) != 1 || tk.Scopes[0] != "billing:read" {
					t.Errorf("token scopes %v, want [billing:read]", tk.Scopes)
				}
				if _, err := tx.ListVersions(ctx, tk.ID); err != nil {
					return err
				}
				if _, err := tx.ListDestinations(ctx, tk.ID); err != nil {
					return err
				}
				_, err = tx.EffectiveScopes(ctx, tk.ID)
				return err
			})
		}
		if err := readAll(); err != nil {
			t.Fatal(err)
		}
		first := store.Prepared(st)
		if first <= 0 {
			t.Fatalf("%d statements prepared after a read, want some", first)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				for range 10 {
					if err := readAll(); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := store.Prepared(st); n != first {
			t.Errorf("%d statements prepared after 160 more reads, want the %d of the first", n, first)
		}
	})
}
