package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// TestUsageAppendFailure: a batch that fails part of the way (here a
// trigger refuses its 600th event, after a full chunk of 500 went in)
// leaves nothing of itself, the next batches are written whole, and a
// batch with an ended context fails without harm; on SQLite that is the
// connection the appends hold, dropped after a failure and opened again.
// The store closes and opens again with every event there.
func TestUsageAppendFailure(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		u := usageLog(t, st)
		raw := rawDB(t, dsn)
		trigger := []string{`CREATE TRIGGER usage_boom BEFORE INSERT ON usage_events WHEN NEW.code = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`}
		drop := `DROP TRIGGER usage_boom`
		if st.Engine() == "postgres" {
			trigger = []string{
				`CREATE FUNCTION usage_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.code = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$`,
				`CREATE TRIGGER usage_boom BEFORE INSERT ON usage_events FOR EACH ROW EXECUTE FUNCTION usage_boom()`,
			}
			drop = `DROP TRIGGER usage_boom ON usage_events`
		}
		batch := func(n int, code string, offset int) []store.UsageEvent {
			b := make([]store.UsageEvent, n)
			for i := range b {
				b[i] = ev(usageDay.Add(time.Duration(offset+i)*time.Millisecond), "ci", fmt.Sprintf("192.0.2.%d", i%250), "valid")
			}
			if code != "" {
				b[n-1].Code = code
			}
			return b
		}
		count := func() int {
			all, err := u.Usage(ctx, store.UsageQuery{})
			if err != nil {
				t.Fatal(err)
			}
			return len(all)
		}
		if err := u.AppendUsage(ctx, batch(1000, "", 0)); err != nil {
			t.Fatal(err)
		}
		for _, q := range trigger {
			if _, err := raw.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := u.AppendUsage(ctx, batch(600, "boom", 1000)); err == nil {
			t.Fatal("a batch the trigger refuses was appended")
		}
		if n := count(); n != 1000 {
			t.Fatalf("%d events after a failed batch, want the 1000 before it", n)
		}
		if _, err := raw.ExecContext(ctx, drop); err != nil {
			t.Fatal(err)
		}
		ended, cancel := context.WithCancel(ctx)
		cancel()
		if err := u.AppendUsage(ended, batch(500, "", 2000)); err == nil {
			t.Error("a batch with an ended context was appended")
		}
		for i := range 3 {
			if err := u.AppendUsage(ctx, batch(1200, "", 3000+i*1200)); err != nil {
				t.Fatalf("append %d after the failures: %v", i, err)
			}
		}
		if n := count(); n != 1000+3*1200 {
			t.Fatalf("%d events, want %d", n, 1000+3*1200)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		u = usageLog(t, again)
		if n := count(); n != 1000+3*1200 {
			t.Errorf("%d events after reopening, want %d", n, 1000+3*1200)
		}
	})
}
