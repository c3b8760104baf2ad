package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// TestUsageLogUnderLoad runs 10 parallel clients for 10 seconds (2 with
// -short) against the real handler over loopback HTTP, on a real store of
// each engine, through every endpoint: every request's event is stored
// exactly once, with the version it presented, and nothing is dropped.
func TestUsageLogUnderLoad(t *testing.T) {
	t.Parallel()
	const clients = 10
	const perClient = 200000 // the loop's bound in count; the time bound ends it first
	length := 10 * time.Second
	if testing.Short() {
		length = 2 * time.Second
	}
	engines.Run(t, func(t *testing.T, st store.Store, dsn string) {
		ctx := t.Context()
		clock := clocktest.New()
		clock.Set(time.Now()) // events are kept by the day: today's
		adm := admin(t, dsn, clock)
		if _, err := adm.CreateScope(ctx, "billing:read", ""); err != nil {
			t.Fatal(err)
		}
		values := map[string]string{}
		for _, name := range []string{"caller", "billing", "reports"} {
			scope := "billing:read"
			if name == "caller" {
				scope = server.IntrospectScope
			}
			if _, err := adm.CreateToken(ctx, registry.TokenSpec{Name: name, Scopes: []string{scope}, Lifetime: lifetime}); err != nil {
				t.Fatal(err)
			}
			issued, err := adm.IssueFirst(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			values[name] = issued.Value
		}
		ul, ok := store.AsUsageLog(st)
		if !ok {
			t.Fatal("the store has no usage log")
		}
		rec := server.NewRecorder(ul)
		preg := prometheus.NewRegistry()
		src := instance(t, dsn)
		srv := server.New(src, server.WithEventSinks(rec), server.WithRegistry(preg), server.WithInstance("load"))
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		start := time.Now()

		type sent struct{ endpoint, version string }
		var mu sync.Mutex
		want := map[string]sent{} // user agent → what the request presented
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				deadline := time.Now().Add(length)
				mine := map[string]sent{}
				for i := 0; i < perClient && time.Now().Before(deadline); i++ {
					name := []string{"billing", "reports"}[i%2]
					value := values[name]
					endpoint := endpoints[(c+i)%3]
					ua := fmt.Sprintf("load-%d-%d", c, i)
					var req *http.Request
					switch endpoint {
					case "verify":
						body, _ := json.Marshal(server.VerifyRequest{Token: value, Scopes: []string{"billing:read"}})
						req, _ = http.NewRequest(http.MethodPost, hs.URL+"/v1/verify", bytes.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+values["caller"])
					case "introspect":
						req, _ = http.NewRequest(http.MethodPost, hs.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {value}}.Encode()))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.SetBasicAuth("caller", values["caller"])
					default:
						req, _ = http.NewRequest(http.MethodGet, hs.URL+"/v1/authz?scope=billing:read", nil)
						req.Header.Set("Authorization", "Bearer "+value)
					}
					req.Header.Set("User-Agent", ua)
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("%s answered %d", endpoint, resp.StatusCode)
						return
					}
					p, _ := token.Parse(value)
					mine[ua] = sent{endpoint, p.ID}
				}
				mu.Lock()
				for k, v := range mine {
					want[k] = v
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		metrics := get(t, hs.URL+"/metrics")
		if err := rec.Close(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d requests in %v (%.0f/s), %d events written, %d dropped", len(want), elapsed.Round(time.Millisecond),
			float64(len(want))/elapsed.Seconds(), rec.Written(), rec.Dropped())
		if rec.Dropped() != 0 || !strings.Contains(metrics, "\ntokenward_usage_events_dropped_total 0\n") {
			t.Errorf("dropped %d; metrics:\n%s", rec.Dropped(), grepLines(metrics, "tokenward_usage"))
		}
		checkPromtool(t, metrics)

		seen := map[string]int{}
		var bad []string
		if err := mustWalker(t, st).EachUsage(ctx, store.UsageQuery{Since: start.Add(-time.Minute)}, func(ev store.UsageEvent) error {
			seen[ev.UserAgent]++
			w, ok := want[ev.UserAgent]
			if !ok || w.endpoint != ev.Endpoint || w.version != ev.VersionID || ev.Code != "valid" || ev.Instance != "load" {
				if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%+v", ev))
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Errorf("events that match no request: %v", bad)
		}
		missing, twice := 0, 0
		for ua := range want {
			switch seen[ua] {
			case 0:
				missing++
			case 1:
			default:
				twice++
			}
		}
		if missing > 0 || twice > 0 || len(seen) != len(want) {
			t.Errorf("%d requests, %d distinct events: %d missing, %d stored more than once", len(want), len(seen), missing, twice)
		}
		if int64(len(want)) != rec.Written() {
			t.Errorf("%d requests, %d events written", len(want), rec.Written())
		}
	})
}

func mustWalker(t *testing.T, st store.Store) store.UsageWalker {
	t.Helper()
	w, ok := store.AsUsageWalker(st)
	if !ok {
		t.Fatal("the store cannot walk its usage log")
	}
	return w
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// checkPromtool runs promtool check metrics on text; it must run under CI.
func checkPromtool(t *testing.T, text string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian's prometheus package): it must run under CI")
		}
		t.Log("promtool is not installed: the metrics are not checked by it")
		return
	}
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
