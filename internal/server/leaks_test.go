package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/clocktest"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/githubtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry/registrytest"
	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// alertLog is an AlertRaiser that keeps what it is given.
type alertLog struct {
	mu     sync.Mutex
	alerts []store.Alert
}

func (a *alertLog) Raise(_ context.Context, al store.Alert) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alerts = append(a.alerts, al)
}

func (a *alertLog) all() []store.Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]store.Alert(nil), a.alerts...)
}

// leakWorld is a server with the leak endpoints over a real store, a token
// "deploy" delivered to a file and to a GitHub secret of the fake GitHub,
// which also signs partner reports and keeps secret-scanning alerts.
type leakWorld struct {
	t      *testing.T
	dsn    string
	clock  *clocktest.Clock
	reg    *registry.Registry
	src    *server.Source
	gh     *githubtest.Server
	http   *httptest.Server
	alerts *alertLog
	log    *lockedBuffer
	file   string
	secret []byte
	values []string // every value issued, to grep for
}

// leakSetup changes a leakWorld's options before its server starts.
type leakSetup struct {
	noRotate   bool // the server cannot rotate (no master key, say)
	readOnly   bool // the server may not write the store
	noSecret   bool // no webhook secret: the webhook is off
	apiNoSlash bool // the API base is given without its trailing slash
	postgres   bool // the store is PostgreSQL
	// serverRole: the server logs in as the PostgreSQL role the leaks
	// guide's SQL block for this test creates.
	serverRole string
}

const ghToken = "ghs_leakworld"

func newLeakWorld(t *testing.T, set leakSetup) *leakWorld {
	t.Helper()
	ctx := t.Context()
	w := &leakWorld{t: t, dsn: filepath.Join(t.TempDir(), "tokenward.db"), clock: clocktest.New(),
		alerts: &alertLog{}, log: &lockedBuffer{}, secret: []byte("webhook secret of the test")}
	w.clock.Set(time.Now().UTC().Truncate(time.Second))
	if set.postgres {
		w.dsn = engines.DSN(t, "postgres")
	}
	env := registrytest.Env(t, w.dsn)
	reg, err := registry.Open(ctx, registry.Config{Getenv: func(k string) string { return env[k] }, Create: true},
		registry.WithClock(w.clock.Now), registry.WithActor("test"))
	must(t, err)
	t.Cleanup(func() { reg.Close() })
	w.reg = reg
	w.gh = githubtest.New(t)
	w.gh.AddRepo("acme/api")
	w.gh.AddToken(ghToken, true)
	cfg := destination.GitHubConfig{Token: ghToken, APIURL: w.gh.URL(), HTTPClient: w.gh.Client()}
	writer, err := destination.NewGitHub(cfg)
	must(t, err)
	eng := rotation.New(w.reg, destination.NewRouter(writer))
	_, err = w.reg.CreateScope(ctx, "billing:read", "")
	must(t, err)
	w.file = filepath.Join(t.TempDir(), "deploy.token")
	fd, err := destination.New(destination.KindFile, destination.Config{Path: w.file, Format: destination.FormatRaw})
	must(t, err)
	gd, err := destination.New(destination.KindRepositorySecret, destination.Config{Repository: "acme/api", Name: "DEPLOY_TOKEN"})
	must(t, err)
	_, err = w.reg.CreateToken(ctx, registry.TokenSpec{Name: "deploy", Scopes: []string{"billing:read"}, Lifetime: lifetime,
		Destinations: []store.Destination{fd, gd}})
	must(t, err)
	w.rotate(eng)

	// The server's registry: the administrator's, or one opened as a
	// PostgreSQL role with only the guide's grants.
	srvReg, access := w.reg, registry.ServeAccess{Writable: !set.readOnly, Keys: !set.noRotate}
	if set.readOnly {
		access.ReadOnlyWhy = "opened read-only (test)"
	}
	if set.serverRole != "" {
		roleEnv := map[string]string{registry.EnvStore: leakGuideRole(t, w.dsn, set.serverRole), seal.EnvKey: env[seal.EnvKey]}
		srvReg, access, err = registry.OpenServer(ctx, registry.Config{Getenv: func(k string) string { return roleEnv[k] }},
			registry.WithClock(w.clock.Now), registry.WithActor("serve"))
		must(t, err)
		t.Cleanup(func() { srvReg.Close() })
		if !access.Writable || !access.Keys {
			t.Fatalf("the server role: %+v", access)
		}
	}
	srvEng := rotation.New(srvReg, destination.NewRouter(writer), rotation.WithLockWait(5*time.Second))
	// A poll interval of an hour: only CatchUp can make a revocation seen.
	w.src = run(t, srvReg.Store(), server.WithPollInterval(time.Hour))
	client, err := destination.NewGitHubClient(cfg)
	must(t, err)
	o := server.LeakOptions{WebhookSecret: w.secret, GitHub: client, APIURL: w.gh.URL(), HTTPClient: w.gh.Client(), Wait: 20 * time.Second}
	if set.apiNoSlash {
		o.APIURL = strings.TrimSuffix(o.APIURL, "/")
	}
	if set.noSecret {
		o.WebhookSecret = nil
	}
	if set.noRotate {
		o.RotateOff = "no master key (test)"
	} else {
		o.Rotate = func(ctx context.Context, name string) (string, error) {
			res, err := srvEng.Rotate(ctx, name)
			if err == nil {
				w.remember()
			}
			return res.To, err
		}
	}
	srv := server.New(w.src, server.WithRegistryAccess(srvReg, access), server.WithAlerts(w.alerts),
		server.WithServerClock(w.clock.Now), server.WithServerLogger(slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		server.WithLeakResponse(o))
	w.http = httptest.NewServer(srv.Handler())
	t.Cleanup(w.http.Close)
	t.Cleanup(w.noValueLeft)
	return w
}

// rotate rotates deploy outside the leak response.
func (w *leakWorld) rotate(eng *rotation.Engine) {
	w.t.Helper()
	_, err := eng.Rotate(w.t.Context(), "deploy")
	must(w.t, err)
	w.remember()
}

// remember notes the value the destinations hold now.
func (w *leakWorld) remember() {
	v := w.fileValue()
	w.values = append(w.values, v)
}

func (w *leakWorld) fileValue() string {
	b, err := os.ReadFile(w.file)
	if err != nil {
		w.t.Errorf("read the file destination: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// code is what the server's snapshot answers for value now.
func (w *leakWorld) code(value string) token.Code {
	snap, err := w.src.Current()
	must(w.t, err)
	return verify(snap, value, w.clock.Now(), "billing:read").Code
}

func (w *leakWorld) seq() int64 {
	h, err := w.reg.AuditHead(w.t.Context())
	must(w.t, err)
	return h.Seq
}

// post sends body to path with headers and returns the status and body.
func (w *leakWorld) post(path string, body []byte, headers map[string]string) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.t.Context(), http.MethodPost, w.http.URL+path, bytes.NewReader(body))
	must(w.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := w.http.Client().Do(req)
	must(w.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// report sends a partner report of values, signed by the fake GitHub.
func (w *leakWorld) report(values ...string) (int, []leakAnswer) {
	w.t.Helper()
	body := partnerBody(values...)
	id, sig := w.gh.SignPartnerReport(body)
	status, b := w.post("/v1/leaks/github", body, map[string]string{"Github-Public-Key-Identifier": id, "Github-Public-Key-Signature": sig})
	var out []leakAnswer
	if status == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			w.t.Fatalf("answer %s: %v", b, err)
		}
	}
	return status, out
}

func partnerBody(values ...string) []byte {
	entries := make([]githubtest.PartnerEntry, len(values))
	for i, v := range values {
		entries[i] = githubtest.PartnerEntry{Token: v, Type: "tokenward_token", URL: "https://github.com/acme/web/blob/abc/config.yml", Source: "content"}
	}
	b, _ := json.Marshal(entries)
	return b
}

type leakAnswer struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

func sha(v string) string {
	s := sha256.Sum256([]byte(v))
	return hex.EncodeToString(s[:])
}

// noValueLeft checks that no issued value reached the log, an alert, or
// the store's file (audit events, alerts, anything written there).
func (w *leakWorld) noValueLeft() {
	logged := w.log.String()
	alerts, _ := json.Marshal(w.alerts.all())
	var db []byte
	for _, f := range []string{w.dsn, w.dsn + "-wal"} {
		b, _ := os.ReadFile(f)
		db = append(db, b...)
	}
	for _, v := range w.values {
		p, err := token.Parse(v)
		if err != nil {
			w.t.Errorf("a remembered value does not parse: %v", err)
			continue
		}
		for what, text := range map[string][]byte{"the log": []byte(logged), "an alert": alerts, "the store": db} {
			if bytes.Contains(text, []byte(v)) || bytes.Contains(text, []byte(p.Secret)) {
				w.t.Errorf("a token value is in %s", what)
			}
		}
	}
}

// TestLeakPartnerReport: a signed report of a live value revokes its
// version at once and, for the current version, rotates the token to a
// value the destinations hold; a previous version is only revoked; a value
// that matches no version (unknown, forged secret, malformed) is a false
// positive and changes nothing.
func TestLeakPartnerReport(t *testing.T) {
	t.Parallel()
	t.Run("current version", func(t *testing.T) {
		t.Parallel()
		w := newLeakWorld(t, leakSetup{})
		leaked := w.values[0]
		if w.code(leaked) != token.Valid {
			t.Fatal("the live value does not verify before the report")
		}
		start := time.Now()
		status, ans := w.report(leaked)
		t.Logf("answered in %s", time.Since(start))
		if status != http.StatusOK || len(ans) != 1 || ans[0] != (leakAnswer{sha(leaked), "tokenward_token", "true_positive"}) {
			t.Fatalf("answer %d %+v", status, ans)
		}
		// Refused at once: the snapshot polls hourly, so the response
		// itself brought it up to the revocation.
		if got := w.code(leaked); got != token.Revoked {
			t.Fatalf("the leaked value right after the answer: %s, want revoked", got)
		}
		fresh := w.fileValue()
		if fresh == leaked {
			t.Fatal("the file destination still holds the leaked value")
		}
		if held, _ := w.gh.RepoSecret("acme/api", "DEPLOY_TOKEN"); held != fresh {
			t.Fatal("the GitHub secret does not hold the new value")
		}
		if got := w.code(fresh); got != token.Valid {
			t.Fatalf("the new value: %s, want valid", got)
		}
		if res, err := w.reg.Verify(t.Context(), leaked, nil); err != nil || res.Code != token.Revoked {
			t.Fatalf("the store says %v, %v for the leaked value", res.Code, err)
		}
		ti, err := w.reg.Token(t.Context(), "deploy")
		must(t, err)
		if ti.Previous != nil {
			t.Errorf("the leaked version lives on as previous %s: it must be revoked without overlap", ti.Previous.Fingerprint)
		}
		al := w.alerts.all()
		if len(al) != 1 {
			t.Fatalf("alerts: %+v", al)
		}
		a := al[0]
		if a.Detector != "token_leaked" || a.Severity != store.SeverityCritical || a.TokenName != "deploy" ||
			a.Evidence["response"] != "rotated" || a.Evidence["source_url"] != "https://github.com/acme/web/blob/abc/config.yml" ||
			a.Evidence["source"] != "content" || a.Evidence["new_fingerprint"] != token.Fingerprint(fresh) ||
			!strings.Contains(a.Detail, "rotated") {
			t.Fatalf("alert: %+v", a)
		}
		// Reported again: it is revoked already; still a true positive.
		seq := w.seq()
		if _, ans := w.report(leaked); ans[0].Label != "true_positive" || w.seq() != seq {
			t.Fatalf("a second report: %+v, seq %d → %d", ans, seq, w.seq())
		}
	})
	t.Run("honeytoken", func(t *testing.T) {
		t.Parallel()
		w := newLeakWorld(t, leakSetup{})
		ctx := t.Context()
		_, err := w.reg.CreateToken(ctx, registry.TokenSpec{Name: "decoy", Scopes: []string{"billing:read"}, Honeytoken: true,
			Lifetime: store.Lifetime{TTL: 90 * 24 * time.Hour, RotateBefore: 14 * 24 * time.Hour, Overlap: time.Hour}})
		must(t, err)
		iss, err := w.reg.IssueFirst(ctx, "decoy")
		must(t, err)
		w.values = append(w.values, iss.Value)
		seq := w.seq()
		status, ans := w.report(iss.Value)
		if status != http.StatusOK || len(ans) != 1 || ans[0] != (leakAnswer{sha(iss.Value), "tokenward_token", "true_positive"}) {
			t.Fatalf("answer %d %+v", status, ans)
		}
		// Left in place: no revocation, no rotation, nothing written.
		if w.seq() != seq {
			t.Fatalf("a honeytoken's report changed the store: seq %d → %d", seq, w.seq())
		}
		ti, err := w.reg.Token(ctx, "decoy")
		must(t, err)
		if ti.Current == nil || ti.Current.ID != iss.VersionID {
			t.Fatalf("the decoy's current version after the report: %+v", ti.Current)
		}
		if got := w.code(iss.Value); got != token.NotFound {
			t.Fatalf("the decoy after the report: %s, want not_found as ever", got)
		}
		al := w.alerts.all()
		if len(al) != 1 || al[0].Detector != "token_leaked" || al[0].TokenName != "decoy" ||
			al[0].Evidence["response"] != "none" || al[0].Evidence["honeytoken"] != "true" || !strings.Contains(al[0].Detail, "honeytoken") {
			t.Fatalf("alerts: %+v", al)
		}
	})
	t.Run("previous version", func(t *testing.T) {
		t.Parallel()
		w := newLeakWorld(t, leakSetup{})
		// Rotate once more outside the server: the first value is previous.
		gh := destination.GitHubConfig{Token: ghToken, APIURL: w.gh.URL(), HTTPClient: w.gh.Client()}
		writer, err := destination.NewGitHub(gh)
		must(t, err)
		w.rotate(rotation.New(w.reg, destination.NewRouter(writer)))
		must(t, w.src.CatchUp(t.Context(), w.seq()))
		previous, current := w.values[0], w.values[1]
		if w.code(previous) != token.Valid {
			t.Fatal("the previous value does not verify inside its overlap")
		}
		if _, ans := w.report(previous); ans[0].Label != "true_positive" {
			t.Fatalf("answer %+v", ans)
		}
		if w.code(previous) != token.Revoked || w.code(current) != token.Valid || w.fileValue() != current {
			t.Fatalf("previous %s, current %s; the file holds the current value: %v", w.code(previous), w.code(current), w.fileValue() == current)
		}
		if a := w.alerts.all(); len(a) != 1 || a[0].Evidence["response"] != "revoked" || !strings.Contains(a[0].Detail, "previous") {
			t.Fatalf("alerts: %+v", a)
		}
	})
	t.Run("no match", func(t *testing.T) {
		t.Parallel()
		w := newLeakWorld(t, leakSetup{})
		live := w.values[0]
		p, _ := token.Parse(live)
		unknown, err := token.Generate(rand.Reader)
		must(t, err)
		forged := forge(t, p.ID) // a real version id with another secret
		cases := []string{unknown.Value, forged, "tw_not-a-token", "ghp_somethingelse"}
		seq := w.seq()
		status, ans := w.report(cases...)
		if status != http.StatusOK || len(ans) != len(cases) {
			t.Fatalf("answer %d %+v", status, ans)
		}
		for i, a := range ans {
			if a != (leakAnswer{sha(cases[i]), "tokenward_token", "false_positive"}) {
				t.Errorf("case %d: %+v", i, a)
			}
		}
		if w.seq() != seq || w.code(live) != token.Valid || w.fileValue() != live || len(w.alerts.all()) != 0 {
			t.Fatal("a report that matched nothing changed something")
		}
	})
}

// forge returns a well-formed value with version id id and a secret of its
// own, its checksum computed as the documentation tells scanners to: what
// an attacker who saw a fingerprint could send.
func forge(t *testing.T, id string) string {
	t.Helper()
	m, err := token.Generate(rand.Reader)
	must(t, err)
	start := len(token.Prefix) + token.IDLength
	body := token.Prefix + id + m.Value[start:start+token.SecretLength]
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	crc := crc32.ChecksumIEEE([]byte(body))
	sum := make([]byte, token.ChecksumLength)
	for i := len(sum) - 1; i >= 0; i-- {
		sum[i] = alphabet[crc%62]
		crc /= 62
	}
	v := body + string(sum)
	if _, err := token.Parse(v); err != nil {
		t.Fatalf("the forged value does not parse: %v", err)
	}
	return v
}

// TestLeakPartnerRefusesBadSignatures: a report that is unsigned, signed
// with another key, or changed after signing is refused with 401 and
// changes nothing; unknown key ids make the server read GitHub's keys
// again at most once a minute.
func TestLeakPartnerRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t, leakSetup{apiNoSlash: true})
	live := w.values[0]
	body := partnerBody(live)
	id, sig := w.gh.SignPartnerReport(body)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	sum := sha256.Sum256(body)
	otherDER, err := ecdsa.SignASN1(rand.Reader, other, sum[:])
	must(t, err)
	changed := partnerBody(live, "tw_also")
	cases := []struct {
		name    string
		body    []byte
		headers map[string]string
	}{
		{"unsigned", body, nil},
		{"no key id", body, map[string]string{"Github-Public-Key-Signature": sig}},
		{"signed with another key", body, map[string]string{"Github-Public-Key-Identifier": id, "Github-Public-Key-Signature": base64.StdEncoding.EncodeToString(otherDER)}},
		{"body changed after signing", changed, map[string]string{"Github-Public-Key-Identifier": id, "Github-Public-Key-Signature": sig}},
		{"signature not base64", body, map[string]string{"Github-Public-Key-Identifier": id, "Github-Public-Key-Signature": "%%%"}},
		{"unknown key id", body, map[string]string{"Github-Public-Key-Identifier": strings.Repeat("ab", 32), "Github-Public-Key-Signature": sig}},
	}
	seq := w.seq()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, b := w.post("/v1/leaks/github", tc.body, tc.headers)
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d %s, want 401", status, b)
			}
		})
	}
	if w.seq() != seq || w.code(live) != token.Valid || w.fileValue() != live || len(w.alerts.all()) != 0 {
		t.Fatal("a refused report changed something")
	}
	// A flood of unknown key ids costs GitHub no more requests within the
	// minute; after it, one more.
	fetches := w.gh.ScanningKeyFetches()
	for i := range 20 {
		w.post("/v1/leaks/github", body, map[string]string{"Github-Public-Key-Identifier": strings.Repeat(string(rune('a'+i%6)), 64), "Github-Public-Key-Signature": sig})
	}
	if got := w.gh.ScanningKeyFetches(); got != fetches {
		t.Fatalf("20 unknown key ids fetched GitHub's keys %d more times, want 0 within the minute", got-fetches)
	}
	// GitHub rotates its key: a report with the new key verifies once the
	// minute has passed.
	w.gh.RotateScanningKey()
	w.clock.Advance(time.Minute)
	if status, ans := w.report(live); status != http.StatusOK || ans[0].Label != "true_positive" {
		t.Fatalf("a report signed with GitHub's new key: %d %+v", status, ans)
	}
	if got := w.gh.ScanningKeyFetches(); got != fetches+1 {
		t.Fatalf("keys fetched %d more times, want 1", got-fetches)
	}
}

// TestLeakPartnerBounds: a body past 64 KiB is 413, an array past the
// bound is 400, both before anything is looked up.
func TestLeakPartnerBounds(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t, leakSetup{})
	many := make([]string, 300)
	for i := range many {
		many[i] = "x"
	}
	body := partnerBody(many...)
	id, sig := w.gh.SignPartnerReport(body)
	if status, b := w.post("/v1/leaks/github", body, map[string]string{"Github-Public-Key-Identifier": id, "Github-Public-Key-Signature": sig}); status != http.StatusBadRequest {
		t.Fatalf("300 entries: %d %s", status, b)
	}
	huge := bytes.Repeat([]byte(" "), server.MaxBodyBytes+1)
	if status, _ := w.post("/v1/leaks/github", huge, nil); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a huge body: %d", status)
	}
}

// TestLeakWithoutRotation: a server that cannot rotate revokes the leaked
// current version and says so; one that cannot write the store changes
// nothing and raises the alert saying why.
func TestLeakWithoutRotation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		set      leakSetup
		code     token.Code
		response string
		detail   string
	}{
		{"no key", leakSetup{noRotate: true}, token.Revoked, "revoked", "not rotated: no master key (test)"},
		{"read-only store", leakSetup{readOnly: true}, token.Valid, "alert only", "cannot write the store (opened read-only (test))"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newLeakWorld(t, tc.set)
			leaked := w.values[0]
			if _, ans := w.report(leaked); ans[0].Label != "true_positive" {
				t.Fatalf("answer %+v", ans)
			}
			if got := w.code(leaked); got != tc.code {
				t.Fatalf("the leaked value: %s, want %s", got, tc.code)
			}
			if w.fileValue() != leaked {
				t.Fatal("the destination changed without a rotation")
			}
			a := w.alerts.all()
			if len(a) != 1 || a[0].Evidence["response"] != tc.response || !strings.Contains(a[0].Detail, tc.detail) {
				t.Fatalf("alerts: %+v", a)
			}
		})
	}
}

// TestLeakWebhook: the secret_scanning_alert webhook end to end with the
// fake GitHub: the alert's secret is read with the credentials, the token
// rotated, the alert resolved as revoked; a bad signature, other events,
// other actions and an alert URL off the configured API change nothing.
func TestLeakWebhook(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t, leakSetup{})
	leaked := w.values[0]
	n := w.gh.AddScanningAlert("acme/api", leaked)
	url := w.http.URL + "/v1/leaks/github-webhook"
	client := w.http.Client()
	body := w.gh.AlertWebhookBody("acme/api", n, "created")
	seq := w.seq()

	refusals := []struct {
		name   string
		event  string
		body   []byte
		sig    string // "" signs the body with the webhook's secret; "-" sends none
		status int
	}{
		{"no signature", "secret_scanning_alert", body, "-", http.StatusUnauthorized},
		{"wrong secret", "secret_scanning_alert", body, githubtest.HubSignature([]byte("other"), body), http.StatusUnauthorized},
		{"sha1 form", "secret_scanning_alert", body, "sha1=" + strings.TrimPrefix(githubtest.HubSignature(w.secret, body), "sha256="), http.StatusUnauthorized},
		{"body changed after signing", "secret_scanning_alert", append(bytes.Clone(body), ' '), githubtest.HubSignature(w.secret, body), http.StatusUnauthorized},
		{"another event", "push", body, "", http.StatusNoContent},
		{"resolved action", "secret_scanning_alert", w.gh.AlertWebhookBody("acme/api", n, "resolved"), "", http.StatusNoContent},
		{"ping", "ping", []byte(`{"zen":"Keep it logically awesome."}`), "", http.StatusOK},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"X-GitHub-Event": tc.event}
			switch tc.sig {
			case "":
				h["X-Hub-Signature-256"] = githubtest.HubSignature(w.secret, tc.body)
			case "-":
			default:
				h["X-Hub-Signature-256"] = tc.sig
			}
			status, b := w.post("/v1/leaks/github-webhook", tc.body, h)
			if status != tc.status {
				t.Fatalf("status %d %s, want %d", status, b, tc.status)
			}
		})
	}
	if w.seq() != seq || w.code(leaked) != token.Valid || len(w.alerts.all()) != 0 {
		t.Fatal("a refused or ignored delivery changed something")
	}
	if a, _ := w.gh.Alert("acme/api", n); a.State != "open" {
		t.Fatalf("the alert is %s before a valid delivery", a.State)
	}

	resp, err := w.gh.SendAlertWebhook(t.Context(), client, url, w.secret, "acme/api", n, "created")
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"result":"true_positive"`) {
		t.Fatalf("delivery: %d %s", resp.StatusCode, b)
	}
	if got := w.code(leaked); got != token.Revoked {
		t.Fatalf("the leaked value right after the answer: %s", got)
	}
	fresh := w.fileValue()
	if held, _ := w.gh.RepoSecret("acme/api", "DEPLOY_TOKEN"); fresh == leaked || held != fresh || w.code(fresh) != token.Valid {
		t.Fatal("the token was not rotated to a new value held by its destinations")
	}
	a, _ := w.gh.Alert("acme/api", n)
	if a.State != "resolved" || a.Resolution != "revoked" || !strings.Contains(a.ResolutionComment, token.Fingerprint(leaked)) {
		t.Fatalf("the GitHub alert: %+v", a)
	}
	al := w.alerts.all()
	if len(al) != 1 || al[0].Evidence["response"] != "rotated" || al[0].Evidence["github_alert"] != "resolved as revoked" ||
		!strings.Contains(al[0].Evidence["reported_by"], "acme/api#1") {
		t.Fatalf("alerts: %+v", al)
	}

	// An alert of a value tokenward does not know is left to its owner.
	other := w.gh.AddScanningAlert("acme/api", "tw_someone_elses")
	resp, err = w.gh.SendAlertWebhook(t.Context(), client, url, w.secret, "acme/api", other, "created")
	must(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if o, _ := w.gh.Alert("acme/api", other); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "false_positive") || o.State != "open" {
		t.Fatalf("an unknown value: %d %s, alert %s", resp.StatusCode, b, o.State)
	}
}

// TestLeakWebhookCredentialsStayHome: a signed payload whose alert URL
// points off the configured API base gets no request with the
// credentials.
func TestLeakWebhookCredentialsStayHome(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t, leakSetup{})
	var mu sync.Mutex
	var auth []string
	evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		rw.WriteHeader(http.StatusNotFound)
	}))
	defer evil.Close()
	n := w.gh.AddScanningAlert("acme/api", w.values[0])
	var payload map[string]any
	must(t, json.Unmarshal(w.gh.AlertWebhookBody("acme/api", n, "created"), &payload))
	for _, u := range []string{
		evil.URL + "/repos/acme/api/secret-scanning/alerts/1",
		strings.Replace(w.gh.URL(), "http://", "https://", 1) + "repos/acme/api/secret-scanning/alerts/1",
		w.gh.URL() + "repos/acme/api/secret-scanning/alerts/1/../../../../../user",
		w.gh.URL() + "repos/acme/other/secret-scanning/alerts/1",
	} {
		payload["alert"].(map[string]any)["url"] = u
		body, _ := json.Marshal(payload)
		status, b := w.post("/v1/leaks/github-webhook", body, map[string]string{"X-GitHub-Event": "secret_scanning_alert", "X-Hub-Signature-256": githubtest.HubSignature(w.secret, body)})
		if status != http.StatusBadRequest {
			t.Errorf("alert url %s: %d %s, want 400", u, status, b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 0 {
		t.Fatalf("the other host got %d requests", len(auth))
	}
	if w.code(w.values[0]) != token.Valid {
		t.Fatal("a refused delivery revoked the token")
	}
}

// TestLeakEndpointsOff: without a webhook secret the webhook says it is
// off, and a server without the leak option says so on both endpoints.
func TestLeakEndpointsOff(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t, leakSetup{noSecret: true})
	status, b := w.post("/v1/leaks/github-webhook", []byte(`{}`), map[string]string{"X-GitHub-Event": "ping"})
	if status != http.StatusServiceUnavailable || !strings.Contains(string(b), "--github-webhook-secret-file") {
		t.Fatalf("webhook without a secret: %d %s", status, b)
	}
	bare := httptest.NewServer(server.New(w.src).Handler())
	defer bare.Close()
	for _, p := range []string{"/v1/leaks/github", "/v1/leaks/github-webhook"} {
		resp, err := bare.Client().Post(bare.URL+p, "application/json", strings.NewReader("[]"))
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s without the leak option: %d", p, resp.StatusCode)
		}
	}
}

// TestLeakPartnerKeysUnavailable: when GitHub's keys cannot be read, a
// report is answered 503 (GitHub reports again), not 401, and changes
// nothing; once a minute has passed they are read again.
func TestLeakPartnerKeysUnavailable(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t, leakSetup{})
	live := w.values[0]
	w.gh.Fail("GET /meta/public_keys/secret_scanning", githubtest.Fault{Status: http.StatusBadGateway, Times: 1})
	for range 2 {
		if status, _ := w.report(live); status != http.StatusServiceUnavailable {
			t.Fatalf("keys unavailable: %d, want 503", status)
		}
	}
	if w.code(live) != token.Valid || w.gh.ScanningKeyFetches() != 0 {
		t.Fatalf("a report that could not be checked changed something, or the keys were fetched %d times", w.gh.ScanningKeyFetches())
	}
	w.clock.Advance(time.Minute)
	if status, ans := w.report(live); status != http.StatusOK || ans[0].Label != "true_positive" {
		t.Fatalf("after a minute: %d %+v", status, ans)
	}
}

// TestLeakConcurrentReports: the same value reported by several requests
// at once is revoked once and rotated once.
func TestLeakConcurrentReports(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t, leakSetup{})
	leaked := w.values[0]
	const n = 6
	var wg sync.WaitGroup
	labels := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := partnerBody(leaked)
			id, sig := w.gh.SignPartnerReport(body)
			status, b := w.post("/v1/leaks/github", body, map[string]string{"Github-Public-Key-Identifier": id, "Github-Public-Key-Signature": sig})
			labels[i] = fmt.Sprintf("%d %s", status, b)
		}()
	}
	wg.Wait()
	for _, l := range labels {
		if !strings.Contains(l, "true_positive") {
			t.Errorf("answer %s", l)
		}
	}
	if len(w.values) != 2 {
		t.Fatalf("%d rotations for one leaked value, want 1", len(w.values)-1)
	}
	rotated := 0
	for _, a := range w.alerts.all() {
		if a.Evidence["response"] == "rotated" {
			rotated++
		}
	}
	if rotated != 1 || w.code(leaked) != token.Revoked || w.code(w.fileValue()) != token.Valid {
		t.Fatalf("%d rotated alerts; leaked %s", rotated, w.code(leaked))
	}
}
