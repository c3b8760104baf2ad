package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// BenchmarkUsageLog measures one valid verification through /v1/verify's
// handler with the usage log off, and on with a real store of each engine:
// the time includes the writer's, since the recorder is closed (its queue
// written) inside the measurement. Run it with -cpu 1 to see what a
// server pinned to one CPU pays.
func BenchmarkUsageLog(b *testing.B) {
	w := newWorld(b)
	verify := []byte(`{"token":"` + w.value("billing") + `","scopes":["billing:read"]}`)
	open := map[string]func(b *testing.B) store.Store{
		"off": func(*testing.B) store.Store { return nil },
		"sqlite": func(b *testing.B) store.Store {
			st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "usage.db"), store.Create())
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
		"postgres": func(b *testing.B) store.Store {
			pg := engines.Postgres()
			if pg == nil {
				b.Skip("no PostgreSQL")
			}
			st, err := store.Open(b.Context(), pg.NewDatabase(b, nil), store.Create())
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	for _, name := range []string{"off", "sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			opts := []server.Option{server.WithServerClock(w.clock.Now)}
			var rec *server.Recorder
			if st := open[name](b); st != nil {
				defer st.Close()
				ul, _ := store.AsUsageLog(st)
				rec = server.NewRecorder(ul)
				opts = append(opts, server.WithEventSinks(rec))
			}
			h := server.New(w.src, opts...).Handler()
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/v1/verify", bytes.NewReader(verify))
				r.Header.Set("Authorization", "Bearer "+w.value("caller"))
				rr := httptest.NewRecorder()
				h.ServeHTTP(rr, r)
				if rr.Code != http.StatusOK {
					b.Fatalf("answered %d", rr.Code)
				}
			}
			if rec != nil {
				start := time.Now()
				if err := rec.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				if rec.Dropped() != 0 {
					b.Errorf("%d events dropped", rec.Dropped())
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "close-ns/op")
			}
			// The process's CPU time, the writer's included: what a loaded
			// machine's wall clock cannot show.
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
