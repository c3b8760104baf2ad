package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// fakeSource is a Snapshots whose snapshot and failure the test sets.
type fakeSource struct {
	mu     sync.Mutex
	snap   *server.Snapshot
	err    error
	status server.Status
}

func (f *fakeSource) Current() (*server.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if f.snap == nil {
		return nil, server.ErrNotLoaded
	}
	return f.snap, nil
}

func (f *fakeSource) Status() server.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// set makes snap current and fresh at its load time.
func (f *fakeSource) set(snap *server.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap, f.err = snap, nil
	f.status = server.Status{Loaded: true, Seq: snap.Seq(), Size: snap.Len(), FreshAt: snap.LoadedAt(), Invalidations: f.status.Invalidations + 1}
}

// fail makes verification fail closed with err, as a stale source does.
func (f *fakeSource) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
	f.status.Stale = err == server.ErrStale
	f.status.LastError = "store unreachable"
}

// Networks of the test world.
const (
	trustedProxy = "192.0.2.10"    // in --trusted-proxies
	untrusted    = "198.51.100.20" // a peer whose forwarded headers are not believed
	allowedIP    = "203.0.113.7"   // in netonly's and callernet's allowed networks
	deniedIP     = "198.51.100.99" // in no allowed network
)

// world is a server over a snapshot of known tokens, with a settable clock
// and a log kept to check that no token value reaches it.
type world struct {
	t       testing.TB
	clock   *clocktest.Clock
	src     *fakeSource
	srv     *server.Server
	values  map[string]string // version label → token value
	entries []*server.Entry
	logs    *lockedBuffer // source_test.go's
}

// Labels of the versions in the world, and the tokens they belong to.
var worldVersions = []struct {
	label, tokenName string
	state            token.State
	expiresIn        time.Duration
	scopes           []string
}{
	{"caller", "caller", token.StateCurrent, 24 * time.Hour, []string{server.IntrospectScope}},
	{"caller-noscope", "caller-noscope", token.StateCurrent, 24 * time.Hour, []string{"billing:read"}},
	{"caller-revoked", "caller-revoked", token.StateRevoked, 24 * time.Hour, []string{server.IntrospectScope}},
	{"callernet", "callernet", token.StateCurrent, 24 * time.Hour, []string{server.IntrospectScope}},
	{"billing", "billing", token.StateCurrent, 24 * time.Hour, []string{"billing:read", "billing:write"}},
	{"billing-prev", "billing", token.StatePrevious, time.Hour, []string{"billing:read", "billing:write"}},
	{"billing-pending", "billing", token.StatePending, 48 * time.Hour, []string{"billing:read", "billing:write"}},
	{"revoked", "revoked", token.StateRevoked, 24 * time.Hour, []string{"billing:read"}},
	{"expired", "expired", token.StateCurrent, -time.Minute, []string{"billing:read"}},
	{"retired", "retired", token.StateCurrent, 24 * time.Hour, []string{"billing:read"}},
	{"netonly", "netonly", token.StateCurrent, 24 * time.Hour, []string{"billing:read"}},
	{"limited", "limited", token.StateCurrent, 24 * time.Hour, []string{"billing:read"}},
}

func newWorld(t testing.TB, opts ...server.Option) *world {
	t.Helper()
	w := &world{t: t, clock: clocktest.New(), src: &fakeSource{}, values: map[string]string{},
		logs: &lockedBuffer{}}
	now := w.clock.Now()
	infos := map[string]*server.TokenInfo{}
	info := func(name string) *server.TokenInfo {
		if infos[name] == nil {
			infos[name] = &server.TokenInfo{ID: "id-" + name, Name: name, Owner: "team-" + name}
		}
		return infos[name]
	}
	info("netonly").AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	info("callernet").AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	info("limited").RateLimit = store.RateLimit{Requests: 2, Per: time.Minute}
	info("retired").Retired = true
	var entries []*server.Entry
	for _, v := range worldVersions {
		m, err := token.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w.values[v.label] = m.Value
		entries = append(entries, &server.Entry{
			Record: token.Record{VersionID: m.ID, TokenName: v.tokenName, Hash: m.Hash, State: v.state,
				ExpiresAt: now.Add(v.expiresIn), Scopes: v.scopes},
			IssuedAt: now.Add(-time.Hour),
			Token:    info(v.tokenName),
		})
	}
	w.entries = entries
	w.src.set(server.NewSnapshot(7, now, entries))
	logger := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := []server.Option{
		server.WithServerClock(w.clock.Now), server.WithServerLogger(logger), server.WithIssuer("https://tokenward.example"),
		server.WithTrustedProxies([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}),
		// Any caller may ask /v1/authz here, so the tests of addresses can
		// come from anywhere; TestAuthzFrom checks the default.
		server.WithAuthzFrom([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}),
	}
	w.srv = server.New(w.src, append(all, opts...)...)
	t.Cleanup(w.checkLogs)
	return w
}

// checkLogs fails the test if a token value reached the log.
func (w *world) checkLogs() {
	logs := w.logs.String()
	for label, v := range w.values {
		if strings.Contains(logs, v) || strings.Contains(logs, v[len(token.Prefix)+token.IDLength:len(v)-token.ChecksumLength]) {
			w.t.Errorf("the log holds the value (or the secret) of %s:\n%s", label, logs)
		}
	}
}

// value is the token value of a version label, or the label itself for a
// literal (malformed, unknown) value.
func (w *world) value(label string) string {
	if v, ok := w.values[label]; ok {
		return v
	}
	return label
}

// do serves r and returns the recorded answer.
func (w *world) do(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, r)
	if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
		w.t.Errorf("%s %s answered %d: %s", r.Method, r.URL, rec.Code, rec.Body)
	}
	return rec
}

// request is one request to an endpoint: who sends it from where.
type request struct {
	peer    string            // the connection's address; 127.0.0.1 when empty
	headers map[string]string // extra headers
	auth    func(*http.Request)
}

func (q request) apply(r *http.Request) {
	peer := q.peer
	if peer == "" {
		peer = "127.0.0.1"
	}
	r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(peer), 40000).String()
	for k, v := range q.headers {
		r.Header.Set(k, v)
	}
	if q.auth != nil {
		q.auth(r)
	}
}

// basic authenticates as the token of label with HTTP Basic.
func (w *world) basic(name, label string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(name, w.value(label)) }
}

// bearer authenticates with Authorization: Bearer.
func (w *world) bearer(label string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+w.value(label)) }
}

func (w *world) introspect(form url.Values, q request) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	q.apply(r)
	return w.do(r)
}

func (w *world) verify(body any, q request) *httptest.ResponseRecorder {
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			w.t.Fatal(err)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/verify", bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	q.apply(r)
	return w.do(r)
}

func (w *world) authz(scopes []string, q request) *httptest.ResponseRecorder {
	u := "/v1/authz"
	if len(scopes) > 0 {
		u += "?" + url.Values{"scope": scopes}.Encode()
	}
	r := httptest.NewRequest(http.MethodGet, u, nil)
	q.apply(r)
	return w.do(r)
}

// decode decodes a JSON answer into a map.
func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %q", rec.Code, err, rec.Body)
	}
	return m
}
