package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// benchSizes are the store sizes the benchmarks compare.
var benchSizes = []int{1_000, 100_000}

// benchStore is a SQLite store of n tokens, each with one own scope, one
// role and one current version, written straight through the store in one
// transaction (the provider would take hours for 100,000), and the value
// of the middle token.
type benchStore struct {
	path  string
	value string
}

var benchStores = struct {
	sync.Mutex
	dir string
	m   map[int]benchStore
}{m: map[int]benchStore{}}

// removeBenchStores removes the stores the benchmarks wrote; TestMain calls
// it, since the stores outlive each benchmark's rounds.
func removeBenchStores() {
	if benchStores.dir != "" {
		os.RemoveAll(benchStores.dir)
	}
}

func storeOf(b *testing.B, n int) benchStore {
	b.Helper()
	benchStores.Lock()
	defer benchStores.Unlock()
	if bs, ok := benchStores.m[n]; ok {
		return bs
	}
	if benchStores.dir == "" {
		dir, err := os.MkdirTemp("", "tokenward-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchStores.dir = dir
	}
	bs := benchStore{path: filepath.Join(benchStores.dir, fmt.Sprintf("%d.db", n))}
	ctx := context.Background()
	st, err := store.Open(ctx, bs.path, store.Create())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	now := time.Now().UTC().Truncate(time.Microsecond)
	life := store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour}
	err = st.Update(ctx, func(tx store.Tx) error {
		for _, s := range []string{"bench:read", "bench:write"} {
			if err := tx.CreateScope(ctx, store.Scope{Name: s, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		if err := tx.CreateRole(ctx, store.Role{Name: "writer", Scopes: []string{"bench:write"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		for i := range n {
			m, err := token.Generate(rand.Reader)
			if err != nil {
				return err
			}
			id := fmt.Sprintf("t%07d", i)
			tk := store.Token{ID: id, Name: "token-" + id, Owner: "team", Scopes: []string{"bench:read"}, Roles: []string{"writer"},
				Lifetime: life, CreatedAt: now, UpdatedAt: now}
			if err := tx.CreateToken(ctx, tk); err != nil {
				return err
			}
			v := store.Version{ID: m.ID, TokenID: id, State: token.StateCurrent, Hash: m.Hash, Fingerprint: m.Fingerprint,
				CreatedAt: now, ActivatedAt: now, ExpiresAt: now.Add(life.TTL)}
			if err := tx.CreateVersion(ctx, v); err != nil {
				return err
			}
			if i == n/2 {
				bs.value = m.Value
			}
		}
		_, err := tx.AppendAudit(ctx, audit.Event{Time: now, Actor: "bench", Action: "bench.seed", Subject: "store", Outcome: audit.Success})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d tokens in %v", n, time.Since(start).Round(time.Millisecond))
	benchStores.m[n] = bs
	return bs
}

// BenchmarkSnapshotLoad: how long a snapshot of n tokens takes to load from
// SQLite (ns/op: the startup and every reload) and the heap it keeps
// (heap-MB).
func BenchmarkSnapshotLoad(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			bs := storeOf(b, n)
			st, err := store.Open(b.Context(), bs.path, store.ReadOnly())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			src, err := server.NewSource(b.Context(), st)
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			snap, _ := src.Current()
			if snap.Len() != n {
				b.Fatalf("snapshot of %d versions, want %d", snap.Len(), n)
			}
			heap := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
			runtime.KeepAlive(src)

			for b.Loop() {
				if _, err := server.NewSource(b.Context(), st); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(heap, "heap-MB")
		})
	}
}

// BenchmarkLookupVerify: what one verification costs an instance with n
// tokens in its snapshot: Current, the lookup by version id and
// token.Verify of a valid value with a required scope. It should not
// depend on n.
func BenchmarkLookupVerify(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			bs := storeOf(b, n)
			st, err := store.Open(b.Context(), bs.path, store.ReadOnly())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			src, err := server.NewSource(b.Context(), st)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			required := []string{"bench:write"}
			now := time.Now()
			var snap *server.Snapshot
			lookup := func(_ context.Context, id string) (*token.Record, error) {
				if e := snap.Lookup(id); e != nil {
					return &e.Record, nil
				}
				return nil, nil
			}
			b.ReportAllocs()
			for b.Loop() {
				if snap, err = src.Current(); err != nil {
					b.Fatal(err)
				}
				res, err := token.Verify(ctx, bs.value, required, now, lookup)
				if err != nil || res.Code != token.Valid {
					b.Fatalf("verify: %+v %v", res, err)
				}
			}
		})
	}
}
