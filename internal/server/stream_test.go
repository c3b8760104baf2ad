package server_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// memoryLog is a ChangeLog in memory: a change log with dense sequence
// numbers that can be pruned, and users' revisions derived from it.
type memoryLog struct {
	mu      sync.Mutex
	entries []registry.ConfigChange
	head    int64
	rev     map[string]int64 // latest change per user; "" for the settings
	fail    error
}

func newMemoryLog() *memoryLog { return &memoryLog{rev: map[string]int64{}} }

// add appends a change of user's values (a setting's when user is empty)
// and returns its sequence number.
func (m *memoryLog) add(user string, keys ...string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.head++
	m.entries = append(m.entries, registry.ConfigChange{Seq: m.head, User: user, Keys: keys, At: time.Now()})
	m.rev[user] = m.head
	return m.head
}

// prune drops the entries up to seq.
func (m *memoryLog) prune(seq int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.entries) > 0 && m.entries[0].Seq <= seq {
		m.entries = m.entries[1:]
	}
}

func (m *memoryLog) ConfigChanges(_ context.Context, after int64, limit int) ([]registry.ConfigChange, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []registry.ConfigChange
	for _, c := range m.entries {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memoryLog) ConfigChangeWindow(context.Context) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, 0, m.fail
	}
	if len(m.entries) == 0 {
		return m.head + 1, m.head, nil // as the registry's: head+1 when it keeps none
	}
	return m.entries[0].Seq, m.head, nil
}

func (m *memoryLog) ReadUserConfig(_ context.Context, user string, _ bool) (registry.UserConfig, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return registry.UserConfig{User: user, Revision: max(m.rev[user], m.rev[""])}, nil
}

// streamWorld is a server over a snapshot of callers with the
// configuration scopes, streaming from a memoryLog over real connections.
type streamWorld struct {
	t      *testing.T
	src    *fakeSource
	log    *memoryLog
	srv    *httptest.Server
	values map[string]string // caller name → token value
	clock  *clocktest.Clock
	logs   *lockedBuffer
}

// streamCallers are the tokens of a streamWorld: name, owner, scopes.
var streamCallers = []struct {
	name, owner string
	scopes      []string
	state       token.State
}{
	{"reader", "app", []string{registry.ScopeConfigRead}, token.StateCurrent},
	{"alice-cli", "alice", []string{registry.ScopeConfigReadSelf}, token.StateCurrent},
	{"writer", "app", []string{registry.ScopeConfigWrite}, token.StateCurrent},
	{"revoked", "app", []string{registry.ScopeConfigRead}, token.StateRevoked},
}

func newStreamWorld(t *testing.T, cfg server.StreamConfig) *streamWorld {
	t.Helper()
	w := &streamWorld{t: t, src: &fakeSource{}, log: newMemoryLog(), values: map[string]string{}, clock: clocktest.New(), logs: &lockedBuffer{}}
	w.setCallers(nil)
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	if cfg.Recheck == 0 {
		cfg.Recheck = 20 * time.Millisecond
	}
	srv := server.New(w.src, server.WithServerClock(w.clock.Now), server.WithChangeLog(w.log), server.WithStreams(cfg), server.WithInsecureConfigAPI(true),
		server.WithServerLogger(slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	w.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(w.srv.Close)
	t.Cleanup(func() {
		for name, v := range w.values {
			if strings.Contains(w.logs.String(), v) {
				t.Errorf("the log holds the value of %s", name)
			}
		}
	})
	return w
}

// setCallers makes a snapshot of the callers, with the scopes of those
// named in scopes replaced.
func (w *streamWorld) setCallers(scopes map[string][]string) {
	var entries []*server.Entry
	for _, c := range streamCallers {
		v, ok := w.values[c.name]
		var m token.Minted
		if !ok {
			var err error
			if m, err = token.Generate(rand.Reader); err != nil {
				w.t.Fatal(err)
			}
			w.values[c.name] = m.Value
			v = m.Value
		}
		parsed, err := token.Parse(v)
		if err != nil {
			w.t.Fatal(err)
		}
		sc := c.scopes
		if s, ok := scopes[c.name]; ok {
			sc = s
		}
		entries = append(entries, &server.Entry{
			Record: token.Record{VersionID: parsed.ID, TokenName: c.name, Hash: token.HashSecret(parsed.Secret), State: c.state,
				ExpiresAt: w.clock.Now().Add(24 * time.Hour), Scopes: sc},
			IssuedAt: w.clock.Now().Add(-time.Hour),
			Token:    &server.TokenInfo{ID: "id-" + c.name, Name: c.name, Owner: c.owner},
		})
	}
	w.src.set(server.NewSnapshot(int64(len(entries)), w.clock.Now(), entries))
}

// sse is one event read from a stream; a comment has Comment set.
type sse struct {
	ID, Event, Data, Comment string
}

// eventStream is an open stream, its events read in the background.
type clientStream struct {
	resp   *http.Response
	events chan sse // closed at the stream's end
	err    error    // why it ended (io.EOF: the server closed it), once events is closed
	cancel context.CancelFunc
}

// open opens path as caller (none when empty), with Last-Event-ID when
// last is not empty, failing the test unless it is a stream.
func (w *streamWorld) open(path, caller, last string) *clientStream {
	w.t.Helper()
	cs, _ := openStream(w.t, w.srv.URL+path, w.values[caller], last)
	return cs
}

// try opens path as open does, and returns the answer when it is not a
// stream.
func (w *streamWorld) try(path, caller string) (*clientStream, *http.Response) {
	w.t.Helper()
	return openAny(w.t, http.DefaultClient, w.srv.URL+path, w.values[caller], "", false)
}

func openStream(t testing.TB, url, value, last string) (*clientStream, *http.Response) {
	t.Helper()
	return openAny(t, http.DefaultClient, url, value, last, true)
}

// openAny opens a stream, or returns the answer that is not one (failing
// the test then when wantStream).
func openAny(t testing.TB, client *http.Client, url, value, last string, wantStream bool) (*clientStream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if value != "" {
		req.Header.Set("Authorization", "Bearer "+value)
	}
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		if wantStream {
			t.Fatalf("GET %s answered %d: %s", url, resp.StatusCode, body)
		}
		return nil, resp
	}
	cs := &clientStream{resp: resp, events: make(chan sse, 1024), cancel: cancel}
	go cs.read()
	t.Cleanup(cs.close)
	return cs, resp
}

func (cs *clientStream) close() {
	cs.cancel()
	cs.resp.Body.Close()
}

// read parses the stream (the SSE format: fields to a blank line), and
// closes events at its end, err set.
func (cs *clientStream) read() {
	defer close(cs.events)
	sc := bufio.NewScanner(cs.resp.Body)
	var ev sse
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != (sse{}) {
				cs.events <- ev
			}
			ev = sse{}
		case strings.HasPrefix(line, ":"):
			cs.events <- sse{Comment: strings.TrimSpace(line[1:])}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				ev.Data += value
			}
		}
	}
	cs.err = sc.Err()
	if cs.err == nil {
		cs.err = io.EOF
	}
}

// next waits for the next event (comments skipped), failing past a
// deadline; it logs how long it took.
func (cs *clientStream) next(t testing.TB, what string) sse {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(seenWithin)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-cs.events:
			if !ok {
				t.Fatalf("%s: the stream ended: %v", what, cs.err)
			}
			if ev.Comment != "" {
				continue
			}
			t.Logf("%s: event %s after %v", what, ev.Event, time.Since(start).Round(time.Microsecond))
			return ev
		case <-deadline.C:
			t.Fatalf("%s: no event within %v", what, seenWithin)
		}
	}
}

// ended waits for the stream to end, failing past a deadline.
func (cs *clientStream) ended(t testing.TB, what string) {
	t.Helper()
	deadline := time.After(seenWithin)
	for {
		select {
		case ev, ok := <-cs.events:
			if !ok {
				if !errors.Is(cs.err, io.EOF) {
					t.Errorf("%s: the stream ended with %v, want the server's close", what, cs.err)
				}
				return
			}
			if ev.Comment == "" {
				t.Errorf("%s: event %+v before the end", what, ev)
			}
		case <-deadline:
			t.Fatalf("%s: the stream is still open after %v", what, seenWithin)
		}
	}
}

// change decodes a change event's data.
func change(t testing.TB, ev sse) map[string]any {
	t.Helper()
	if ev.Event != server.EventChange {
		t.Fatalf("event %q (%s), want %s", ev.Event, ev.Data, server.EventChange)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
		t.Fatalf("data %q: %v", ev.Data, err)
	}
	if rev, _ := m["revision"].(float64); strconv.FormatInt(int64(rev), 10) != ev.ID {
		t.Errorf("event id %q, revision %v: want the same", ev.ID, m["revision"])
	}
	return m
}

func keysOf(m map[string]any) string {
	ks, _ := m["keys"].([]any)
	var s []string
	for _, k := range ks {
		s = append(s, k.(string))
	}
	return strings.Join(s, ",")
}

// TestStreamSendsChanges: a user's stream gets their own changes and the
// settings', not another user's; every user's stream gets them all, with
// the user (null for a setting).
func TestStreamSendsChanges(t *testing.T) {
	t.Parallel()
	w := newStreamWorld(t, server.StreamConfig{})
	alice := w.open("/v1/users/alice/events", "reader", "")
	self := w.open("/v1/users/alice/events", "alice-cli", "")
	all := w.open("/v1/events", "reader", "")
	if alice.resp.Header.Get("Cache-Control") != "no-store" || alice.resp.Header.Get("Vary") != "Authorization" {
		t.Errorf("headers %v: want Cache-Control no-store, Vary Authorization", alice.resp.Header)
	}
	w.log.add("bob", "ui.theme")
	w.log.add("alice", "ui.theme", "data.region")
	w.log.add("", "data.region")
	for _, cs := range []*clientStream{alice, self} {
		if m := change(t, cs.next(t, "alice's change")); keysOf(m) != "ui.theme,data.region" || m["revision"] != 2.0 || m["user"] != nil {
			t.Errorf("alice's stream: %v, want revision 2, keys ui.theme,data.region, no user", m)
		}
		if m := change(t, cs.next(t, "a default's change")); keysOf(m) != "data.region" || m["revision"] != 3.0 {
			t.Errorf("alice's stream: %v, want revision 3, keys data.region", m)
		}
	}
	want := []struct {
		user any
		rev  float64
	}{{"bob", 1}, {"alice", 2}, {nil, 3}}
	for _, wc := range want {
		ev := all.next(t, "every user's stream")
		m := change(t, ev)
		if m["user"] != wc.user || m["revision"] != wc.rev {
			t.Errorf("every user's stream: %v, want user %v revision %v", m, wc.user, wc.rev)
		}
		if _, ok := m["user"]; !ok {
			t.Errorf("every user's stream: %s has no user field", ev.Data)
		}
	}
}

// TestStreamResumes: Last-Event-ID replays what the client missed (its
// user's changes only), then the stream goes on live; an id older than the
// log keeps gets the current revision in a gap event.
func TestStreamResumes(t *testing.T) {
	t.Parallel()
	w := newStreamWorld(t, server.StreamConfig{})
	for _, u := range []string{"alice", "bob", "alice", "", "bob"} {
		w.log.add(u, "k")
	}
	cs := w.open("/v1/users/alice/events", "reader", "1")
	for _, want := range []string{"3", "4"} {
		if ev := cs.next(t, "replay"); ev.ID != want || ev.Event != server.EventChange {
			t.Errorf("replay: event %+v, want change %s", ev, want)
		}
	}
	w.log.add("alice", "k")
	if ev := cs.next(t, "live after the replay"); ev.ID != "6" {
		t.Errorf("live: event %+v, want change 6", ev)
	}

	cases := []struct {
		name, last string
		prune      int64
	}{
		{"pruned past the id", "1", 4},
		{"an id from the future", "99", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prune > 0 {
				w.log.prune(tc.prune)
			}
			cfg, _ := w.log.ReadUserConfig(t.Context(), "alice", false)
			_, head, _ := w.log.ConfigChangeWindow(t.Context())
			cs := w.open("/v1/users/alice/events", "reader", tc.last)
			ev := cs.next(t, "gap")
			var g map[string]any
			if err := json.Unmarshal([]byte(ev.Data), &g); err != nil {
				t.Fatal(err)
			}
			if ev.Event != server.EventGap || ev.ID != strconv.FormatInt(head, 10) || g["revision"] != float64(cfg.Revision) || g["last_event_id"] != mustFloat(tc.last) {
				t.Errorf("event %+v, want gap with id %d (the head), revision %d, last_event_id %s", ev, head, cfg.Revision, tc.last)
			}
			w.log.add("bob", "k")
			seq := w.log.add("alice", "k")
			if ev := cs.next(t, "live after the gap"); ev.ID != strconv.FormatInt(seq, 10) {
				t.Errorf("after the gap: %+v, want change %d", ev, seq)
			}
		})
	}
}

func mustFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return f
}

// TestStreamAccess: the rules of reading a user's configuration, and bad
// requests, before any stream opens.
func TestStreamAccess(t *testing.T) {
	t.Parallel()
	w := newStreamWorld(t, server.StreamConfig{})
	cases := []struct {
		name, path, caller, last string
		raw                      string // an Authorization header instead of caller's
		want                     int
	}{
		{"reader, any user", "/v1/users/bob/events", "reader", "", "", http.StatusOK},
		{"reader, every user", "/v1/events", "reader", "", "", http.StatusOK},
		{"self, own user", "/v1/users/alice/events", "alice-cli", "", "", http.StatusOK},
		{"self, another user", "/v1/users/bob/events", "alice-cli", "", "", http.StatusForbidden},
		{"self, every user", "/v1/events", "alice-cli", "", "", http.StatusForbidden},
		{"write scope only", "/v1/users/alice/events", "writer", "", "", http.StatusForbidden},
		{"revoked token", "/v1/users/alice/events", "revoked", "", "", http.StatusUnauthorized},
		{"no token", "/v1/users/alice/events", "", "", "", http.StatusUnauthorized},
		{"not a token", "/v1/users/alice/events", "", "", "Bearer tw_nope", http.StatusUnauthorized},
		{"Basic", "/v1/users/alice/events", "", "", "Basic YTpi", http.StatusUnauthorized},
		{"bad Last-Event-ID", "/v1/users/alice/events", "reader", "x1", "", http.StatusBadRequest},
		{"negative Last-Event-ID", "/v1/users/alice/events", "reader", "-1", "", http.StatusBadRequest},
		{"a user id with a control character", "/v1/users/al%01ice/events", "reader", "", "", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, w.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v := w.values[tc.caller]; v != "" {
				req.Header.Set("Authorization", "Bearer "+v)
			}
			if tc.raw != "" {
				req.Header.Set("Authorization", tc.raw)
			}
			if tc.last != "" {
				req.Header.Set("Last-Event-ID", tc.last)
			}
			ctx, cancel := context.WithTimeout(t.Context(), seenWithin)
			defer cancel()
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.want)
			}
			switch tc.want {
			case http.StatusOK:
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("Content-Type %q", ct)
				}
			case http.StatusUnauthorized, http.StatusForbidden:
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
				}
				var e map[string]string
				if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
					t.Fatal(err)
				}
				if tc.want == http.StatusForbidden && !strings.Contains(e["error_description"], registry.ScopeConfigRead) {
					t.Errorf("403 %v does not name the scope", e)
				}
			}
		})
	}
}

// TestStreamEndsWhenAccessEnds: a stream whose caller loses its scope, or
// whose token is revoked, ends with a denied event within the recheck.
func TestStreamEndsWhenAccessEnds(t *testing.T) {
	t.Parallel()
	w := newStreamWorld(t, server.StreamConfig{})
	kept := w.open("/v1/users/alice/events", "alice-cli", "")
	lost := w.open("/v1/users/bob/events", "reader", "")
	start := time.Now()
	w.setCallers(map[string][]string{"reader": {"billing:read"}})
	ev := lost.next(t, "scope removed")
	if ev.Event != server.EventDenied || !strings.Contains(ev.Data, registry.ScopeConfigRead) {
		t.Errorf("event %+v, want denied naming %s", ev, registry.ScopeConfigRead)
	}
	lost.ended(t, "scope removed")
	t.Logf("a removed scope ended the stream after %v", time.Since(start).Round(time.Millisecond))
	w.log.add("alice", "k")
	if ev := kept.next(t, "the other caller's stream"); ev.Event != server.EventChange {
		t.Errorf("the other stream got %+v", ev)
	}
}

// TestStreamLimits: past the instance's bound 503, past a token's 429;
// a closed stream frees its place.
func TestStreamLimits(t *testing.T) {
	t.Parallel()
	w := newStreamWorld(t, server.StreamConfig{MaxStreams: 2, MaxPerToken: 1})
	first := w.open("/v1/users/alice/events", "reader", "")
	if _, resp := w.try("/v1/users/bob/events", "reader"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a token's second stream: %d, want 429", resp.StatusCode)
	}
	w.open("/v1/users/alice/events", "alice-cli", "")
	w.setCallers(map[string][]string{"writer": {registry.ScopeConfigRead}})
	if _, resp := w.try("/v1/users/bob/events", "writer"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("past the instance's bound: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	first.close()
	deadline := time.Now().Add(seenWithin)
	for {
		cs, resp := w.try("/v1/users/bob/events", "reader")
		if cs != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream's place is not freed: %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamKeepAlive: a silent stream gets a comment every keep-alive
// period.
func TestStreamKeepAlive(t *testing.T) {
	t.Parallel()
	w := newStreamWorld(t, server.StreamConfig{KeepAlive: 30 * time.Millisecond})
	cs := w.open("/v1/users/alice/events", "reader", "")
	deadline := time.After(seenWithin)
	for n := 0; n < 2; {
		select {
		case ev, ok := <-cs.events:
			if !ok {
				t.Fatalf("the stream ended: %v", cs.err)
			}
			if ev.Comment == "keep-alive" {
				n++
			}
		case <-deadline:
			t.Fatal("no two keep-alive comments")
		}
	}
}

// TestStreamRefusedWithout: a server with no registry answers 503, and
// one that does not allow plain HTTP for the configuration API refuses a
// stream over it, as the configuration reads.
func TestStreamRefusedWithout(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts []server.Option
		want int
	}{
		{"no change log", []server.Option{server.WithInsecureConfigAPI(true)}, http.StatusServiceUnavailable},
		{"plain HTTP", []server.Option{server.WithChangeLog(newMemoryLog())}, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.opts...)
			r := httptest.NewRequest(http.MethodGet, "/v1/users/alice/events", nil)
			r.Header.Set("Authorization", "Bearer "+w.value("caller"))
			if rec := w.do(r); rec.Code != tc.want {
				t.Errorf("status %d (%s), want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
}

// TestStreamEndsOnShutdown: Serve's shutdown ends open streams with a
// shutdown event, and returns within its timeout.
func TestStreamEndsOnShutdown(t *testing.T) {
	t.Parallel()
	w := newStreamWorld(t, server.StreamConfig{})
	srv := server.New(w.src, server.WithServerClock(w.clock.Now), server.WithChangeLog(w.log), server.WithInsecureConfigAPI(true),
		server.WithStreams(server.StreamConfig{Poll: 10 * time.Millisecond}))
	ctx, cancel := context.WithCancel(t.Context())
	const timeout = 5 * time.Second
	addr, done := serving(t, ctx, server.Config{Handler: srv.Handler(), ShutdownTimeout: timeout})
	var streams []*clientStream
	for _, path := range []string{"/v1/users/alice/events", "/v1/events"} {
		cs, _ := openStream(t, "http://"+addr+path, w.values["reader"], "")
		streams = append(streams, cs)
	}
	w.log.add("alice", "k")
	for _, cs := range streams {
		change(t, cs.next(t, "before shutdown"))
	}
	start := time.Now()
	cancel()
	for _, cs := range streams {
		if ev := cs.next(t, "shutdown"); ev.Event != server.EventShutdown || !strings.Contains(ev.Data, "Last-Event-ID") {
			t.Errorf("event %+v, want shutdown", ev)
		}
		cs.ended(t, "shutdown")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		t.Logf("shutdown with 2 streams open took %v (bound %v)", time.Since(start).Round(time.Millisecond), timeout)
	case <-time.After(2 * timeout):
		t.Fatal("Serve did not return")
	}
}

// TestStreamOverHTTP2: over TLS and HTTP/2, where a passed write deadline
// resets the stream even between writes, a stream silent for many write
// windows lives on through its keep-alives and still gets its events.
func TestStreamOverHTTP2(t *testing.T) {
	t.Parallel()
	w := newStreamWorld(t, server.StreamConfig{})
	srv := server.New(w.src, server.WithServerClock(w.clock.Now), server.WithChangeLog(w.log),
		server.WithStreams(server.StreamConfig{Poll: 10 * time.Millisecond, Recheck: 20 * time.Millisecond,
			KeepAlive: 60 * time.Millisecond, WriteWindow: 30 * time.Millisecond}))
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	cs, _ := openAny(t, ts.Client(), ts.URL+"/v1/users/alice/events", w.values["reader"], "", true)
	if cs.resp.ProtoMajor != 2 {
		t.Fatalf("the stream is %s, want HTTP/2", cs.resp.Proto)
	}
	start := time.Now()
	deadline := time.After(seenWithin)
	for n := 0; n < 8; {
		select {
		case ev, ok := <-cs.events:
			if !ok {
				t.Fatalf("the stream ended after %v and %d keep-alives: %v", time.Since(start), n, cs.err)
			}
			if ev.Comment == "keep-alive" {
				n++
			}
		case <-deadline:
			t.Fatal("no eight keep-alives")
		}
	}
	seq := w.log.add("alice", "k")
	if ev := cs.next(t, "after "+time.Since(start).Round(time.Millisecond).String()+" of keep-alives"); ev.ID != strconv.FormatInt(seq, 10) {
		t.Errorf("event %+v, want change %d", ev, seq)
	}
}
