package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// output collects what the app prints, from its goroutine.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// printed waits until the app printed want, failing past a deadline.
func (o *output) printed(t *testing.T, want string) {
	t.Helper()
	start := time.Now()
	for !strings.Contains(o.String(), want) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the app did not print %q within 10s; it printed:\n%s", want, o)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("printed %q after %v", want, time.Since(start).Round(time.Millisecond))
}

// world is a tokenward serve on a SQLite store with two settings and
// caller tokens, as the README's flow sets up.
type world struct {
	reg    *registry.Registry
	ts     *httptest.Server
	tokens map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "tokenward.db"), store.Create())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, seal.NewKeyring(sealtest.Key(t)), registry.WithActor("test"))
	for _, spec := range []registry.SettingSpec{
		{Key: "ui.theme", Type: "string", Default: json.RawMessage(`"light"`), UserEditable: true},
		{Key: "data.region", Type: "string", Default: json.RawMessage(`"us"`), UserEditable: true},
	} {
		if err := reg.CreateSetting(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{reg: reg, tokens: map[string]string{}}
	lifetime := store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour}
	for name, scopes := range map[string][]string{"app": {registry.ScopeConfigRead}, "other": {"tokenward:alerts-read"}} {
		if _, err := reg.CreateToken(ctx, registry.TokenSpec{Name: name, Owner: "team", Scopes: scopes, Lifetime: lifetime}); err != nil {
			t.Fatal(err)
		}
		issued, err := reg.IssueFirst(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		w.tokens[name] = issued.Value
	}
	src, err := server.NewSource(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(sctx) }()
	t.Cleanup(func() { stop(); <-done })
	srv := server.New(src, server.WithRegistryAccess(reg, registry.ServeAccess{Writable: true, Keys: true}), server.WithInsecureConfigAPI(true))
	w.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() { w.ts.CloseClientConnections(); w.ts.Close() })
	return w
}

// start runs the app as `config-app --server URL --user U` with the
// token in the environment, until the test ends; the returned channel
// gets run's result.
func (w *world) start(t *testing.T, out *output, user, tok string) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done, finished := make(chan error, 1), make(chan struct{})
	env := map[string]string{"TOKENWARD_CLIENT_TOKEN": tok}
	go func() {
		defer close(finished)
		done <- run(ctx, []string{"--server", w.ts.URL, "--user", user}, func(k string) string { return env[k] }, out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("the app did not stop within 10s of its context's end")
		}
	})
	return done
}

// TestAppPrintsChanges: the app prints the configuration at start, then
// a write of the user's value, a default's change (a Terraform apply's)
// and a write made while its stream was cut.
func TestAppPrintsChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	out := &output{}
	w.start(t, out, "alice", w.tokens["app"])
	out.printed(t, `data.region = "us" (default)`)
	out.printed(t, `ui.theme = "light" (default)`)

	if _, err := w.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"ui.theme": json.RawMessage(`"dark"`)},
		Access: registry.ConfigAccess{Caller: "test", User: "alice", Keys: []string{"ui.theme"}}}); err != nil {
		t.Fatal(err)
	}
	out.printed(t, `ui.theme = "dark" (user)`)

	if err := w.reg.UpdateSetting(ctx, registry.SettingSpec{Key: "data.region", Type: "string", Default: json.RawMessage(`"eu"`), UserEditable: true}); err != nil {
		t.Fatal(err)
	}
	out.printed(t, `data.region = "eu" (default)`)

	w.ts.CloseClientConnections()
	if _, err := w.reg.WriteUserConfig(ctx, registry.ConfigWrite{User: "alice", Set: map[string]json.RawMessage{"data.region": json.RawMessage(`"ap"`)},
		Access: registry.ConfigAccess{Caller: "test", User: "alice", Keys: []string{"data.region"}}}); err != nil {
		t.Fatal(err)
	}
	out.printed(t, `data.region = "ap" (user)`)
	if strings.Contains(out.String(), w.tokens["app"]) {
		t.Error("the app printed its token")
	}
}

// TestAppStopsWhenRefused: a token without a configuration scope ends the
// app with the server's refusal rather than a retry loop; a missing flag
// says which.
func TestAppStopsWhenRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	select {
	case err := <-w.start(t, &output{}, "alice", w.tokens["other"]):
		var r *refused
		if !errors.As(err, &r) || !strings.Contains(err.Error(), "403") {
			t.Errorf("run: %v, want the server's 403", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app kept running with a token the server refuses")
	}
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--server", w.ts.URL}, "tw_x", "--user"},
		{[]string{"--user", "alice"}, "", "TOKENWARD_CLIENT_TOKEN"},
	} {
		err := run(t.Context(), tc.args, func(string) string { return tc.env }, &output{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// TestTokenIn: the token file is the token alone or an env file with it.
func TestTokenIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, file string }{
		{"alone", "tw_abc\n"},
		{"env file", "# written by tokenward\nOTHER=x\nTOKENWARD_CLIENT_TOKEN=tw_abc\n"},
		{"quoted, exported", "export TOKENWARD_CLIENT_TOKEN=\"tw_abc\"\n"},
	} {
		if got := tokenIn(tc.file); got != "tw_abc" {
			t.Errorf("%s: %q, want tw_abc", tc.name, got)
		}
	}
}
