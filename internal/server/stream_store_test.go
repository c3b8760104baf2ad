package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/storetest"
)

// serveInstance is one `tokenward serve` on the store at dsn: its own
// store connection, registry, snapshot source and HTTP server, until the
// test ends.
func serveInstance(t *testing.T, dsn string, keys *seal.Keyring, opts ...server.Option) *httptest.Server {
	t.Helper()
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st, keys, registry.WithActor("serve"))
	src := run(t, st)
	all := append([]server.Option{server.WithRegistryAccess(reg, registry.ServeAccess{Writable: true, Keys: true}),
		server.WithInsecureConfigAPI(true), server.WithStreams(server.StreamConfig{Recheck: 100 * time.Millisecond})}, opts...)
	ts := httptest.NewServer(server.New(src, all...).Handler())
	// Close the open streams' connections first, or Close waits for them.
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	return ts
}

// TestStreamsFollowTheStore: on each engine, two instances of one store:
// a write through one instance's API and a Terraform apply's change of a
// default (registry.UpdateSetting) reach a stream held by the other, each
// latency logged; a reconnect with Last-Event-ID replays what was missed;
// a removed scope ends the stream.
func TestStreamsFollowTheStore(t *testing.T) {
	for _, engine := range storetest.Names {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := engines.DSN(t, engine)
			st, err := store.Open(ctx, dsn, store.Create())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			keys := seal.NewKeyring(sealtest.Key(t))
			apply := registry.New(st, keys, registry.WithActor("terraform"))
			theme := registry.SettingSpec{Key: "ui.theme", Type: "string", Default: json.RawMessage(`"light"`), UserEditable: true}
			for _, spec := range []registry.SettingSpec{theme,
				{Key: "data.region", Type: "string", Default: json.RawMessage(`"us"`), UserEditable: true}} {
				must(t, apply.CreateSetting(ctx, spec))
			}
			values := map[string]string{}
			for name, scopes := range map[string][]string{
				"app":    {registry.ScopeConfigRead, registry.ScopeConfigWrite},
				"viewer": {registry.ScopeConfigRead},
			} {
				if _, err := apply.CreateToken(ctx, registry.TokenSpec{Name: name, Owner: "team", Scopes: scopes, Lifetime: lifetime}); err != nil {
					t.Fatal(err)
				}
				issued, err := apply.IssueFirst(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				values[name] = issued.Value
			}
			writer, reader := serveInstance(t, dsn, keys), serveInstance(t, dsn, keys)

			alice, _ := openStream(t, reader.URL+"/v1/users/alice/events", values["viewer"], "")
			all, _ := openStream(t, reader.URL+"/v1/events", values["viewer"], "")

			put := func(user, key, value string) int64 {
				t.Helper()
				req, err := http.NewRequestWithContext(ctx, http.MethodPut, writer.URL+"/v1/users/"+user+"/config/"+key, strings.NewReader(value))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+values["app"])
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct{ Revision int64 }
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("PUT %s of %s: %d, %v", key, user, resp.StatusCode, err)
				}
				return body.Revision
			}

			// A read on the streaming instance after an event sees the
			// change, though its cache held alice's configuration.
			readRev := func() int64 {
				t.Helper()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, reader.URL+"/v1/users/alice/config", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+values["viewer"])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct{ Revision int64 }
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("GET alice's config: %d, %v", resp.StatusCode, err)
				}
				return body.Revision
			}
			readRev()
			rev := put("alice", "ui.theme", `"dark"`)
			ev := alice.next(t, engine+": an API write on the other instance, alice's stream")
			if m := change(t, ev); m["revision"] != float64(rev) || keysOf(m) != "ui.theme" {
				t.Errorf("alice's stream: %v, want revision %d (the PUT's) with key ui.theme", m, rev)
			}
			if m := change(t, all.next(t, engine+": an API write, every user's stream")); m["user"] != "alice" || m["revision"] != float64(rev) {
				t.Errorf("every user's stream: %v, want alice at %d", m, rev)
			}
			if got := readRev(); got != rev {
				t.Errorf("a read after the event: revision %d, want %d", got, rev)
			}

			theme.Default = json.RawMessage(`"sepia"`)
			must(t, apply.UpdateSetting(ctx, theme))
			cfg, err := apply.ReadUserConfig(ctx, "alice", false)
			if err != nil {
				t.Fatal(err)
			}
			if m := change(t, alice.next(t, engine+": a default changed by an apply, alice's stream")); m["revision"] != float64(cfg.Revision) || keysOf(m) != "ui.theme" {
				t.Errorf("alice's stream: %v, want revision %d with key ui.theme", m, cfg.Revision)
			}
			if m := change(t, all.next(t, engine+": a default changed, every user's stream")); m["user"] != nil {
				t.Errorf("every user's stream: %v, want user null for a setting's change", m)
			}
			if got := readRev(); got != cfg.Revision {
				t.Errorf("a read after the default's event: revision %d, want %d", got, cfg.Revision)
			}
			last := ev.ID

			// Missed while away: a write of bob's (not alice's), one of
			// alice's and a default's change.
			alice.close()
			put("bob", "data.region", `"eu"`)
			missed := put("alice", "data.region", `"eu"`)
			resumed, _ := openStream(t, reader.URL+"/v1/users/alice/events", values["viewer"], last)
			var got []string
			for len(got) < 2 {
				got = append(got, resumed.next(t, engine+": replay").ID)
			}
			if want := []string{strconv.FormatInt(cfg.Revision, 10), strconv.FormatInt(missed, 10)}; strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("replay after %s: events %v, want %v (the default's change and alice's write, not bob's)", last, got, want)
			}

			if _, err := apply.UpdateToken(ctx, registry.TokenSpec{Name: "viewer", Owner: "team", Scopes: []string{registry.ScopeConfigWrite}, Lifetime: lifetime}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if ev := resumed.next(t, engine+": scope removed"); ev.Event != server.EventDenied {
				t.Errorf("after the scope's removal: %+v, want denied", ev)
			}
			resumed.ended(t, engine+": scope removed")
			t.Logf("%s: a removed scope ended the stream on the other instance after %v", engine, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestStreamGapOnTheStore: a Last-Event-ID older than the store's log
// keeps gets the current revision in a gap event.
func TestStreamGapOnTheStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := engines.DSN(t, "sqlite")
	st, err := store.Open(ctx, dsn, store.Create())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys := seal.NewKeyring(sealtest.Key(t))
	// The apply's clock is two days behind: its changes are pruned by the
	// next one, made now.
	old := time.Now().Add(-48 * time.Hour)
	past := registry.New(st, keys, registry.WithActor("terraform"), registry.WithClock(func() time.Time { return old }))
	spec := registry.SettingSpec{Key: "ui.theme", Type: "string", Default: json.RawMessage(`"light"`), UserEditable: true}
	must(t, past.CreateSetting(ctx, spec))
	if _, err := past.CreateToken(ctx, registry.TokenSpec{Name: "viewer", Owner: "team", Scopes: []string{registry.ScopeConfigRead}, Lifetime: lifetime}); err != nil {
		t.Fatal(err)
	}
	issued, err := past.IssueFirst(ctx, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	now := registry.New(st, keys, registry.WithActor("terraform"))
	must(t, now.SetUserValues(ctx, "alice", map[string]json.RawMessage{"ui.theme": json.RawMessage(`"dark"`)}))
	spec.Default = json.RawMessage(`"sepia"`)
	must(t, now.UpdateSetting(ctx, spec))
	oldest, head, err := now.ConfigChangeWindow(ctx)
	if err != nil || oldest <= 1 {
		t.Fatalf("window %d..%d, %v: want the first change pruned", oldest, head, err)
	}
	cfg, err := now.ReadUserConfig(ctx, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	ts := serveInstance(t, dsn, keys)
	cs, _ := openStream(t, ts.URL+"/v1/users/alice/events", issued.Value, "0")
	ev := cs.next(t, "too old a Last-Event-ID")
	var g struct {
		Revision, LastEventID, Oldest int64
	}
	if err := json.Unmarshal([]byte(ev.Data), &struct {
		Revision    *int64 `json:"revision"`
		LastEventID *int64 `json:"last_event_id"`
		Oldest      *int64 `json:"oldest"`
	}{&g.Revision, &g.LastEventID, &g.Oldest}); err != nil {
		t.Fatal(err)
	}
	if ev.Event != server.EventGap || ev.ID != strconv.FormatInt(head, 10) || g.Revision != cfg.Revision || g.Oldest != oldest {
		t.Errorf("event %+v (%+v), want gap id %d revision %d oldest %d", ev, g, head, cfg.Revision, oldest)
	}
}
