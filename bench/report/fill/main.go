// Command fill prepares a SQLite store to time tokenward report on in
// minutes, where bench/report.sh seeds one through AppendUsage as the
// server writes (tens of minutes): T tokens (tok-0 … tok-T-1, each holding
// billing:read and billing:write, one in four also the role deployer,
// with a current version) written through the store, then N usage events
// in SQL over the last D days across the first nine tenths of the tokens
// (the last tenth is never used), each requiring billing:read (one in 50
// refused as revoked), and the daily rollup built from them with the
// migration's backfill. The rows bypass serve's usage writer: the store
// is for benchmarks only. Then, for example:
//
//	TOKENWARD_NOW=2026-11-27T09:00:00Z /usr/bin/time -f '%e s %M KB' tokenward report --store STORE --format json >/dev/null
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
}

const chunk = 1_000_000

func run() error {
	dsn := flag.String("store", "", "the SQLite store to create and fill")
	n := flag.Int64("events", 10_000_000, "how many events")
	tokens := flag.Int("tokens", 10_000, "how many tokens")
	days := flag.Int("days", 30, "over how many days, ending at --now")
	nowFlag := flag.String("now", "2026-11-27T09:00:00Z", "the end of the events (TOKENWARD_NOW of the report)")
	flag.Parse()
	now, err := time.Parse(time.RFC3339, *nowFlag)
	if *dsn == "" || *n < 1 || *tokens < 10 || *days < 1 || err != nil {
		return fmt.Errorf("give --store, --events and --days of at least 1, --tokens of at least 10, and --now in RFC 3339")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *dsn, store.Create())
	if err != nil {
		return err
	}
	began := time.Now()
	created := now.Add(-90 * 24 * time.Hour)
	err = st.Update(ctx, func(tx store.Tx) error {
		for _, s := range []string{"billing:read", "billing:write", "deploy:read"} {
			if err := tx.CreateScope(ctx, store.Scope{Name: s, CreatedAt: created, UpdatedAt: created}); err != nil {
				return err
			}
		}
		if err := tx.CreateRole(ctx, store.Role{Name: "deployer", Scopes: []string{"deploy:read"}, CreatedAt: created, UpdatedAt: created}); err != nil {
			return err
		}
		for i := range *tokens {
			tk := store.Token{ID: fmt.Sprintf("id-%d", i), Name: fmt.Sprintf("tok-%d", i), Owner: "bench", Scopes: []string{"billing:read", "billing:write"},
				Lifetime:  store.Lifetime{TTL: 180 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: 24 * time.Hour},
				CreatedAt: created, UpdatedAt: created}
			if i%4 == 0 {
				tk.Roles = []string{"deployer"}
			}
			if err := tx.CreateToken(ctx, tk); err != nil {
				return err
			}
			v := store.Version{ID: fmt.Sprintf("v-%d", i), TokenID: tk.ID, State: token.StateCurrent, Fingerprint: "fp",
				CreatedAt: created, ActivatedAt: created, ExpiresAt: created.Add(tk.Lifetime.TTL)}
			if err := tx.CreateVersion(ctx, v); err != nil {
				return err
			}
		}
		return nil
	})
	st.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fill: %d tokens (%s)\n", *tokens, time.Since(began).Round(time.Second))

	db, err := sql.Open("sqlite", "file:"+*dsn+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	start := now.Add(-time.Duration(*days) * 24 * time.Hour)
	used := *tokens * 9 / 10
	cols := `at, token_id, token_name, version_id, fingerprint, code, endpoint, source_ip, source_key, network, user_agent, scopes_required, instance`
	// start + g × step, not start + g × span / n: g × span overflows 64
	// bits at 10 million events over 30 days, and SQLite turns it into a
	// float.
	exprs := fmt.Sprintf(`%[1]d + g * %[2]d, 'id-' || (g %% %[3]d), 'tok-' || (g %% %[3]d), 'v-' || (g %% %[3]d), 'fp',
		CASE WHEN g %% 50 = 0 THEN 'revoked' ELSE 'valid' END, 'verify', '10.0.0.1', unhex('00000000000000000000ffff0a000001'), '10.0.0.0/24',
		'bench/1.0', '["billing:read"]', 'bench'`, start.UnixMicro(), (now.Sub(start).Microseconds()-1) / *n, used)
	for lo := int64(1); lo <= *n; lo += chunk {
		hi := min(lo+chunk-1, *n)
		q := fmt.Sprintf(`WITH RECURSIVE s(g) AS (SELECT %d UNION ALL SELECT g + 1 FROM s WHERE g < %d) INSERT INTO usage_events (%s) SELECT %s FROM s`, lo, hi, cols, exprs)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("insert events %d to %d: %w", lo, hi, err)
		}
		fmt.Fprintf(os.Stderr, "fill: %d of %d events (%s)\n", hi, *n, time.Since(began).Round(time.Second))
	}
	// The rollup, as migration 00011 backfills it.
	for _, q := range []string{
		`INSERT INTO usage_daily (token_id, day, scope, token_name, uses, failures, last_at)
		SELECT token_id, day, '', name, uses, failures, last FROM (
		    SELECT token_id, (at / 86400000000) * 86400000000 AS day, COUNT(*) AS uses,
		           SUM(CASE WHEN code <> 'valid' THEN 1 ELSE 0 END) AS failures, MAX(at) AS last, token_name AS name
		    FROM usage_events WHERE token_id <> ''
		    GROUP BY token_id, (at / 86400000000) * 86400000000) t`,
		`INSERT INTO usage_daily (token_id, day, scope, token_name, uses, failures, last_at)
		SELECT token_id, day, scope, name, uses, 0, last FROM (
		    SELECT e.token_id, (e.at / 86400000000) * 86400000000 AS day, j.value AS scope, COUNT(*) AS uses,
		           MAX(e.at) AS last, e.token_name AS name
		    FROM usage_events e, json_each(e.scopes_required) j
		    WHERE e.token_id <> '' AND e.code = 'valid' AND j.value <> ''
		    GROUP BY e.token_id, (e.at / 86400000000) * 86400000000, j.value) t`,
		`ANALYZE`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("build the rollup: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "fill: rollup built (%s)\n", time.Since(began).Round(time.Second))
	return nil
}
