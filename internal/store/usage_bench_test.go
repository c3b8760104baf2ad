package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// BenchmarkAppendUsageRollup appends batches of 1,000 events, as the
// server's writer does at full load, on each engine: the cost of a batch
// with its daily rollup, for a batch of 10 tokens (about 40 rows of the
// rollup) and of 1,000 (about 2,300, as a store of 10,000 busy tokens
// gives).
//
//	go test ./internal/store/ -run '^$' -bench AppendUsageRollup -benchtime 30x -count 5
func BenchmarkAppendUsageRollup(b *testing.B) {
	for _, c := range []struct {
		engine string
		tokens int
	}{{"sqlite", 10}, {"postgres", 10}, {"sqlite", 1000}, {"postgres", 1000}} {
		engine := c.engine
		b.Run(fmt.Sprintf("%s/tokens=%d", engine, c.tokens), func(b *testing.B) {
			ctx := b.Context()
			u, _ := benchUsageLog(b, engine)
			at := time.Now().UTC()
			batch := make([]store.UsageEvent, 1000)
			for i := range batch {
				name := fmt.Sprintf("token-%d", i%c.tokens)
				code := "valid"
				if i%50 == 0 {
					code = "expired"
				}
				batch[i] = store.UsageEvent{At: at.Add(time.Duration(i) * time.Millisecond), TokenID: "id-" + name, TokenName: name,
					VersionID: "v-" + name, Fingerprint: "fp", Code: code, Endpoint: "verify", SourceIP: fmt.Sprintf("192.0.2.%d", i%200),
					UserAgent: "curl/8", ScopesRequired: []string{"billing:read", fmt.Sprintf("scope:s%d", i%3)}, Instance: "i1"}
			}
			// The partitions of the day are made before the clock starts.
			if err := u.AppendUsage(ctx, batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := u.AppendUsage(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
		})
	}
}

// BenchmarkAppendUsageBatch appends the events of one busy token from one
// address, as tokenward serve's benchmark sends them, in batches of 1,000
// and of 5,000 (the recorder's default), on each engine: what a batch's
// fixed cost (its transaction, the COPY's set-up, the rollup's upsert, the
// commit) adds to each event. Besides the wall time it reports the CPU an
// event costs this process and, on a PostgreSQL server on this machine,
// its backends (cpu-us/event), which a shared machine's load does not
// change as it changes the wall time.
//
//	go test ./internal/store/ -run '^$' -bench AppendUsageBatch -benchtime 40x -count 5
func BenchmarkAppendUsageBatch(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, size := range []int{1000, 5000} {
			b.Run(fmt.Sprintf("%s/batch=%d", engine, size), func(b *testing.B) {
				ctx := b.Context()
				u, dsn := benchUsageLog(b, engine)
				start := time.Now().UTC()
				batches := make([][]store.UsageEvent, 8) // built before the clock starts, used in turn
				for k := range batches {
					batches[k] = make([]store.UsageEvent, size)
					for i := range batches[k] {
						batches[k][i] = store.UsageEvent{At: start.Add(time.Duration(k*size+i) * time.Microsecond),
							TokenID: "01JDZ4K3M8Q2V7X9YB5N6C1T0R", TokenName: "bench-client", VersionID: "01JDZ4K3M8Q2V7X9YB5N6C1T0S",
							Fingerprint: "9f2c3a1b7d4e", Code: "valid", Endpoint: "verify", SourceIP: "127.0.0.1",
							ScopesRequired: []string{"billing:read"}, Caller: "bench-caller", Instance: "bench"}
					}
				}
				if err := u.AppendUsage(ctx, batches[0]); err != nil { // the day's partition, before the clock
					b.Fatal(err)
				}
				pg := postgresBackends(ctx, b, dsn, engine)
				cpu0, pg0 := processCPU(), pg.cpu()
				n := 0
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if err := u.AppendUsage(ctx, batches[i%len(batches)]); err != nil {
						b.Fatal(err)
					}
					n += size
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
				if used, ok := pg.since(pg0); ok || engine == "sqlite" {
					b.ReportMetric(float64((processCPU()-cpu0+used).Nanoseconds())/float64(n)/1000, "cpu-us/event")
				}
			})
		}
	}
}

// processCPU is the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backends are the PostgreSQL backends of a benchmark's database, when
// the server runs on this machine (their /proc entries are readable).
type backends struct {
	ctx  context.Context
	db   *sql.DB
	tick time.Duration
}

// postgresBackends opens a second connection pool on the database to
// list its backends; none for SQLite.
func postgresBackends(ctx context.Context, b *testing.B, dsn, engine string) backends {
	if engine != "postgres" {
		return backends{}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return backends{ctx: ctx, db: db, tick: time.Second / 100} // /proc counts in USER_HZ, 100 on Linux
}

// cpu is the CPU time each backend of the database (but this pool's own)
// used so far, by pid; nil when they cannot be read.
func (p backends) cpu() map[int]time.Duration {
	if p.db == nil {
		return nil
	}
	rows, err := p.db.QueryContext(p.ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return nil
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		// utime and stime, in clock ticks, are fields 14 and 15; the
		// command (field 2) is in parentheses and may hold spaces.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(ut+st) * p.tick
	}
	if rows.Err() != nil {
		return nil
	}
	return out
}

// since is the CPU the backends used since before; false when they cannot
// be read, or one of them ended meanwhile (its time is lost).
func (p backends) since(before map[int]time.Duration) (time.Duration, bool) {
	after := p.cpu()
	if before == nil || after == nil {
		return 0, false
	}
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	for pid := range before {
		if _, ok := after[pid]; !ok {
			return 0, false
		}
	}
	return d, true
}

// benchUsageLog is the usage log of a new store on engine, closed when b
// ends, and the store's DSN.
func benchUsageLog(b *testing.B, engine string) (store.UsageLog, string) {
	b.Helper()
	dsn := filepath.Join(b.TempDir(), "tokenward.db")
	if engine == "postgres" {
		dsn = engines.Postgres().NewDatabase(b, fmt.Errorf("no PostgreSQL for the benchmark"))
	}
	st, err := store.Open(b.Context(), dsn, store.Create())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	u, _ := store.AsUsageLog(st)
	return u, dsn
}
