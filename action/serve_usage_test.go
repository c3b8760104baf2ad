package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// TestServeUsageLog runs `tokenward serve` as a process, verifies through
// two endpoints and stops it: the events are in the store's usage log,
// named by --instance, and /readyz said the log is on.
func TestServeUsageLog(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM cannot be sent on Windows")
	}
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dsn := engines.DSN(t, engine)
			w := newServeWorld(t, dsn)
			cmd, base, out := startServe(t, w.env, "--listen", "127.0.0.1:0", "--instance", "edge-1")
			client := &http.Client{Timeout: 10 * time.Second}
			body, _ := json.Marshal(server.VerifyRequest{Token: w.value, Scopes: []string{"billing:read"}, SourceIP: "203.0.113.9"})
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/verify", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+w.caller)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			req, _ = http.NewRequest(http.MethodGet, base+"/v1/authz?scope=billing:write", nil)
			req.Header.Set("Authorization", "Bearer "+w.value)
			req.Header.Set("User-Agent", "usage-test/1")
			if resp, err = client.Do(req); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp, err = client.Get(base + "/readyz"); err != nil {
				t.Fatal(err)
			}
			var rd map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&rd)
			resp.Body.Close()
			if resp.StatusCode != 200 || rd["usage_log"] != "on" {
				t.Errorf("readyz %d %v, want 200 and usage_log on", resp.StatusCode, rd)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("serve exited with %v:\n%s", err, out.String())
			}
			// Stopping wrote what was queued.
			ur, err := registry.OpenUsageReader(t.Context(), registry.Config{Getenv: func(k string) string { return w.env[k] }})
			if err != nil {
				t.Fatal(err)
			}
			defer ur.Close()
			var got []store.UsageEvent
			if err := ur.EachUsage(t.Context(), store.UsageQuery{}, func(ev store.UsageEvent) error {
				got = append(got, ev)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			byEndpoint := map[string]store.UsageEvent{}
			for _, ev := range got {
				byEndpoint[ev.Endpoint] = ev
			}
			if v := byEndpoint["verify"]; v.TokenName != "billing" || v.Code != "valid" || v.Caller != "gateway" ||
				v.SourceIP != "203.0.113.9" || v.Instance != "edge-1" || v.TokenID == "" {
				t.Errorf("the verify event: %+v", v)
			}
			if a := byEndpoint["authz"]; a.TokenName != "billing" || a.Code != "insufficient_scope" || a.UserAgent != "usage-test/1" ||
				a.SourceIP != "127.0.0.1" || strings.Join(a.ScopesRequired, " ") != "billing:write" {
				t.Errorf("the authz event: %+v", a)
			}
			if len(got) != 2 {
				t.Errorf("%d events, want 2: %+v", len(got), got)
			}
			for _, secret := range []string{w.value, w.caller} {
				if strings.Contains(out.String(), secret) {
					t.Errorf("the server's output holds a token value")
				}
			}
		})
	}
}

// TestServeUsageLogOff checks what the server says when it does not log:
// a read-only store, --usage-log=false.
func TestServeUsageLogOff(t *testing.T) {
	t.Parallel()
	off, on := false, true
	cases := []struct {
		name   string
		on     *bool
		access registry.ServeAccess
		status string
		logged string
	}{
		{"read-only", &on, registry.ServeAccess{ReadOnlyWhy: "attempt to write a readonly database"},
			"off (the store is read-only: attempt to write a readonly database)", "the usage log is off"},
		{"turned off", &off, registry.ServeAccess{Writable: true}, "off (--usage-log=false)", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			queue, instance, retention := 10, "x", time.Hour
			f := &usageFlags{instance: &instance, on: c.on, queue: &queue, retention: &retention}
			u := startUsageLog(t.Context(), f, nil, c.access, slog.New(slog.NewTextHandler(&logs, nil)))
			if got := u.status(); got != c.status {
				t.Errorf("status %q, want %q", got, c.status)
			}
			if c.logged != "" && !strings.Contains(logs.String(), c.logged) || c.logged == "" && logs.Len() > 0 {
				t.Errorf("log %q, want %q", logs.String(), c.logged)
			}
			if err := u.close(time.Second); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestServeUsageMaintenance checks the server's maintenance of the usage
// log on both engines: it prunes past retention and says so, and a failing
// maintenance shows in the status and is logged once, the log staying on.
func TestServeUsageMaintenance(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			w := newServeWorld(t, engines.DSN(t, engine))
			ctx := t.Context()
			ul, err := w.reg.UsageLog()
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := ul.AppendUsage(ctx, []store.UsageEvent{
				{At: now.Add(-100 * 24 * time.Hour), Code: "valid", Endpoint: "verify", TokenName: "billing"},
				{At: now.Add(-time.Hour), Code: "valid", Endpoint: "verify", TokenName: "billing"},
			}); err != nil {
				t.Fatal(err)
			}
			var logs lockedBuf
			queue, instance, on, retention := 10, "x", true, 90*24*time.Hour
			f := &usageFlags{instance: &instance, on: &on, queue: &queue, retention: &retention}
			u := startUsageLog(ctx, f, w.reg, registry.ServeAccess{Writable: true}, slog.New(slog.NewTextHandler(&logs, nil)))
			defer u.close(time.Second)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(logs.String(), "events past retention removed") {
				if time.Now().After(deadline) {
					t.Fatalf("no pruning logged within 10s: %s", logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			left, err := ul.Usage(ctx, store.UsageQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 1 || now.Sub(left[0].At) > 2*time.Hour {
				t.Errorf("left after pruning: %+v", left)
			}
			if got := u.status(); got != "on" {
				t.Errorf("status %q, want on", got)
			}
			// A maintenance that fails says so, once.
			for range 2 {
				u.maintainOnce(ctx, w.reg, -time.Hour)
			}
			if got := u.status(); !strings.HasPrefix(got, "on; maintenance fails: ") {
				t.Errorf("status %q", got)
			}
			if n := strings.Count(logs.String(), "usage log maintenance fails"); n != 1 {
				t.Errorf("the failure logged %d times, want once:\n%s", n, logs.String())
			}
			u.maintainOnce(ctx, w.reg, retention)
			if got := u.status(); got != "on" || !strings.Contains(logs.String(), "works again") {
				t.Errorf("after a maintenance that works: %q\n%s", got, logs.String())
			}
		})
	}
}

// TestServeUsageSettings checks that bad usage log flags are refused,
// naming the flag.
func TestServeUsageSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"queue", []string{"serve", "--usage-queue", "0"}, "--usage-queue must be positive"},
		{"retention", []string{"serve", "--usage-retention", "soon"}, "must be a duration such as 90d"},
		{"negative retention", []string{"serve", "--usage-retention", "-1d"}, "usage-retention"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := world{value: "tw_somevalue"}
			r := w.run(t, "", c.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.code, exitUsage, c.want, r.stderr)
			}
		})
	}
}
