package store_test

import (
	"fmt"
	"path/filepath"
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
			dsn := filepath.Join(b.TempDir(), "tokenward.db")
			if engine == "postgres" {
				dsn = engines.Postgres().NewDatabase(b, fmt.Errorf("no PostgreSQL for the benchmark"))
			}
			st, err := store.Open(ctx, dsn, store.Create())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			u, _ := store.AsUsageLog(st)
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
