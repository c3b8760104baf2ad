// Package githubtest is a fake GitHub REST API for tests: a real HTTP server
// with the behaviour tokenward depends on.
//
// It checks authentication (personal or installation tokens, and GitHub App
// JWTs for the installation token exchange) and the permissions to write
// secrets and comments; serves a real Curve25519 public key per repository,
// environment, organization and Dependabot scope; opens every sealed box it
// receives and keeps the plaintext for assertions; answers 201 on create and
// 204 on update, 404 for what it does not know and 422 for what GitHub
// rejects; keeps issues (listed, filtered and sorted as GitHub does, with
// pull requests among them; created, edited, closed and reopened) and issue
// and pull request comments, listed in pages with GitHub's Link header and
// written as the token's user; publishes
// secret-scanning partner signing keys (ECDSA P-256) and signs reports with
// them, keeps secret-scanning alerts and sends their signed webhooks; and
// can be told to fail matching requests (5xx, stalls, rate limits).
//
// Routes are listed in one place (Server.routes), so adding an endpoint is a
// pattern and a handler.
package githubtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"
)

// Server is a fake GitHub API. Its methods are safe for concurrent use.
type Server struct {
	t      testing.TB
	srv    *httptest.Server
	prefix string
	done   chan struct{}

	mu      sync.Mutex
	nextID  int64
	repos   map[string]*repository // by lower-case owner/name
	byID    map[int64]*repository
	orgs    map[string]*organization // by lower-case login
	tokens  map[string]TokenGrant    // by token
	apps    map[int64]*app           // by app id
	latency time.Duration
	faults  []*fault
	log     []string // "METHOD /path" of every request, in order
	sealed  []string // every encrypted_value received
	scan    scanning // secret scanning: the partner keys and the alerts (scanning.go)
}

// An Option configures a Server.
type Option func(*Server)

// WithPrefix serves the API under a path prefix, as GitHub Enterprise Server
// does under /api/v3.
func WithPrefix(prefix string) Option {
	return func(s *Server) { s.prefix = "/" + strings.Trim(prefix, "/") }
}

// New starts a fake GitHub that is closed when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:      t,
		done:   make(chan struct{}),
		nextID: 1000,
		repos:  map[string]*repository{},
		byID:   map[int64]*repository{},
		orgs:   map[string]*organization{},
		tokens: map[string]TokenGrant{},
		apps:   map[int64]*app{},
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		mux.HandleFunc(r.pattern, r.handler)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { notFound(w) })
	var h http.Handler = s.middleware(mux)
	if s.prefix != "" && s.prefix != "/" {
		h = http.StripPrefix(s.prefix, h)
	}
	s.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		close(s.done) // release stalled requests before Close waits for them
		s.srv.Close()
	})
	return s
}

type route struct {
	pattern string
	handler http.HandlerFunc
}

// routes is the routing table; patterns are net/http ServeMux patterns.
// Every handler runs after authentication (except the token exchange, which
// authenticates a GitHub App JWT itself).
func (s *Server) routes() []route {
	return []route{
		{"GET /user", s.getUser},
		{"GET /repos/{owner}/{repo}", s.getRepo},
		{"GET /repositories/{id}", s.getRepoByID},
		{"POST /app/installations/{id}/access_tokens", s.createInstallationToken},

		{"GET /repos/{owner}/{repo}/actions/secrets/public-key", s.secrets(repoActions, publicKeyOp)},
		{"GET /repos/{owner}/{repo}/actions/secrets/{name}", s.secrets(repoActions, getOp)},
		{"PUT /repos/{owner}/{repo}/actions/secrets/{name}", s.secrets(repoActions, putOp)},
		{"DELETE /repos/{owner}/{repo}/actions/secrets/{name}", s.secrets(repoActions, deleteOp)},

		{"GET /repos/{owner}/{repo}/dependabot/secrets/public-key", s.secrets(repoDependabot, publicKeyOp)},
		{"GET /repos/{owner}/{repo}/dependabot/secrets/{name}", s.secrets(repoDependabot, getOp)},
		{"PUT /repos/{owner}/{repo}/dependabot/secrets/{name}", s.secrets(repoDependabot, putOp)},
		{"DELETE /repos/{owner}/{repo}/dependabot/secrets/{name}", s.secrets(repoDependabot, deleteOp)},

		{"GET /repos/{owner}/{repo}/environments/{env}/secrets/public-key", s.secrets(environment, publicKeyOp)},
		{"GET /repos/{owner}/{repo}/environments/{env}/secrets/{name}", s.secrets(environment, getOp)},
		{"PUT /repos/{owner}/{repo}/environments/{env}/secrets/{name}", s.secrets(environment, putOp)},
		{"DELETE /repos/{owner}/{repo}/environments/{env}/secrets/{name}", s.secrets(environment, deleteOp)},
		{"GET /repositories/{id}/environments/{env}/secrets/public-key", s.secrets(environment, publicKeyOp)},
		{"GET /repositories/{id}/environments/{env}/secrets/{name}", s.secrets(environment, getOp)},
		{"PUT /repositories/{id}/environments/{env}/secrets/{name}", s.secrets(environment, putOp)},
		{"DELETE /repositories/{id}/environments/{env}/secrets/{name}", s.secrets(environment, deleteOp)},

		{"GET /repos/{owner}/{repo}/issues", s.listIssues},
		{"POST /repos/{owner}/{repo}/issues", s.createIssue},
		{"GET /repos/{owner}/{repo}/issues/{number}", s.getIssue},
		{"PATCH /repos/{owner}/{repo}/issues/{number}", s.editIssue},
		{"GET /repos/{owner}/{repo}/issues/{number}/comments", s.listComments},
		{"POST /repos/{owner}/{repo}/issues/{number}/comments", s.createComment},
		{"PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", s.editComment},

		{"GET /meta/public_keys/secret_scanning", s.scanningKeys},
		{"GET /repos/{owner}/{repo}/secret-scanning/alerts/{number}", s.getScanningAlert},
		{"PATCH /repos/{owner}/{repo}/secret-scanning/alerts/{number}", s.updateScanningAlert},

		{"GET /orgs/{org}/actions/secrets/public-key", s.secrets(orgActions, publicKeyOp)},
		{"GET /orgs/{org}/actions/secrets/{name}", s.secrets(orgActions, getOp)},
		{"PUT /orgs/{org}/actions/secrets/{name}", s.secrets(orgActions, putOp)},
		{"DELETE /orgs/{org}/actions/secrets/{name}", s.secrets(orgActions, deleteOp)},
	}
}

// URL is the base URL of the API, with a trailing slash, ready to be used as
// a GitHub API URL.
func (s *Server) URL() string { return s.root() + "/" }

// root is the base URL of the API without a trailing slash.
func (s *Server) root() string { return s.srv.URL + strings.TrimSuffix(s.prefix, "/") }

// Client returns an HTTP client that talks to the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// AddRepo adds a repository, named owner/name, and returns its id. Adding a
// repository again returns the id it already has.
func (s *Server) AddRepo(fullName string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[strings.ToLower(fullName)]; ok {
		return r.id
	}
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" {
		s.t.Fatalf("githubtest: AddRepo(%q): want owner/name", fullName)
	}
	s.nextID++
	r := &repository{
		id: s.nextID, owner: owner, name: name,
		actions:    s.newScope(),
		dependabot: s.newScope(),
		envs:       map[string]*scope{},
	}
	s.repos[strings.ToLower(fullName)] = r
	s.byID[r.id] = r
	return r.id
}

// AddEnvironment adds an environment to a repository added before.
func (s *Server) AddEnvironment(fullName, env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[strings.ToLower(fullName)]
	if !ok {
		s.t.Fatalf("githubtest: AddEnvironment: no repository %q", fullName)
	}
	if _, ok := r.envs[env]; !ok {
		r.envs[env] = s.newScope()
	}
}

// AddOrg adds an organization.
func (s *Server) AddOrg(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[strings.ToLower(login)]; !ok {
		s.orgs[strings.ToLower(login)] = &organization{login: login, actions: s.newScope()}
	}
}

// DefaultLogin is the user a token acts as when its grant names none: the
// author GitHub shows for comments made with a workflow's GITHUB_TOKEN.
const DefaultLogin = "github-actions[bot]"

// A TokenGrant is who a token acts as and what it may write. Every known
// token may read.
type TokenGrant struct {
	// Login is the user the token acts as, the author of its comments;
	// DefaultLogin when empty.
	Login string
	// WriteSecrets allows creating, updating and deleting secrets.
	WriteSecrets bool
	// WriteComments allows creating and editing issue and pull request
	// comments, as GitHub's pull-requests: write or issues: write does.
	WriteComments bool
	// WriteIssues allows creating, editing, closing and reopening issues,
	// and commenting on them, as GitHub's issues: write does.
	WriteIssues bool
	// ResolveAlerts allows updating secret-scanning alerts, as GitHub's
	// secret_scanning_alerts: write does.
	ResolveAlerts bool
}

// AddToken accepts tok as a credential acting as DefaultLogin; canWrite
// grants it every write permission (secrets, comments, issues and
// secret-scanning alerts), false makes it read-only.
func (s *Server) AddToken(tok string, canWrite bool) {
	s.AddTokenGrant(tok, TokenGrant{WriteSecrets: canWrite, WriteComments: canWrite, WriteIssues: canWrite, ResolveAlerts: canWrite})
}

// AddTokenGrant accepts tok as a credential with the given grant, such as a
// GITHUB_TOKEN that may comment on pull requests but not write secrets.
func (s *Server) AddTokenGrant(tok string, g TokenGrant) {
	if g.Login == "" {
		g.Login = DefaultLogin
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = g
}

// SetLatency delays every response by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// RotateKeys gives every scope a new public key, as GitHub does from time to
// time; values sealed with an old key are then rejected.
func (s *Server) RotateKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	rotate := func(sc *scope) {
		n := s.newScope()
		sc.pub, sc.priv, sc.keyID = n.pub, n.priv, n.keyID
	}
	for _, r := range s.repos {
		rotate(r.actions)
		rotate(r.dependabot)
		for _, e := range r.envs {
			rotate(e)
		}
	}
	for _, o := range s.orgs {
		rotate(o.actions)
	}
}

// RepoSecret returns the plaintext of a repository's Actions secret.
func (s *Server) RepoSecret(fullName, name string) (string, bool) {
	return s.secret(func() *scope {
		if r := s.repos[strings.ToLower(fullName)]; r != nil {
			return r.actions
		}
		return nil
	}, name)
}

// DependabotSecret returns the plaintext of a repository's Dependabot secret.
func (s *Server) DependabotSecret(fullName, name string) (string, bool) {
	return s.secret(func() *scope {
		if r := s.repos[strings.ToLower(fullName)]; r != nil {
			return r.dependabot
		}
		return nil
	}, name)
}

// EnvSecret returns the plaintext of an environment's secret.
func (s *Server) EnvSecret(fullName, env, name string) (string, bool) {
	return s.secret(func() *scope {
		if r := s.repos[strings.ToLower(fullName)]; r != nil {
			return r.envs[env]
		}
		return nil
	}, name)
}

// OrgSecret returns the plaintext of an organization's Actions secret, its
// visibility and, for visibility selected, the ids of its repositories.
func (s *Server) OrgSecret(login, name string) (value, visibility string, selected []int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orgs[strings.ToLower(login)]
	if o == nil {
		return "", "", nil, false
	}
	sec, ok := o.actions.secrets[name]
	if !ok {
		return "", "", nil, false
	}
	return sec.value, sec.visibility, append([]int64(nil), sec.selected...), true
}

func (s *Server) secret(find func() *scope, name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := find()
	if sc == nil {
		return "", false
	}
	sec, ok := sc.secrets[name]
	if !ok {
		return "", false
	}
	return sec.value, true
}

// Requests returns how many requests the server received.
func (s *Server) Requests() int { return s.Count("") }

// Count returns how many requests matched: whose "METHOD /path" (the path
// escaped, without the prefix) contains match, such as "PUT " or
// "GET /repos/acme/api/actions/secrets/public-key".
func (s *Server) Count(match string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.log {
		if strings.Contains(l, match) {
			n++
		}
	}
	return n
}

// Sealed returns every encrypted_value the server received, so a test can
// check that none leaks.
func (s *Server) Sealed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sealed...)
}

// A Fault is an injected failure.
type Fault struct {
	// Status is the status to answer; 0 answers normally after a stall.
	Status int
	// RetryAfter is sent as the Retry-After header when not empty.
	RetryAfter string
	// Stall holds the request until the client gives up or Stall passes.
	Stall time.Duration
	// RateLimitReset, when set, answers 403 (or Status) with
	// X-RateLimit-Remaining: 0 and X-RateLimit-Reset, a primary rate limit.
	RateLimitReset time.Time
	// Times is how many matching requests fail; 0 means one.
	Times int
}

type fault struct {
	match string
	Fault
	left int
}

// Fail makes the next Fault.Times requests that match (see Count) fail.
// Faults apply before authentication, in the order they were added.
func (s *Server) Fail(match string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := f.Times
	if n <= 0 {
		n = 1
	}
	s.faults = append(s.faults, &fault{match: match, Fault: f, left: n})
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := r.Method + " " + r.URL.EscapedPath()
		s.mu.Lock()
		s.log = append(s.log, line)
		latency := s.latency
		var f *fault
		for _, c := range s.faults {
			if c.left > 0 && strings.Contains(line, c.match) {
				c.left--
				f = c
				break
			}
		}
		s.mu.Unlock()
		if !s.wait(r, latency) {
			return
		}
		if f != nil {
			if f.Stall > 0 && !s.wait(r, f.Stall) {
				return
			}
			if f.Status != 0 || !f.RateLimitReset.IsZero() {
				status := f.Status
				if f.RetryAfter != "" {
					w.Header().Set("Retry-After", f.RetryAfter)
				}
				if !f.RateLimitReset.IsZero() {
					if status == 0 {
						status = http.StatusForbidden
					}
					w.Header().Set("X-RateLimit-Limit", "5000")
					w.Header().Set("X-RateLimit-Remaining", "0")
					w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(f.RateLimitReset.Unix(), 10))
					writeJSON(w, status, message("API rate limit exceeded"))
					return
				}
				body := message(http.StatusText(status))
				if f.RetryAfter != "" && (status == http.StatusForbidden || status == http.StatusTooManyRequests) {
					body = errorBody{
						Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
						DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
					}
				}
				writeJSON(w, status, body)
				return
			}
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/app/") {
			next.ServeHTTP(w, r) // authenticates a JWT itself
			return
		}
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/meta/") {
			next.ServeHTTP(w, r) // public, as GitHub's meta endpoints are
			return
		}
		tok, ok := bearer(r)
		s.mu.Lock()
		_, known := s.tokens[tok]
		s.mu.Unlock()
		if !ok || !known {
			writeJSON(w, http.StatusUnauthorized, message("Bad credentials"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// wait blocks for d, or until the client or the server gives up; it reports
// whether the request should go on.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "token "} {
		if t, ok := strings.CutPrefix(h, p); ok && t != "" {
			return t, true
		}
	}
	return "", false
}

type errorBody struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url,omitempty"`
}

// fieldError is one entry of the errors list of a 422 Validation Failed.
type fieldError struct {
	Resource string `json:"resource"`
	Code     string `json:"code"`
	Field    string `json:"field"`
	Message  string `json:"message,omitempty"`
}

func message(m string) errorBody {
	return errorBody{Message: m, DocumentationURL: "https://docs.github.com/rest"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func notFound(w http.ResponseWriter) { writeJSON(w, http.StatusNotFound, message("Not Found")) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func (s *Server) newScope() *scope {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatalf("githubtest: generate key: %v", err)
	}
	s.nextID++
	return &scope{pub: pub, priv: priv, keyID: fmt.Sprint(3380204578043523366 + s.nextID), secrets: map[string]*secret{}}
}
