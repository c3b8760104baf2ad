package server_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// honeyVersions are the honeytokens' versions addHoneytokens puts into a
// world: a decoy in every state and with every restriction a real token can
// have, each of which must still answer as an unknown token. Each grants
// the caller scope too, so a decoy used as a caller's credential would be
// accepted if it were verified like a real token.
var honeyVersions = []struct {
	label, tokenName string
	state            token.State
	expiresIn        time.Duration
}{
	{"honey", "honey", token.StateCurrent, 24 * time.Hour},
	{"honey-prev", "honey", token.StatePrevious, time.Hour},
	{"honey-pending", "honey", token.StatePending, 48 * time.Hour},
	{"honey-revoked", "honey-revoked", token.StateRevoked, 24 * time.Hour},
	{"honey-expired", "honey-expired", token.StateCurrent, -time.Minute},
	{"honey-net", "honey-net", token.StateCurrent, 24 * time.Hour},
	{"honey-limited", "honey-limited", token.StateCurrent, 24 * time.Hour},
	{"honey-retired", "honey-retired", token.StateCurrent, 24 * time.Hour},
}

// addHoneytokens adds honeyVersions to the world's snapshot, and
// "honey-wrong", the id of "honey" with another secret.
func addHoneytokens(t *testing.T, w *world) {
	t.Helper()
	now := w.clock.Now()
	infos := map[string]*server.TokenInfo{}
	for _, v := range honeyVersions {
		info := infos[v.tokenName]
		if info == nil {
			info = &server.TokenInfo{ID: "id-" + v.tokenName, Name: v.tokenName, Owner: "security", Honeytoken: true}
			infos[v.tokenName] = info
		}
		switch v.tokenName {
		case "honey-net":
			info.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		case "honey-limited":
			info.RateLimit = store.RateLimit{Requests: 1, Per: time.Minute}
		case "honey-retired":
			info.Retired = true
		}
		m, err := token.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w.values[v.label] = m.Value
		w.entries = append(w.entries, &server.Entry{
			Record: token.Record{VersionID: m.ID, TokenName: v.tokenName, Hash: m.Hash, State: v.state,
				ExpiresAt: now.Add(v.expiresIn), Scopes: []string{server.IntrospectScope, "billing:read"}},
			IssuedAt: now.Add(-time.Hour),
			Token:    info,
		})
	}
	w.values["honey-wrong"] = wrongSecret(t, w.values["honey"])
	w.src.set(server.NewSnapshot(8, now, w.entries))
}

// answer is everything a caller sees of a response, and the debug log
// line the request left, with the clock's part taken out.
type answer struct {
	status int
	header http.Header
	body   string
	log    string
}

var logTime = regexp.MustCompile(`^time=\S+ `)

// record serves one request and returns what it answered and logged.
func (w *world) record(do func() *httptest.ResponseRecorder) answer {
	before := len(w.logs.String())
	rec := do()
	line := strings.TrimSpace(w.logs.String()[before:])
	return answer{status: rec.Code, header: rec.Header().Clone(), body: rec.Body.String(), log: logTime.ReplaceAllString(line, "")}
}

// versionID is the version id of a value, "" when it does not parse.
func versionID(value string) string {
	p, err := token.Parse(value)
	if err != nil {
		return ""
	}
	return p.ID
}

// TestHoneytokenAnswersAsUnknown: every endpoint answers a honeytoken's
// value, in any state and whatever its networks, rate limit, the scopes
// asked or the source, exactly as it answers an unknown token: the same
// status, headers and body, and the same debug log line, but for the
// presented version id, which an answer about an unknown id echoes too.
func TestHoneytokenAnswersAsUnknown(t *testing.T) {
	t.Parallel()
	type ask struct {
		name string
		do   func(w *world, value string) *httptest.ResponseRecorder
	}
	caller := request{auth: func(r *http.Request) {}}
	asks := []ask{
		{"introspect", func(w *world, v string) *httptest.ResponseRecorder {
			return w.introspect(url.Values{"token": {v}}, request{auth: w.basic("caller", "caller")})
		}},
		{"introspect from an allowed source", func(w *world, v string) *httptest.ResponseRecorder {
			return w.introspect(url.Values{"token": {v}, "source_ip": {allowedIP}}, request{auth: w.basic("caller", "caller")})
		}},
		{"introspect from a denied source", func(w *world, v string) *httptest.ResponseRecorder {
			return w.introspect(url.Values{"token": {v}, "source_ip": {deniedIP}}, request{auth: w.basic("caller", "caller")})
		}},
		{"verify", func(w *world, v string) *httptest.ResponseRecorder {
			return w.verify(server.VerifyRequest{Token: v}, request{auth: w.bearer("caller")})
		}},
		{"verify with a granted scope", func(w *world, v string) *httptest.ResponseRecorder {
			return w.verify(server.VerifyRequest{Token: v, Scopes: []string{"billing:read"}}, request{auth: w.bearer("caller")})
		}},
		{"verify with a scope not granted", func(w *world, v string) *httptest.ResponseRecorder {
			return w.verify(server.VerifyRequest{Token: v, Scopes: []string{"billing:admin"}}, request{auth: w.bearer("caller")})
		}},
		{"verify from a denied source", func(w *world, v string) *httptest.ResponseRecorder {
			return w.verify(server.VerifyRequest{Token: v, SourceIP: deniedIP}, request{auth: w.bearer("caller")})
		}},
		{"authz", func(w *world, v string) *httptest.ResponseRecorder {
			return w.authz(nil, request{auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) }})
		}},
		{"authz with scopes", func(w *world, v string) *httptest.ResponseRecorder {
			return w.authz([]string{"billing:read"}, request{peer: allowedIP, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) },
				headers: map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/invoices"}})
		}},
		{"authz from a denied source", func(w *world, v string) *httptest.ResponseRecorder {
			return w.authz([]string{"billing:admin"}, request{peer: deniedIP, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) }})
		}},
		// The decoy as the caller's own credential, every way a caller
		// authenticates: refused as an unknown caller token.
		{"caller Basic", func(w *world, v string) *httptest.ResponseRecorder {
			return w.introspect(url.Values{"token": {w.value("billing")}}, request{auth: func(r *http.Request) { r.SetBasicAuth("honey", v) }})
		}},
		{"caller form fields", func(w *world, v string) *httptest.ResponseRecorder {
			return w.introspect(url.Values{"token": {w.value("billing")}, "client_id": {"honey"}, "client_secret": {v}}, caller)
		}},
		{"caller Bearer to introspect", func(w *world, v string) *httptest.ResponseRecorder {
			return w.introspect(url.Values{"token": {w.value("billing")}}, request{auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) }})
		}},
		{"caller Bearer to verify", func(w *world, v string) *httptest.ResponseRecorder {
			return w.verify(server.VerifyRequest{Token: w.value("billing")}, request{auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) }})
		}},
	}
	labels := []string{"honey-wrong"}
	for _, v := range honeyVersions {
		labels = append(labels, v.label)
	}
	for _, a := range asks {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			addHoneytokens(t, w)
			for _, label := range labels {
				unknown := mustGenerate(t)
				honey := w.value(label)
				// Three times each: a rate limit of one a minute must not
				// show on the second or third use.
				for i := range 3 {
					want := w.record(func() *httptest.ResponseRecorder { return a.do(w, unknown) })
					got := w.record(func() *httptest.ResponseRecorder { return a.do(w, honey) })
					if id := versionID(unknown); id != "" {
						want.body = strings.ReplaceAll(want.body, id, versionID(honey))
						want.log = strings.ReplaceAll(want.log, id, versionID(honey))
					}
					if got.status != want.status || got.body != want.body || !reflect.DeepEqual(got.header, want.header) {
						t.Errorf("%s, use %d: answered\n%d %v %q\nwant an unknown token's\n%d %v %q", label, i+1,
							got.status, got.header, got.body, want.status, want.header, want.body)
					}
					if got.log != want.log {
						t.Errorf("%s, use %d: logged\n%s\nwant an unknown token's\n%s", label, i+1, got.log, want.log)
					}
					if strings.Contains(strings.ToLower(got.body+got.log), "honey") {
						t.Errorf("%s: the answer or the log names the decoy: %q %q", label, got.body, got.log)
					}
				}
			}
		})
	}
}

// TestHoneytokenNotInMetrics: the metrics count a honeytoken's use as an
// unknown token's; nothing in them names a decoy.
func TestHoneytokenNotInMetrics(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	addHoneytokens(t, w)
	for range 2 {
		w.authz(nil, request{auth: w.bearer("honey")})
		w.verify(server.VerifyRequest{Token: w.value("honey")}, request{auth: w.bearer("caller")})
		w.introspect(url.Values{"token": {w.value("honey")}}, request{auth: w.basic("caller", "caller")})
	}
	rec := w.do(localRequest(http.MethodGet, "/metrics"))
	body := rec.Body.String()
	if strings.Contains(strings.ToLower(body), "honey") {
		t.Errorf("the metrics name the decoy:\n%s", body)
	}
	for _, want := range []string{
		`tokenward_requests_total{code="not_found",endpoint="authz"} 2`,
		`tokenward_requests_total{code="not_found",endpoint="verify"} 2`,
		`tokenward_requests_total{code="not_found",endpoint="introspect"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the metrics lack %s:\n%s", want, body)
		}
	}
}

// honeyEvents is an EventSink that keeps what it is given.
type honeyEvents struct {
	mu  sync.Mutex
	got []store.UsageEvent
}

func (e *honeyEvents) Record(ev store.UsageEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *honeyEvents) last(t *testing.T) store.UsageEvent {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.got) == 0 {
		t.Fatal("no usage event")
	}
	return e.got[len(e.got)-1]
}

// TestHoneytokenUsageEvent: every presentation of a decoy, through each
// endpoint and as a caller's credential, with its secret or another, gives
// a usage event flagged honeytoken and naming the decoy, for the
// honeytoken_used detector; an unknown value's event is not flagged.
func TestHoneytokenUsageEvent(t *testing.T) {
	t.Parallel()
	sink := &honeyEvents{}
	w := newWorld(t, server.WithEventSinks(sink))
	addHoneytokens(t, w)
	bearerOf := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) }
	}
	asks := map[string]func(v string){
		"verify": func(v string) { w.verify(server.VerifyRequest{Token: v}, request{auth: w.bearer("caller")}) },
		"introspect": func(v string) {
			w.introspect(url.Values{"token": {v}}, request{auth: w.basic("caller", "caller")})
		},
		"authz": func(v string) {
			w.authz(nil, request{auth: bearerOf(v), headers: map[string]string{"X-Original-URI": "/api/x", "User-Agent": "curl/8"}})
		},
		"caller Basic": func(v string) {
			w.introspect(url.Values{"token": {w.value("billing")}}, request{auth: func(r *http.Request) { r.SetBasicAuth("honey", v) }})
		},
		"caller Bearer": func(v string) {
			w.verify(server.VerifyRequest{Token: w.value("billing")}, request{auth: bearerOf(v)})
		},
		// The endpoints whose caller is a tokenward token record the use
		// too (the outside review found them silent).
		"alerts caller": func(v string) {
			r := httptest.NewRequest(http.MethodGet, "/v1/alerts", nil)
			bearerOf(v)(r)
			w.do(r)
		},
		"config caller": func(v string) {
			r := httptest.NewRequest(http.MethodGet, "https://tokenward.test/v1/users/alice/config", nil)
			bearerOf(v)(r)
			w.do(r)
		},
	}
	for name, ask := range asks {
		for _, label := range []string{"honey", "honey-wrong", "honey-net", "honey-retired"} {
			ask(w.value(label))
			ev := sink.last(t)
			if !ev.Honeytoken || ev.TokenName != w.tokenOf(label) || ev.Fingerprint != token.Fingerprint(w.value(label)) {
				t.Errorf("%s of %s: event %+v, want one flagged honeytoken naming %s", name, label, ev, w.tokenOf(label))
			}
		}
		ask(mustGenerate(t))
		if ev := sink.last(t); ev.Honeytoken || ev.TokenName != "" {
			t.Errorf("%s of an unknown value: event %+v, want no honeytoken and no token", name, ev)
		}
	}
}

// tokenOf is the name of the token a honeyVersions label belongs to.
func (w *world) tokenOf(label string) string {
	if label == "honey-wrong" {
		label = "honey"
	}
	for _, v := range honeyVersions {
		if v.label == label {
			return v.tokenName
		}
	}
	return ""
}
