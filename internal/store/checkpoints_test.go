package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func appendEvents(t *testing.T, st store.Store, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := 0; i < n; i++ {
		update(t, st, func(tx store.Tx) error {
			e, err := tx.AppendAudit(t.Context(), audit.Event{Time: t0, Actor: "test", Action: "scope.create",
				Subject: fmt.Sprintf("scope/s%d", i), Outcome: audit.Success})
			out = append(out, e)
			return err
		})
	}
	return out
}

func TestAuditCheckpoints(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		events := appendEvents(t, st, 4)
		cp := func(i int, key string) audit.Checkpoint {
			return audit.Checkpoint{Seq: events[i].Seq, Hash: events[i].Hash, Time: t0.Add(time.Duration(i) * time.Second),
				KeyID: key, Signature: []byte(fmt.Sprintf("sig-%d-%s", i, key))}
		}
		want := []audit.Checkpoint{cp(1, "a"), cp(1, "b"), cp(3, "a")}
		update(t, st, func(tx store.Tx) error {
			if _, err := tx.LastCheckpoint(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("last checkpoint of a key that signed none: %v, want ErrNotFound", err)
			}
			for _, c := range want {
				if err := tx.AppendCheckpoint(ctx, c); err != nil {
					return err
				}
			}
			return nil
		})
		// One checkpoint per event and key.
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.AppendCheckpoint(ctx, cp(1, "a")) }); !errors.Is(err, store.ErrExists) {
			t.Errorf("second checkpoint of event 2 by key a: %v, want ErrExists", err)
		}
		if err := st.View(ctx, func(tx store.Tx) error {
			last, err := tx.LastCheckpoint(ctx, "a")
			if err != nil || !reflect.DeepEqual(last, want[2]) {
				t.Errorf("last checkpoint of key a = %+v, %v; want %+v", last, err, want[2])
			}
			head, err := tx.AuditHead(ctx)
			if err != nil || head.Seq != 4 || head.Hash != events[3].Hash {
				t.Errorf("head in a transaction = %v, %v", head, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			after, upTo int64
			want        []audit.Checkpoint
		}{{0, 4, want}, {0, 2, want[:2]}, {2, 4, want[2:]}, {1, 1, nil}} {
			got, err := st.AuditCheckpoints(ctx, r.after, r.upTo)
			if err != nil || !reflect.DeepEqual(got, r.want) {
				t.Errorf("checkpoints of (%d, %d] = %+v, %v; want %+v", r.after, r.upTo, got, err, r.want)
			}
		}
		if past, err := st.AuditPastHead(ctx); err != nil || past != (audit.PastHead{Head: audit.Head{Seq: 4, Hash: events[3].Hash}}) {
			t.Errorf("past the head of an intact chain: %+v, %v", past, err)
		}
		// The engine refuses to change or remove a checkpoint.
		db := rawDB(t, dsn)
		for _, q := range []string{"UPDATE audit_checkpoints SET hash = 'x' WHERE seq = 2", "DELETE FROM audit_checkpoints WHERE seq = 2"} {
			if _, err := db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want an append-only error", q, err)
			}
		}
	})
}

// TestRowPastTheHead: an event row added past the head around the store is
// reported by AuditPastHead, and the next append names it instead of
// failing on the primary key.
func TestRowPastTheHead(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		events := appendEvents(t, st, 2)
		db := rawDB(t, dsn)
		if _, err := db.ExecContext(ctx, `INSERT INTO audit_events (seq, at, actor, action, subject, outcome, details, prev_hash, hash)
			VALUES (3, 0, 'mallory', 'token.create', 'token/x', 'success', '{}', '`+events[1].Hash+`', 'ff')`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (5, 'ff', 0, 'k', 'x')`); err != nil {
			t.Fatal(err)
		}
		past, err := st.AuditPastHead(ctx)
		if err != nil || past.Event != 3 || past.Checkpoint != 5 || past.Head.Seq != 2 {
			t.Fatalf("past the head: %+v, %v; want event 3 and checkpoint 5 past head 2", past, err)
		}
		err = st.Update(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAudit(ctx, audit.Event{Time: t0, Actor: "test", Action: "scope.create", Subject: "scope/y", Outcome: audit.Success})
			return err
		})
		if !errors.Is(err, store.ErrAuditPastHead) || errors.Is(err, store.ErrExists) ||
			!strings.Contains(err.Error(), "event 3 is stored past the recorded head (event 2)") {
			t.Fatalf("append after a row past the head: %v", err)
		}
	})
}
