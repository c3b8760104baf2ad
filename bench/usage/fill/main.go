// Command fill prepares the store bench/usage.sh measures tokenward usage
// on: it creates the store (SQLite path or postgres:// URL) and writes N
// usage events in SQL, spread evenly over the last D days across T tokens
// (tok-0 … tok-T-1; one event in 50 refused as revoked), from 200×256×251
// addresses in 10.0.0.0/8. PostgreSQL generates them with generate_series
// into the day partitions (created first through the store, as usage
// maintain does); SQLite with a recursive CTE, a million rows a
// transaction. The rows bypass the usage writer of serve: the store is for
// benchmarks only.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
}

// chunk is how many events one INSERT … SELECT writes.
const chunk = 1_000_000

func run() error {
	dsn := flag.String("store", "", "the store to create and fill: a SQLite path or a postgres:// URL")
	n := flag.Int64("events", 10_000_000, "how many events")
	tokens := flag.Int64("tokens", 1000, "over how many tokens")
	days := flag.Int("days", 7, "over how many days, ending now")
	timeQuery := flag.String("time-query", "", "fill nothing: time, inside one process, reading this token's events of the last 24 hours from an existing store (and its summary), five times each")
	flag.Parse()
	if *timeQuery != "" {
		return timeQueries(*dsn, *timeQuery)
	}
	if *dsn == "" || *n < 1 || *tokens < 1 || *days < 1 {
		return fmt.Errorf("give --store, and --events, --tokens and --days of at least 1")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *dsn, store.Create())
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	start := now.Add(-time.Duration(*days) * 24 * time.Hour)
	u, _ := store.AsUsageLog(st)
	if err := u.EnsureUsagePartitions(ctx, start, *days); err != nil {
		return err
	}
	st.Close()

	pg := strings.HasPrefix(*dsn, "postgres")
	driver, source := "sqlite", "file:"+*dsn+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)"
	if pg {
		driver, source = "pgx", *dsn
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	span := now.Sub(start).Microseconds()
	// Event g (1 … n): its time, token and address follow from g alone.
	cols := `at, token_id, token_name, version_id, fingerprint, code, endpoint, source_ip, source_key, network, user_agent, scopes_required, instance`
	exprs := fmt.Sprintf(`%[1]d + g * %[2]d / %[3]d, 'id-' || (g %% %[4]d), 'tok-' || (g %% %[4]d), 'v-' || (g %% %[4]d), 'fp',
		CASE WHEN g %% 50 = 0 THEN 'revoked' ELSE 'valid' END, 'verify',
		'10.' || (g %% 200) || '.' || ((g / 200) %% 256) || '.' || (g %% 251), %[5]s,
		'10.' || (g %% 200) || '.' || ((g / 200) %% 256) || '.0/24', 'bench/1.0', '["billing:read"]', 'bench'`,
		start.UnixMicro(), span, *n, *tokens, sourceKey(pg))
	// The indexes are dropped during the fill and built again after it,
	// from their own definitions: sorting once is much faster than
	// inserting 10 million keys into three B-trees.
	defs, err := indexes(ctx, db, pg)
	if err != nil {
		return err
	}
	for name := range defs {
		if _, err := db.ExecContext(ctx, `DROP INDEX `+name); err != nil {
			return fmt.Errorf("drop index %s: %w", name, err)
		}
	}
	began := time.Now()
	for lo := int64(1); lo <= *n; lo += chunk {
		hi := min(lo+chunk-1, *n)
		var q string
		if pg {
			q = fmt.Sprintf(`INSERT INTO usage_events (%s) SELECT %s FROM generate_series(%d, %d) AS s(g)`, cols, exprs, lo, hi)
		} else {
			q = fmt.Sprintf(`WITH RECURSIVE s(g) AS (SELECT %d UNION ALL SELECT g + 1 FROM s WHERE g < %d) INSERT INTO usage_events (%s) SELECT %s FROM s`,
				lo, hi, cols, exprs)
		}
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("insert events %d to %d: %w", lo, hi, err)
		}
		fmt.Fprintf(os.Stderr, "fill: %d of %d events (%s)\n", hi, *n, time.Since(began).Round(time.Second))
	}
	for name, def := range defs {
		if _, err := db.ExecContext(ctx, def); err != nil {
			return fmt.Errorf("create index %s: %w", name, err)
		}
	}
	fmt.Fprintf(os.Stderr, "fill: indexes built (%s)\n", time.Since(began).Round(time.Second))
	if pg {
		_, err = db.ExecContext(ctx, `ANALYZE usage_events`)
	} else {
		_, err = db.ExecContext(ctx, `ANALYZE`)
	}
	return err
}

// timeQueries prints the median time of the store's query behind
// tokenward usage --since 24h --token name, and of its summary, without
// the process start and the store's open that the command adds.
func timeQueries(dsn, name string) error {
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.ReadOnly())
	if err != nil {
		return err
	}
	defer st.Close()
	w, _ := store.AsUsageWalker(st)
	u, _ := store.AsUsageLog(st)
	q := store.UsageQuery{TokenName: name, Since: time.Now().Add(-24 * time.Hour)}
	for _, what := range []string{"events", "summary"} {
		var times []time.Duration
		n := 0
		for i := 0; i < 5; i++ {
			began := time.Now()
			n = 0
			if what == "events" {
				err = w.EachUsage(ctx, q, func(store.UsageEvent) error { n++; return nil })
			} else {
				var rows []store.UsageSummary
				rows, err = u.UsageSummary(ctx, q)
				if len(rows) == 1 {
					n = int(rows[0].Uses)
				}
			}
			if err != nil {
				return err
			}
			times = append(times, time.Since(began))
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		fmt.Printf("in-process %-8s median %.1f ms (%d events; runs sorted: %v)\n", what, float64(times[2].Microseconds())/1000, n, times)
	}
	return nil
}

// indexes returns the definitions of usage_events' indexes by name.
func indexes(ctx context.Context, db *sql.DB, pg bool) (map[string]string, error) {
	q := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_events' AND sql IS NOT NULL`
	if pg {
		q = `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'usage_events'`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read the indexes: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		// A partitioned table's index reads ON ONLY: built again on every
		// partition, it must not say ONLY.
		out[name] = strings.Replace(def, " ON ONLY ", " ON ", 1)
	}
	return out, rows.Err()
}

// sourceKey is the SQL of the source_key column of event g: the address
// 10.(g%200).(g/200%256).(g%251) as 16 bytes, IPv4 mapped.
func sourceKey(pg bool) string {
	ip := `(167772160 + (g % 200) * 65536 + ((g / 200) % 256) * 256 + (g % 251))`
	if pg {
		return `'\x00000000000000000000ffff'::bytea || int4send(CAST(` + ip + ` AS INTEGER))`
	}
	return `unhex(printf('00000000000000000000ffff%08x', ` + ip + `))`
}
