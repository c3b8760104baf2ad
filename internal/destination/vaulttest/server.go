// Package vaulttest is a fake HashiCorp Vault (or OpenBao) for tests: a real
// HTTP server that speaks the parts of Vault's HTTP API tokenward depends on,
// closely enough for github.com/hashicorp/vault/api to talk to it.
//
// It serves one KV version 2 secrets engine and the AppRole login, as
// documented at https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2
// and https://developer.hashicorp.com/vault/api-docs/auth/approle:
//
//   - every request but the login needs a token it knows in X-Vault-Token
//     (or Authorization: Bearer), else 403 "permission denied";
//   - GET/POST/PUT /v1/:mount/data/:path read and write versions; a write with
//     options.cas succeeds only when cas is the key's current version (0 for
//     a key that does not exist), else 400 "check-and-set parameter did not
//     match the current version"; a key or mount with cas_required refuses a
//     write without cas; DELETE soft-deletes the latest version;
//   - GET/POST/PUT/PATCH/DELETE /v1/:mount/metadata/:path read, replace,
//     merge-patch and delete a key's metadata, custom_metadata included
//     (at most 64 pairs, keys of 128 bytes and values of 512, as Vault checks);
//     deleting the metadata deletes every version;
//   - POST /v1/auth/approle/login exchanges a role_id and secret_id for a
//     client token.
//
// It can be told that a concurrent writer lands first (Interfere), to test
// check-and-set conflicts, and keeps what it holds for assertions.
package vaulttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake Vault. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's address, such as http://127.0.0.1:PORT, for
	// VAULT_ADDR.
	URL string

	srv   *httptest.Server
	mount string

	mu          sync.Mutex
	casRequired bool              // the mount's cas_required
	tokens      map[string]bool   // client tokens that may read and write
	roles       map[string]string // AppRole role_id -> secret_id
	keys        map[string]*key   // by path within the mount
	interfere   int               // data writes a concurrent writer gets in before
	requests    []string          // "METHOD /v1/path", in order
	now         func() time.Time  // the clock of created_time and friends
	issued      int               // client tokens issued by logins
}

type key struct {
	versions    []*version // versions[i] is version i+1
	custom      map[string]string
	casRequired bool
	maxVersions int
	created     time.Time
	updated     time.Time
}

type version struct {
	data      map[string]any
	created   time.Time
	deleted   time.Time
	destroyed bool
}

// An Option configures a Server.
type Option func(*Server)

// WithMount serves the KV v2 engine at mount instead of "secret".
func WithMount(mount string) Option { return func(s *Server) { s.mount = strings.Trim(mount, "/") } }

// WithCASRequired sets the mount's cas_required: every write must carry cas.
func WithCASRequired() Option { return func(s *Server) { s.casRequired = true } }

// New starts a fake Vault that is closed when the test ends. It knows no
// token until AddToken or AddAppRole.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		mount:  "secret",
		tokens: map[string]bool{},
		roles:  map[string]string{},
		keys:   map[string]*key{},
		now:    func() time.Time { return time.Now().UTC() },
	}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// AddToken makes tok a client token that may read and write the KV engine.
func (s *Server) AddToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = true
}

// AddAppRole registers an AppRole whose login with roleID and secretID
// issues a client token.
func (s *Server) AddAppRole(roleID, secretID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[roleID] = secretID
}

// Logins is how many client tokens AppRole logins issued.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// Put writes data as a new version of the key at path and sets its
// custom_metadata when custom is not nil, as another writer (a person, a
// pipeline) would; it returns the new version.
func (s *Server) Put(path string, data map[string]string, custom map[string]string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keyAt(path, true)
	if custom != nil {
		k.custom = maps.Clone(custom)
	}
	d := map[string]any{}
	for n, v := range data {
		d[n] = v
	}
	return s.appendVersion(k, d)
}

// Secret is what the fake holds at a path.
type Secret struct {
	Data           map[string]string // the current version's data; nil when it is deleted or destroyed
	CustomMetadata map[string]string
	CurrentVersion int
	Versions       int // versions kept, deleted ones included
}

// Get returns what the key at path holds; false when there is no key.
func (s *Server) Get(path string) (Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[path]
	if k == nil {
		return Secret{}, false
	}
	out := Secret{CustomMetadata: maps.Clone(k.custom), CurrentVersion: len(k.versions), Versions: len(k.versions)}
	if n := len(k.versions); n > 0 {
		if v := k.versions[n-1]; v.deleted.IsZero() && !v.destroyed {
			out.Data = map[string]string{}
			for n, x := range v.data {
				out.Data[n] = fmt.Sprint(x)
			}
		}
	}
	return out, true
}

// Interfere makes the next n data writes that carry cas lose a race: just
// before each, another writer writes a new version (the same data), so the
// cas no longer matches the current version.
func (s *Server) Interfere(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interfere = n
}

// Requests returns "METHOD /v1/path" of every request so far, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *Server) keyAt(path string, create bool) *key {
	k := s.keys[path]
	if k == nil && create {
		now := s.now()
		k = &key{created: now, updated: now}
		s.keys[path] = k
	}
	return k
}

func (s *Server) appendVersion(k *key, data map[string]any) int {
	now := s.now()
	k.versions = append(k.versions, &version{data: data, created: now})
	k.updated = now
	return len(k.versions)
}

// response is Vault's response envelope.
type response struct {
	RequestID     string `json:"request_id"`
	LeaseID       string `json:"lease_id"`
	Renewable     bool   `json:"renewable"`
	LeaseDuration int    `json:"lease_duration"`
	Data          any    `json:"data"`
	WrapInfo      any    `json:"wrap_info"`
	Warnings      any    `json:"warnings"`
	Auth          any    `json:"auth"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers as Vault does: {"errors": [...]}.
func fail(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string][]string{"errors": msgs})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	p, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		fail(w, http.StatusNotFound)
		return
	}
	if p == "auth/approle/login" {
		s.login(w, r)
		return
	}
	if !s.authenticated(r) {
		fail(w, http.StatusForbidden, "permission denied")
		return
	}
	rest, ok := strings.CutPrefix(p, s.mount+"/")
	if !ok {
		fail(w, http.StatusNotFound, "no handler for route \""+p+"\". route entry not found.")
		return
	}
	switch {
	case strings.HasPrefix(rest, "data/"):
		s.data(w, r, strings.TrimPrefix(rest, "data/"))
	case strings.HasPrefix(rest, "metadata/"):
		s.metadata(w, r, strings.TrimPrefix(rest, "metadata/"))
	default:
		fail(w, http.StatusNotFound, "unsupported path")
	}
}

func (s *Server) authenticated(r *http.Request) bool {
	tok := r.Header.Get("X-Vault-Token")
	if tok == "" {
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return tok != "" && s.tokens[tok]
}

// login implements POST /v1/auth/approle/login, "Login with AppRole" of
// https://developer.hashicorp.com/vault/api-docs/auth/approle.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		fail(w, http.StatusMethodNotAllowed)
		return
	}
	var in struct {
		RoleID   string `json:"role_id"`
		SecretID string `json:"secret_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want, ok := s.roles[in.RoleID]
	switch {
	case in.RoleID == "":
		fail(w, http.StatusBadRequest, "missing role_id")
		return
	case !ok || in.SecretID != want:
		fail(w, http.StatusBadRequest, "invalid role or secret ID")
		return
	}
	s.issued++
	tok := fmt.Sprintf("hvs.approle-%d", s.issued)
	s.tokens[tok] = true
	writeJSON(w, http.StatusOK, response{Auth: map[string]any{
		"client_token": tok, "accessor": "accessor-" + strconv.Itoa(s.issued), "policies": []string{"default"},
		"token_policies": []string{"default"}, "lease_duration": 3600, "renewable": true,
		"metadata": map[string]string{"role_name": "tokenward"},
	}})
}

func checkPath(w http.ResponseWriter, path string) bool {
	if path == "" || strings.HasSuffix(path, "/") {
		fail(w, http.StatusMethodNotAllowed) // a listing, which the fake does not serve
		return false
	}
	return true
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func versionMetadata(k *key, n int) map[string]any {
	v := k.versions[n-1]
	return map[string]any{
		"created_time": rfc(v.created), "custom_metadata": nullable(k.custom), "deletion_time": rfc(v.deleted),
		"destroyed": v.destroyed, "version": n,
	}
}

func nullable(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// data serves /v1/:mount/data/:path: "Read secret version", "Create/Update secret"
// and "Delete latest version of secret" of https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2.
func (s *Server) data(w http.ResponseWriter, r *http.Request, path string) {
	if !checkPath(w, path) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		k := s.keys[path]
		if k == nil || len(k.versions) == 0 {
			fail(w, http.StatusNotFound)
			return
		}
		n := len(k.versions)
		if q := r.URL.Query().Get("version"); q != "" && q != "0" {
			v, err := strconv.Atoi(q)
			if err != nil || v < 1 || v > len(k.versions) {
				fail(w, http.StatusNotFound)
				return
			}
			n = v
		}
		v := k.versions[n-1]
		// A deleted or destroyed version reads as 404 with its metadata
		// and null data, as Vault answers.
		if !v.deleted.IsZero() || v.destroyed {
			writeJSON(w, http.StatusNotFound, response{Data: map[string]any{"data": nil, "metadata": versionMetadata(k, n)}})
			return
		}
		writeJSON(w, http.StatusOK, response{Data: map[string]any{"data": v.data, "metadata": versionMetadata(k, n)}})
	case http.MethodPost, http.MethodPut:
		var in struct {
			Options map[string]any `json:"options"`
			Data    map[string]any `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return
		}
		if in.Data == nil {
			fail(w, http.StatusBadRequest, "no data provided")
			return
		}
		k := s.keys[path]
		cas, hasCAS, err := casOption(in.Options)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		if !hasCAS && (s.casRequired || (k != nil && k.casRequired)) {
			fail(w, http.StatusBadRequest, "check-and-set parameter required for this call")
			return
		}
		if hasCAS && s.interfere > 0 {
			s.interfere--
			other := s.keyAt(path, true)
			prev := map[string]any{}
			if n := len(other.versions); n > 0 && other.versions[n-1].data != nil {
				prev = maps.Clone(other.versions[n-1].data)
			}
			s.appendVersion(other, prev)
			k = other
		}
		current := 0
		if k != nil {
			current = len(k.versions)
		}
		if hasCAS && cas != current {
			fail(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
			return
		}
		k = s.keyAt(path, true)
		n := s.appendVersion(k, in.Data)
		writeJSON(w, http.StatusOK, response{Data: versionMetadata(k, n)})
	case http.MethodDelete:
		if k := s.keys[path]; k != nil && len(k.versions) > 0 {
			if v := k.versions[len(k.versions)-1]; v.deleted.IsZero() {
				v.deleted = s.now()
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		fail(w, http.StatusMethodNotAllowed)
	}
}

func casOption(opts map[string]any) (int, bool, error) {
	raw, ok := opts["cas"]
	if !ok {
		return 0, false, nil
	}
	switch v := raw.(type) {
	case float64:
		if v < 0 || v != float64(int(v)) {
			break
		}
		return int(v), true, nil
	case string:
		n, err := strconv.Atoi(v)
		if err == nil && n >= 0 {
			return n, true, nil
		}
	}
	return 0, false, errors.New("cas must be a non-negative integer")
}

// metadata serves /v1/:mount/metadata/:path: "Read secret metadata",
// "Create/Update metadata", "Patch metadata" and "Delete metadata and all
// versions" of https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request, path string) {
	if !checkPath(w, path) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		k := s.keys[path]
		if k == nil {
			fail(w, http.StatusNotFound)
			return
		}
		versions := map[string]any{}
		for i, v := range k.versions {
			versions[strconv.Itoa(i+1)] = map[string]any{"created_time": rfc(v.created), "deletion_time": rfc(v.deleted), "destroyed": v.destroyed}
		}
		oldest := 0
		if len(k.versions) > 0 {
			oldest = 1
		}
		writeJSON(w, http.StatusOK, response{Data: map[string]any{
			"cas_required": k.casRequired, "created_time": rfc(k.created), "current_version": len(k.versions),
			"custom_metadata": nullable(k.custom), "delete_version_after": "0s", "max_versions": k.maxVersions,
			"oldest_version": oldest, "updated_time": rfc(k.updated), "versions": versions,
		}})
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		var in map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return
		}
		var custom map[string]*string
		if raw, ok := in["custom_metadata"]; ok {
			if err := json.Unmarshal(raw, &custom); err != nil {
				fail(w, http.StatusBadRequest, "custom_metadata must be a map of strings")
				return
			}
		}
		k := s.keys[path]
		merged := map[string]string{}
		if r.Method == http.MethodPatch {
			if k == nil {
				// Vault's patch needs the metadata to exist.
				fail(w, http.StatusNotFound)
				return
			}
			merged = maps.Clone(k.custom)
			if merged == nil {
				merged = map[string]string{}
			}
		}
		for n, v := range custom {
			if v == nil { // JSON merge patch: null removes the key
				delete(merged, n)
				continue
			}
			merged[n] = *v
		}
		if err := checkCustom(merged); err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		k = s.keyAt(path, true)
		// POST replaces custom_metadata when it is given; PATCH merges.
		if _, given := in["custom_metadata"]; given {
			k.custom = merged
		}
		if raw, ok := in["cas_required"]; ok {
			_ = json.Unmarshal(raw, &k.casRequired)
		}
		if raw, ok := in["max_versions"]; ok {
			_ = json.Unmarshal(raw, &k.maxVersions)
		}
		k.updated = s.now()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		delete(s.keys, path)
		w.WriteHeader(http.StatusNoContent)
	default:
		fail(w, http.StatusMethodNotAllowed)
	}
}

// checkCustom applies Vault's limits on custom_metadata.
func checkCustom(m map[string]string) error {
	if len(m) > 64 {
		return fmt.Errorf("custom_metadata has %d keys: the limit is 64", len(m))
	}
	for n, v := range m {
		switch {
		case n == "":
			return errors.New("custom_metadata keys must not be empty")
		case len(n) > 128:
			return fmt.Errorf("custom_metadata key %q is longer than 128 bytes", n[:16])
		case len(v) > 512:
			return fmt.Errorf("custom_metadata value of %q is longer than 512 bytes", n)
		}
	}
	return nil
}
