package issuer

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// roundTrips counts what reaches the server: a query is one round trip
// (pgx sends a query without arguments as one simple-protocol message, its
// statements in one implicit transaction); a connect is one login (the
// SCRAM exchange inside it is three messages each way).
type roundTrips struct{ queries, connects atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.queries.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	r.connects.Add(1)
	return ctx
}
func (r *roundTrips) TraceConnectEnd(context.Context, pgx.TraceConnectEndData) {}

// traced opens the issuer of cfg with its admin connection counted from
// its next connect on.
func traced(tb testing.TB, f fixture, cfg Config, rt *roundTrips) *postgresIssuer {
	tb.Helper()
	iss, err := Open(testContext(tb), cfg, func(k string) string { return f.env[k] })
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	p := iss.(*postgresIssuer)
	p.mu.Lock()
	p.tracer = rt
	_ = p.conn.Close(context.Background())
	p.conn = nil // the next step reconnects, counted
	p.mu.Unlock()
	tb.Cleanup(func() { p.Close() })
	return p
}

// TestPostgresRoundTrips pins what a rotation costs at the server: Stage
// one round trip, Test one login, Retire one round trip, the floor the
// issue sets; the admin login is once per issuer opened.
func TestPostgresRoundTrips(t *testing.T) {
	f := postgresFixture(t)
	ctx := testContext(t)
	var rt roundTrips
	p := traced(t, f, f.cfg, &rt)
	steps := []struct {
		name              string
		do                func() error
		queries, connects int64
	}{
		{"first stage, with the admin login", func() error { return p.Stage(ctx, Credential{f.cfg.Postgres.Users[0], "first-" + suffix()}) }, 1, 1},
		{"stage", func() error { return p.Stage(ctx, Credential{f.cfg.Postgres.Users[1], "second-" + suffix()}) }, 1, 0},
		{"test", func() error { return p.Test(ctx, Credential{f.cfg.Postgres.Users[1], "wrong-" + suffix()}) }, 0, 1},
		{"retire", func() error { return p.Retire(ctx, Retired{Username: f.cfg.Postgres.Users[0]}) }, 1, 0},
	}
	for _, s := range steps {
		q0, c0 := rt.queries.Load(), rt.connects.Load()
		start := time.Now()
		err := s.do()
		t.Logf("%s: %v", s.name, time.Since(start))
		if s.name != "test" && err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if q, c := rt.queries.Load()-q0, rt.connects.Load()-c0; q != s.queries || c != s.connects {
			t.Errorf("%s: %d round trips and %d logins, want %d and %d", s.name, q, c, s.queries, s.connects)
		}
	}
}

// BenchmarkPostgresRotate100 rotates 100 credentials per iteration, each
// through Stage, Test and Retire of the previous one, as one run of the
// engine would, and reports the time per credential and the round trips
// and logins per rotation. Run it with
//
//	CI=true go test ./internal/issuer/ -run '^$' -bench PostgresRotate100 -benchtime 2x
func BenchmarkPostgresRotate100(b *testing.B) {
	const n = 100
	f := postgresFixture(b)
	// No deadline over the whole run: each step has the issuer's own.
	ctx := context.Background()
	var rt roundTrips
	issuers := make([]*postgresIssuer, n)
	current := make([]Credential, n)
	var users []string
	b.Cleanup(func() { dropPostgresRoles(f.rootDSN, users) })
	for i := range issuers {
		cfg := *f.cfg.Postgres
		cfg.Users = []string{fmt.Sprintf("%s_%d_a", cfg.MemberOf, i), fmt.Sprintf("%s_%d_b", cfg.MemberOf, i)}
		users = append(users, cfg.Users...)
		issuers[i] = traced(b, f, Config{Postgres: &cfg}, &rt)
	}
	// The first credentials, and the admin logins, before the clock starts:
	// every timed rotation then retires the one before.
	for i, p := range issuers {
		current[i] = Credential{Username: p.NextUser(""), Password: password()}
		if err := p.Stage(ctx, current[i]); err != nil {
			b.Fatalf("stage: %v", err)
		}
	}
	adminLogins := float64(rt.connects.Load()) / n
	rt.queries.Store(0)
	rt.connects.Store(0)
	var staging, logging, retiring time.Duration
	b.ResetTimer()
	for range b.N {
		for i, p := range issuers {
			next := Credential{Username: p.NextUser(current[i].Username), Password: password()}
			t0 := time.Now()
			if err := p.Stage(ctx, next); err != nil {
				b.Fatalf("stage: %v", err)
			}
			t1 := time.Now()
			if err := p.Test(ctx, next); err != nil {
				b.Fatalf("test: %v", err)
			}
			t2 := time.Now()
			if err := p.Retire(ctx, Retired{Username: current[i].Username, PasswordHash: Hash(current[i].Password)}); err != nil {
				b.Fatalf("retire: %v", err)
			}
			staging, logging, retiring = staging+t1.Sub(t0), logging+t2.Sub(t1), retiring+time.Since(t2)
			current[i] = next
		}
	}
	b.StopTimer()
	rotations := float64(b.N * n)
	b.ReportMetric(adminLogins, "adminlogins/issuer")
	b.ReportMetric(float64(staging.Nanoseconds())/rotations, "stage-ns/credential")
	b.ReportMetric(float64(logging.Nanoseconds())/rotations, "test-ns/credential")
	b.ReportMetric(float64(retiring.Nanoseconds())/rotations, "retire-ns/credential")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/rotations, "ns/credential")
	b.ReportMetric(float64(rt.queries.Load())/rotations, "roundtrips/rotation")
	b.ReportMetric(float64(rt.connects.Load())/rotations, "logins/rotation")
	b.ReportMetric(0, "ns/op")
}
