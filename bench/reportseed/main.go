// Command reportseed prepares the store bench/report.sh measures
// tokenward report on (issue 17): it creates the store (SQLite path or
// postgres:// URL) with N tokens and their current versions in one
// transaction of the store package (the registry takes a transaction and
// an fsync per change, hours for 10,000 tokens), then appends E usage
// events spread evenly over the last D days through AppendUsage, in
// batches of the server's size, so the daily rollup is built as in
// production. The tokens bypass the audit log: such a store is for
// benchmarks only.
//
// The shape of the usage: one token in ten (bench-9, bench-19, …) is
// never used; each token holds two scopes and is asked for the first on
// every valid verification, and one used token in three for both on one
// verification in twenty, so the others' second scope is "granted but
// never required"; one event in 50 is expired, one in 100
// insufficient_scope, and one in 200 names no token.
//
// With --measure it fills nothing and times, in one process, what the
// report reads of the usage log: UsageDays and ScopeUses over the last D
// days and LastUsed of every token (bench/report.sh's stand-in until
// tokenward report exists).
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "reportseed:", err)
		os.Exit(1)
	}
}

// scopePairs are the scopes a token holds: token i the pair i % 4.
var scopePairs = [][2]string{
	{"billing:read", "billing:write"},
	{"deploy:read", "deploy:run"},
	{"metrics:read", "metrics:admin"},
	{"repo:read", "repo:write"},
}

func tokenID(i int) string { return fmt.Sprintf("s%011d", i) }

func run() error {
	dsn := flag.String("store", "", "the store to create and fill: a SQLite path or a postgres:// URL")
	n := flag.Int("tokens", 10_000, "how many tokens")
	events := flag.Int64("events", 10_000_000, "how many usage events")
	days := flag.Int("days", 30, "over how many days, ending now")
	batch := flag.Int("batch", 1000, "events per AppendUsage (the server writes at most 5,000)")
	measure := flag.Bool("measure", false, "fill nothing: time the report's reads of the usage log on an existing store")
	flag.Parse()
	if *dsn == "" || *n < 10 || *events < 0 || *days < 1 || *batch < 1 {
		return fmt.Errorf("give --store, --tokens of at least 10, --days and --batch of at least 1")
	}
	ctx := context.Background()
	if *measure {
		return measureReads(ctx, *dsn, *n, *days)
	}
	st, err := store.Open(ctx, *dsn, store.Create())
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	start := now.Add(-time.Duration(*days) * 24 * time.Hour)
	began := time.Now()
	if err := seedTokens(ctx, st, *n, now); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "reportseed: %d tokens (%s)\n", *n, time.Since(began).Round(time.Millisecond))
	u, _ := store.AsUsageLog(st)
	if err := u.EnsureUsagePartitions(ctx, start, *days); err != nil {
		return err
	}
	began = time.Now()
	used := *n - *n/10
	span := now.Sub(start)
	buf := make([]store.UsageEvent, 0, *batch)
	for g := int64(0); g < *events; g++ {
		buf = append(buf, event(g, start.Add(time.Duration(float64(span)*float64(g)/float64(*events))), used))
		if len(buf) == *batch || g == *events-1 {
			if err := u.AppendUsage(ctx, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if (g+1)%1_000_000 == 0 {
			fmt.Fprintf(os.Stderr, "reportseed: %d of %d events (%s)\n", g+1, *events, time.Since(began).Round(time.Second))
		}
	}
	fmt.Fprintf(os.Stderr, "reportseed: %d events appended in batches of %d (%s)\n", *events, *batch, time.Since(began).Round(time.Millisecond))
	return nil
}

// usedToken is the index of the k-th token that is ever used: every one
// but each tenth.
func usedToken(k int) int { return k/9*10 + k%9 }

// event is the g-th event: round robin over the used tokens; round r of
// the robin decides each token's outcome, so every token sees each kind.
func event(g int64, at time.Time, used int) store.UsageEvent {
	k, r := int(g%int64(used)), g/int64(used)
	i := usedToken(k)
	h := r*7 + int64(k)
	pair := scopePairs[i%len(scopePairs)]
	e := store.UsageEvent{At: at, TokenID: tokenID(i), TokenName: fmt.Sprintf("bench-%d", i), VersionID: fmt.Sprintf("w%011d", i),
		Fingerprint: fmt.Sprintf("tw_w%011d…0000", i), Code: "valid", Endpoint: "verify",
		SourceIP: fmt.Sprintf("10.%d.%d.%d", g%200, g/200%256, g%251), UserAgent: "bench/1.0",
		ScopesRequired: []string{pair[0]}, Instance: "bench"}
	switch {
	case h%200 == 7:
		e.TokenID, e.TokenName, e.Code, e.ScopesRequired = "", "", "not_found", nil
	case h%50 == 3:
		e.Code = "expired"
	case h%100 == 11:
		e.Code, e.ScopesRequired = "insufficient_scope", []string{pair[0], pair[1]}
	case k%3 == 0 && r%20 == 5:
		e.ScopesRequired = []string{pair[0], pair[1]}
	}
	return e
}

// seedTokens creates the scopes and n tokens bench-0 … bench-N-1, each
// with its two scopes and a current version, in one transaction.
func seedTokens(ctx context.Context, st store.Store, n int, now time.Time) error {
	return st.Update(ctx, func(tx store.Tx) error {
		for _, p := range scopePairs {
			for _, s := range p {
				if err := tx.CreateScope(ctx, store.Scope{Name: s, Description: "bench", CreatedAt: now, UpdatedAt: now}); err != nil {
					return err
				}
			}
		}
		for i := 0; i < n; i++ {
			pair := scopePairs[i%len(scopePairs)]
			scopes := []string{pair[0], pair[1]}
			if scopes[1] < scopes[0] {
				scopes[0], scopes[1] = scopes[1], scopes[0]
			}
			t := store.Token{ID: tokenID(i), Name: fmt.Sprintf("bench-%d", i), Owner: "bench", Scopes: scopes,
				Lifetime:  store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour},
				CreatedAt: now.Add(-60 * 24 * time.Hour), UpdatedAt: now.Add(-60 * 24 * time.Hour)}
			if err := tx.CreateToken(ctx, t); err != nil {
				return err
			}
			v := store.Version{ID: fmt.Sprintf("w%011d", i), TokenID: t.ID, State: token.StateCurrent,
				Fingerprint: fmt.Sprintf("tw_w%011d…0000", i), CreatedAt: t.CreatedAt, ActivatedAt: t.CreatedAt, ExpiresAt: now.Add(30 * 24 * time.Hour)}
			_, _ = rand.Read(v.Hash[:])
			if err := tx.CreateVersion(ctx, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// measureReads times the report's reads of the usage log, in one
// process: UsageDays and ScopeUses over the last days, and LastUsed of
// each of n tokens.
func measureReads(ctx context.Context, dsn string, n, days int) error {
	began := time.Now()
	st, err := store.Open(ctx, dsn, store.ReadOnly())
	if err != nil {
		return err
	}
	defer st.Close()
	r, ok := store.AsUsageRollup(st)
	u, _ := store.AsUsageLog(st)
	if !ok || u == nil {
		return fmt.Errorf("the store has no usage rollup")
	}
	since := time.Now().Add(-time.Duration(days) * 24 * time.Hour)
	opened := time.Now()
	rows, err := r.UsageDays(ctx, since, time.Time{})
	if err != nil {
		return err
	}
	var uses int64
	for _, d := range rows {
		uses += d.Uses
	}
	daysAt := time.Now()
	scopes, err := r.ScopeUses(ctx, since)
	if err != nil {
		return err
	}
	scopesAt := time.Now()
	usedTokens := 0
	for i := 0; i < n; i++ {
		_, _, ok, err := u.LastUsed(ctx, tokenID(i))
		if err != nil {
			return err
		}
		if ok {
			usedTokens++
		}
	}
	end := time.Now()
	fmt.Printf("open %s; UsageDays %d rows (%d events) %s; ScopeUses %d rows %s; LastUsed of %d tokens (%d used) %s; total %s\n",
		opened.Sub(began).Round(time.Millisecond), len(rows), uses, daysAt.Sub(opened).Round(time.Millisecond),
		len(scopes), scopesAt.Sub(daysAt).Round(time.Millisecond), n, usedTokens, end.Sub(scopesAt).Round(time.Millisecond),
		end.Sub(began).Round(time.Millisecond))
	return nil
}
