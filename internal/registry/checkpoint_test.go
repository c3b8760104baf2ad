package registry_test

import (
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func createScopes(t *testing.T, reg *registry.Registry, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := reg.CreateScope(t.Context(), fmt.Sprintf("s%d:read", i), ""); err != nil {
			t.Fatal(err)
		}
	}
}

func trust(t *testing.T, keys ...seal.Key) map[string]ed25519.PublicKey {
	t.Helper()
	out := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		pubs, err := seal.NewKeyring(k).PublicKeys()
		if err != nil {
			t.Fatal(err)
		}
		out[pubs[0].ID] = pubs[0].Key
	}
	return out
}

func signingID(t *testing.T, k seal.Key) string {
	t.Helper()
	sk, err := seal.NewKeyring(k).SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return sk.ID()
}

func checkpointSeqs(t *testing.T, st store.Store) []string {
	t.Helper()
	cps, err := st.AuditCheckpoints(t.Context(), 0, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, c := range cps {
		out = append(out, fmt.Sprintf("%d/%s", c.Seq, c.KeyID))
	}
	return out
}

func TestCheckpointsSignEachChange(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		createScopes(t, f.reg, 3)
		id := signingID(t, f.key)
		if got, want := strings.Join(checkpointSeqs(t, f.st), " "), fmt.Sprintf("1/%s 2/%s 3/%s", id, id, id); got != want {
			t.Fatalf("checkpoints = %s, want %s", got, want)
		}
		rep, err := audit.VerifySource(t.Context(), f.st, audit.Options{Keys: trust(t, f.key)})
		if err != nil || rep.Signed.Seq != 3 || rep.SignedBy[id] != 3 {
			t.Fatalf("verify with the key: %+v, %v", rep, err)
		}
	})
}

func TestCheckpointEveryN(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		reg := registry.New(f.st, seal.NewKeyring(f.key), registry.WithClock(f.clock.Now), registry.WithCheckpointEvery(3))
		createScopes(t, reg, 7)
		id := signingID(t, f.key)
		if got, want := strings.Join(checkpointSeqs(t, f.st), " "), fmt.Sprintf("3/%s 6/%s", id, id); got != want {
			t.Fatalf("checkpoints every 3 events = %s, want %s", got, want)
		}
		head, err := reg.Checkpoint(ctx)
		if err != nil || head.Seq != 7 {
			t.Fatalf("checkpoint at the end: %v, %v", head, err)
		}
		if _, err := reg.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(checkpointSeqs(t, f.st), " "), fmt.Sprintf("3/%s 6/%s 7/%s", id, id, id); got != want {
			t.Fatalf("checkpoints after Checkpoint twice = %s, want %s", got, want)
		}
		stored, err := f.st.AuditHead(ctx)
		if err != nil || stored != head {
			t.Fatalf("Checkpoint returned %v, the store's head is %v (%v)", head, stored, err)
		}
	})
}

// TestEventsWithoutAKeyAreCoveredLater: a registry without a master key
// (the coming server) appends unsigned events; the next checkpoint of a
// keyed registry covers them.
func TestEventsWithoutAKeyAreCoveredLater(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		createScopes(t, f.reg, 1)
		keyless := registry.New(f.st, nil, registry.WithClock(f.clock.Now))
		if _, err := keyless.CreateScope(ctx, "keyless:read", ""); err != nil {
			t.Fatal(err)
		}
		if head, err := keyless.Checkpoint(ctx); err != nil || head.Seq != 2 {
			t.Fatalf("checkpoint without a key: %v, %v; want only the head", head, err)
		}
		keys := trust(t, f.key)
		rep, err := audit.VerifySource(ctx, f.st, audit.Options{Keys: keys})
		if err != nil || rep.Signed.Seq != 1 || rep.Head.Seq != 2 {
			t.Fatalf("before the next checkpoint: %+v, %v; want event 1 signed of 2", rep, err)
		}
		if _, err := f.reg.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if rep, err := audit.VerifySource(ctx, f.st, audit.Options{Keys: keys}); err != nil || rep.Signed.Seq != 2 {
			t.Fatalf("after the next checkpoint: %+v, %v; want event 2 signed", rep, err)
		}
	})
}

// TestRekeyStartsANewSigningKey: after a rekey the new primary master key
// signs with a new key id, and the checkpoints of the old one still verify
// with the old public key, which the keyring of the rekey lists.
func TestRekeyStartsANewSigningKey(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		createScopes(t, f.reg, 2)
		newKey := sealtest.Key(t)
		ring := seal.NewKeyring(newKey, f.key)
		pubs, err := ring.PublicKeys()
		if err != nil || len(pubs) != 2 || pubs[0].ID != signingID(t, newKey) || pubs[1].ID != signingID(t, f.key) || pubs[0].ID == pubs[1].ID {
			t.Fatalf("public keys of the rekey's keyring: %v, %v", pubs, err)
		}
		rotated := registry.New(f.st, ring, registry.WithClock(f.clock.Now))
		if _, err := rotated.Rekey(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := registry.New(f.st, seal.NewKeyring(newKey), registry.WithClock(f.clock.Now)).CreateScope(ctx, "after:rekey", ""); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(checkpointSeqs(t, f.st), " "), fmt.Sprintf("1/%s 2/%s 3/%s", pubs[1].ID, pubs[1].ID, pubs[0].ID); !strings.HasPrefix(got, want) {
			t.Fatalf("checkpoints = %s, want them to start %s", got, want)
		}
		for _, tc := range []struct {
			name      string
			keys      map[string]ed25519.PublicKey
			signedBy  string
			unchecked string
		}{
			{"old key only", map[string]ed25519.PublicKey{pubs[1].ID: pubs[1].Key}, pubs[1].ID, pubs[0].ID},
			{"new key only", map[string]ed25519.PublicKey{pubs[0].ID: pubs[0].Key}, pubs[0].ID, pubs[1].ID},
			{"both", map[string]ed25519.PublicKey{pubs[0].ID: pubs[0].Key, pubs[1].ID: pubs[1].Key}, pubs[1].ID, ""},
		} {
			rep, err := audit.VerifySource(ctx, f.st, audit.Options{Keys: tc.keys})
			if err != nil || rep.SignedBy[tc.signedBy] == 0 || (tc.unchecked != "" && rep.Unchecked[tc.unchecked] == 0) {
				t.Errorf("%s: %+v, %v", tc.name, rep, err)
			}
		}
	})
}

// attacker writes the store's database directly, as anyone who can write
// the store can; it needs no key.
type attacker struct {
	t  *testing.T
	db *sql.DB
	st store.Store
}

func newAttacker(t *testing.T, f fixture) attacker {
	t.Helper()
	driver, source := "sqlite", "file:"+strings.TrimPrefix(f.dsn, "sqlite:")
	if strings.HasPrefix(f.dsn, "postgres") {
		driver, source = "pgx", f.dsn
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := attacker{t: t, db: db, st: f.st}
	// The append-only triggers stop mistakes, not the database's owner.
	drops := []string{"DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete",
		"DROP TRIGGER audit_checkpoints_no_update", "DROP TRIGGER audit_checkpoints_no_delete"}
	if f.st.Engine() == "postgres" {
		drops = []string{"DROP TRIGGER audit_events_no_change ON audit_events", "DROP TRIGGER audit_checkpoints_no_change ON audit_checkpoints"}
	}
	a.exec(drops...)
	return a
}

func (a attacker) exec(queries ...string) {
	a.t.Helper()
	for _, q := range queries {
		if _, err := a.db.ExecContext(a.t.Context(), q); err != nil {
			a.t.Fatalf("%s: %v", q, err)
		}
	}
}

// rewrite changes event seq and recomputes every later hash and the head;
// withCheckpoints also writes the new hashes into the checkpoints, which
// it cannot sign.
func (a attacker) rewrite(seq int64, withCheckpoints bool) {
	a.t.Helper()
	events, err := a.st.AuditEvents(a.t.Context(), 0, 1<<20)
	if err != nil {
		a.t.Fatal(err)
	}
	head := audit.Genesis()
	for _, e := range events {
		if e.Seq == seq {
			e.Actor = "mallory"
		}
		if e.Seq >= seq {
			e = audit.Link(head, e)
			a.exec(fmt.Sprintf("UPDATE audit_events SET actor = '%s', prev_hash = '%s', hash = '%s' WHERE seq = %d", e.Actor, e.PrevHash, e.Hash, e.Seq))
			if withCheckpoints {
				a.exec(fmt.Sprintf("UPDATE audit_checkpoints SET hash = '%s' WHERE seq = %d", e.Hash, e.Seq))
			}
		}
		head = audit.Head{Seq: e.Seq, Hash: e.Hash}
	}
	a.exec(fmt.Sprintf("UPDATE audit_head SET seq = %d, hash = '%s' WHERE id = 1", head.Seq, head.Hash))
}

// cut deletes the events after keep and moves the head back to it;
// withCheckpoints deletes their checkpoints too.
func (a attacker) cut(keep int64, withCheckpoints bool) {
	a.t.Helper()
	events, err := a.st.AuditEvents(a.t.Context(), keep-1, 1)
	if err != nil || len(events) != 1 {
		a.t.Fatalf("event %d: %v", keep, err)
	}
	a.exec(fmt.Sprintf("DELETE FROM audit_events WHERE seq > %d", keep),
		fmt.Sprintf("UPDATE audit_head SET seq = %d, hash = '%s' WHERE id = 1", keep, events[0].Hash))
	if withCheckpoints {
		a.exec(fmt.Sprintf("DELETE FROM audit_checkpoints WHERE seq > %d", keep))
	}
}

func wantChainError(t *testing.T, what string, err error, seq int64, says string) {
	t.Helper()
	if !audit.IsChainError(err) || !strings.Contains(err.Error(), fmt.Sprintf("audit event %d: ", seq)) || !strings.Contains(err.Error(), says) {
		t.Errorf("%s: err = %v, want a chain error naming event %d, saying %q", what, err, seq, says)
	}
}

// TestRewrittenChainIsCaughtByTheKey: the chain's hashes need no key, so an
// event rewritten with every later hash and the head recomputed passes the
// plain check; the signed checkpoints catch it.
func TestRewrittenChainIsCaughtByTheKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		withCheckpoints bool
		plain           string // "" when plain verification passes
		keyed           string
	}{
		{"checkpoints rewritten too", true, "", "does not verify: it was forged or changed"},
		{"checkpoints left", false, "signature not checked", "differs from what key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f fixture) {
				ctx := t.Context()
				createScopes(t, f.reg, 5)
				newAttacker(t, f).rewrite(2, tc.withCheckpoints)
				_, err := audit.VerifySource(ctx, f.st, audit.Options{})
				if tc.plain == "" && err != nil {
					t.Fatalf("plain verification of a chain rewritten with its hashes: %v; the attack should pass it", err)
				}
				if tc.plain != "" {
					wantChainError(t, "plain", err, 2, tc.plain)
				}
				_, err = audit.VerifySource(ctx, f.st, audit.Options{Keys: trust(t, f.key)})
				wantChainError(t, "with the public key", err, 2, tc.keyed)
			})
		})
	}
}

// TestCutChainIsCaughtByAWitness: events cut from the end with their
// checkpoints leave nothing in the store to catch it, the key included; a
// witness kept outside the store does.
func TestCutChainIsCaughtByAWitness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		withCheckpoints bool
	}{{"with their checkpoints", true}, {"checkpoints left", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, f fixture) {
				ctx := t.Context()
				createScopes(t, f.reg, 5)
				witness, err := f.reg.Checkpoint(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := audit.VerifySource(ctx, f.st, audit.Options{Keys: trust(t, f.key), Witnesses: []audit.Head{witness}}); err != nil {
					t.Fatalf("intact chain with its witness: %v", err)
				}
				newAttacker(t, f).cut(3, tc.withCheckpoints)
				_, err = audit.VerifySource(ctx, f.st, audit.Options{Keys: trust(t, f.key)})
				if tc.withCheckpoints && err != nil {
					t.Fatalf("a chain cut with its checkpoints: %v; nothing in the store can tell", err)
				}
				if !tc.withCheckpoints {
					wantChainError(t, "checkpoints left", err, 4, "missing, but key")
				}
				_, err = audit.VerifySource(ctx, f.st, audit.Options{Witnesses: []audit.Head{witness}})
				wantChainError(t, "with the witness", err, 5, "events were cut from the end (rolled back)")
			})
		})
	}
}
