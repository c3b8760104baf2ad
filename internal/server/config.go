package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// This file is the configuration API (issue 15): users' effective
// configuration read and written over HTTP, with role-based access
// (config_access.go), answered from memory (config_cache.go).
//
//	GET    /v1/settings                      the declared settings
//	GET    /v1/users/{user}/config           the user's effective configuration (ETag: its revision)
//	PATCH  /v1/users/{user}/config           several keys at once; a null value unsets the key
//	GET    /v1/users/{user}/config/{key}     one key
//	PUT    /v1/users/{user}/config/{key}     set one key (the body is its JSON value)
//	DELETE /v1/users/{user}/config/{key}     back to the default
//
// A write with If-Match: "N" applies only at revision N (412 otherwise).

// ConfigStore is what the configuration API reads and writes: the
// registry's configuration methods (internal/registry/configapi.go).
type ConfigStore interface {
	ReadUserConfig(ctx context.Context, user string, openSensitive bool) (registry.UserConfig, error)
	WriteUserConfig(ctx context.Context, w registry.ConfigWrite) (registry.UserConfig, error)
	AuditConfigRead(ctx context.Context, a registry.ConfigAccess) error
	ConfigChanges(ctx context.Context, after int64, limit int) ([]registry.ConfigChange, error)
	ConfigChangeWindow(ctx context.Context) (oldest, head int64, err error)
	// Settings lists the declared settings, sorted by key; a sensitive
	// one's default need not be opened.
	Settings(ctx context.Context) ([]registry.SettingSpec, error)
}

// configAPI is the configuration API's state.
type configAPI struct {
	insecure    bool // answer over plain HTTP too
	store       ConfigStore
	readOnlyWhy string // why writes are refused; empty when they are not
	noKeyWhy    string // why sensitive values cannot be opened; empty when they can
	maxUsers    int
	cache       *configCache
	requests    *prometheus.CounterVec
}

// configAPI returns the server's configuration API state, made on first
// use so that options can set it.
func (s *Server) configAPI() *configAPI {
	if s.config == nil {
		s.config = &configAPI{maxUsers: DefaultConfigCacheUsers}
	}
	return s.config
}

// WithInsecureConfigAPI lets the configuration API answer over plain HTTP
// (--insecure-config-api), for tests on loopback; without it, a request
// that did not come over TLS is refused.
func WithInsecureConfigAPI(insecure bool) Option {
	return func(s *Server) { s.configAPI().insecure = insecure }
}

// WithConfigStore sets what the configuration API reads and writes; the
// default is the registry WithRegistryAccess sets.
func WithConfigStore(cs ConfigStore) Option { return func(s *Server) { s.configAPI().store = cs } }

// WithConfigCacheUsers bounds how many users' configurations the server
// keeps in memory (default DefaultConfigCacheUsers); the least recently
// read go first.
func WithConfigCacheUsers(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.configAPI().maxUsers = n
		}
	}
}

// configRoutes registers the configuration API.
func (s *Server) configRoutes(mux *http.ServeMux) {
	api := s.configAPI()
	if api.store == nil && s.reg != nil {
		api.store = registryConfig{s.reg}
	}
	if s.reg != nil || s.access != (registry.ServeAccess{}) {
		api.readOnlyWhy, api.noKeyWhy = s.access.ReadOnlyWhy, s.access.NoKeyWhy
		if !s.access.Writable && api.readOnlyWhy == "" {
			api.readOnlyWhy = "the store was opened read-only"
		}
		if !s.access.Keys && api.noKeyWhy == "" {
			api.noKeyWhy = "no master key is configured (TOKENWARD_MASTER_KEY or TOKENWARD_MASTER_KEY_FILE)"
		}
	}
	if api.store != nil {
		api.cache = newConfigCache(api.store, s.src, api.maxUsers)
	}
	api.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenward_config_requests_total",
		Help: "Requests to the configuration API, by route and HTTP status.",
	}, []string{"route", "status"})
	s.metrics.reg.MustRegister(api.requests,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokenward_config_cache_users",
			Help: "Users whose effective configuration this instance holds in memory.",
		}, func() float64 {
			if api.cache == nil {
				return 0
			}
			return float64(api.cache.len())
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tokenward_config_cache_hits_total",
			Help: "Configuration reads answered from memory.",
		}, func() float64 {
			if api.cache == nil {
				return 0
			}
			return float64(api.cache.hits.Load())
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tokenward_config_cache_misses_total",
			Help: "Configuration reads that read the store.",
		}, func() float64 {
			if api.cache == nil {
				return 0
			}
			return float64(api.cache.misses.Load())
		}),
	)
	handle := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, s.route(name, s.configCounted(name, h)))
	}
	handle("GET /v1/settings", "settings", s.getSettings)
	handle("GET /v1/users/{user}/config", "config_get", s.getConfig)
	handle("PATCH /v1/users/{user}/config", "config_patch", s.patchConfig)
	handle("GET /v1/users/{user}/config/{key}", "config_key_get", s.getConfigKey)
	handle("PUT /v1/users/{user}/config/{key}", "config_key_put", s.putConfigKey)
	handle("DELETE /v1/users/{user}/config/{key}", "config_key_delete", s.deleteConfigKey)
}

// statusWriter remembers the status of an answer, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// configCounted counts each answer of a route by its status.
func (s *Server) configCounted(route string, h http.HandlerFunc) http.HandlerFunc {
	api := s.configAPI()
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		api.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
	}
}

// configReady answers 503 when the server has no store to serve the
// configuration API from.
func (s *Server) configReady(w http.ResponseWriter) (*configAPI, bool) {
	api := s.configAPI()
	if api.store == nil {
		writeConfigError(w, http.StatusServiceUnavailable, configErrorBody{Error: "temporarily_unavailable",
			Description: "this server has no registry to serve the configuration API from"})
		return nil, false
	}
	return api, true
}

// readHeaders are the headers of a configuration read: what a caller sees
// depends on its token, so a shared cache must not keep it.
func readHeaders(w http.ResponseWriter, revision int64, sensitiveShown bool) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", etag(revision))
	h.Set("Vary", "Authorization")
	if sensitiveShown {
		h.Set("Cache-Control", "private, no-store")
	} else {
		h.Set("Cache-Control", "private")
	}
}

func etag(revision int64) string { return `"` + strconv.FormatInt(revision, 10) + `"` }

// notModified reports whether the request's If-None-Match names revision.
func notModified(r *http.Request, revision int64) bool {
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	want := etag(revision)
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == want || t == "*" {
			return true
		}
	}
	return false
}

// readConfig is what both reads share: the path's user, the caller
// allowed to read it, the API and the user's cached configuration. It
// answers the refusal itself and returns false.
func (s *Server) readConfig(w http.ResponseWriter, r *http.Request) (user string, c configCaller, api *configAPI, e *cachedConfig, ok bool) {
	if user, ok = configUser(w, r); !ok {
		return
	}
	if c, ok = s.authorizeConfig(w, r, user, actRead); !ok {
		return
	}
	if api, ok = s.configReady(w); !ok {
		return
	}
	var err error
	if e, err = api.cache.get(r.Context(), user); err != nil {
		s.configFailure(w, "read the configuration", err)
		return user, c, api, nil, false
	}
	return user, c, api, e, true
}

// getConfig answers GET /v1/users/{user}/config.
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	user, c, api, e, ok := s.readConfig(w, r)
	if !ok {
		return
	}
	show := c.ReadSensitive && len(e.sensitive) > 0
	body := e.redacted
	if show {
		body = e.full
	}
	readHeaders(w, e.uc.Revision, show)
	if notModified(r, e.uc.Revision) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if show && api.noKeyWhy == "" && !s.auditRead(w, r, c, user, e.sensitive) {
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// getConfigKey answers GET /v1/users/{user}/config/{key}.
func (s *Server) getConfigKey(w http.ResponseWriter, r *http.Request) {
	user, c, api, e, ok := s.readConfig(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	v, found := e.value(key)
	if !found {
		s.configRefused(w, &registry.ConfigError{Kind: registry.ConfigUnknownKey, Key: key})
		return
	}
	show := c.ReadSensitive && v.Sensitive
	if show && (v.Sealed || api.noKeyWhy != "") {
		s.configRefused(w, &registry.ConfigError{Kind: registry.ConfigNoMasterKey, Key: key})
		return
	}
	body, err := renderConfigKey(e.uc, v, show)
	if err != nil {
		s.configFailure(w, "read the configuration", err)
		return
	}
	readHeaders(w, e.uc.Revision, show)
	if notModified(r, e.uc.Revision) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if show && !s.auditRead(w, r, c, user, []string{key}) {
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// auditRead records that the caller read sensitive values; a read that
// cannot be recorded is refused (503), never answered unrecorded.
func (s *Server) auditRead(w http.ResponseWriter, r *http.Request, c configCaller, user string, keys []string) bool {
	api := s.configAPI()
	if api.readOnlyWhy != "" {
		w.Header().Del("ETag")
		writeConfigError(w, http.StatusServiceUnavailable, configErrorBody{Error: "read_only",
			Description: "a read of sensitive values must be audited, and this server cannot write to the store: " + api.readOnlyWhy})
		return false
	}
	err := api.store.AuditConfigRead(r.Context(), registry.ConfigAccess{Caller: c.Token, User: user, Keys: keys, SourceIP: c.source()})
	if err != nil {
		w.Header().Del("ETag")
		s.log.Error("audit a read of sensitive configuration values", "caller", c.Token, "keys", strings.Join(keys, ","), "error", err.Error())
		writeConfigError(w, http.StatusServiceUnavailable, configErrorBody{Error: "temporarily_unavailable",
			Description: "the read of sensitive values could not be audited, so it is refused: see the server's log"})
		return false
	}
	return true
}

// settingView is one setting as GET /v1/settings lists it.
type settingView struct {
	Key          string            `json:"key"`
	Type         string            `json:"type"`
	Default      json.RawMessage   `json:"default"` // null when sensitive
	Description  string            `json:"description"`
	Constraints  store.Constraints `json:"constraints"`
	Sensitive    bool              `json:"sensitive"`
	UserEditable bool              `json:"user_editable"`
}

// getSettings answers GET /v1/settings: every declared setting, for a
// settings page. Any reader of a configuration may list them.
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	c, ok := s.configCallerOf(w, r)
	if !ok {
		return
	}
	if !c.has(registry.ScopeConfigRead) && !c.has(registry.ScopeConfigReadSelf) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenward", error="insufficient_scope", scope="`+registry.ScopeConfigReadSelf+`"`)
		writeConfigError(w, http.StatusForbidden, configErrorBody{Error: "insufficient_scope",
			Description: "listing the settings needs " + registry.ScopeConfigReadSelf + " or " + registry.ScopeConfigRead,
			Scope:       registry.ScopeConfigReadSelf})
		return
	}
	api, ok := s.configReady(w)
	if !ok {
		return
	}
	specs, err := api.store.Settings(r.Context())
	if err != nil {
		s.configFailure(w, "read the settings", err)
		return
	}
	out := struct {
		Settings []settingView `json:"settings"`
	}{Settings: make([]settingView, 0, len(specs))}
	for _, sp := range specs {
		v := settingView{Key: sp.Key, Type: sp.Type, Default: json.RawMessage("null"), Description: sp.Description,
			Constraints: sp.Constraints, Sensitive: sp.Sensitive, UserEditable: sp.UserEditable}
		if !sp.Sensitive && len(sp.Default) > 0 {
			v.Default = sp.Default
		}
		out.Settings = append(out.Settings, v)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Vary", "Authorization")
	h.Set("Cache-Control", "private")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
}

// putConfigKey answers PUT /v1/users/{user}/config/{key}: the body is the
// key's new JSON value.
func (s *Server) putConfigKey(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	s.writeConfig(w, r, func(body []byte) (map[string]json.RawMessage, []string, error) {
		v, err := oneJSONValue(body)
		if err != nil {
			return nil, nil, err
		}
		return map[string]json.RawMessage{key: v}, nil, nil
	})
}

// deleteConfigKey answers DELETE /v1/users/{user}/config/{key}: the user
// goes back to the default.
func (s *Server) deleteConfigKey(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	s.writeConfig(w, r, func([]byte) (map[string]json.RawMessage, []string, error) {
		return nil, []string{key}, nil
	})
}

// patchConfig answers PATCH /v1/users/{user}/config: a JSON object of keys
// applied in one transaction, a value each, null to go back to the default
// (as a JSON merge patch, RFC 7396, does; a json setting is set to null
// with PUT).
func (s *Server) patchConfig(w http.ResponseWriter, r *http.Request) {
	s.writeConfig(w, r, decodePatch)
}

// writeResult is the answer of a write.
type writeResult struct {
	User     string   `json:"user"`
	Revision int64    `json:"revision"`
	Set      []string `json:"set"`
	Unset    []string `json:"unset"`
}

// writeConfig applies one write for the request's user: the caller is
// checked first, then the body is read and decoded into what to set and
// unset.
func (s *Server) writeConfig(w http.ResponseWriter, r *http.Request, decode func([]byte) (map[string]json.RawMessage, []string, error)) {
	user, ok := configUser(w, r)
	if !ok {
		return
	}
	c, ok := s.authorizeConfig(w, r, user, actWrite)
	if !ok {
		return
	}
	api, ok := s.configReady(w)
	if !ok {
		return
	}
	if api.readOnlyWhy != "" {
		writeConfigError(w, http.StatusServiceUnavailable, configErrorBody{Error: "read_only",
			Description: "this server cannot write to the store: " + api.readOnlyWhy})
		return
	}
	ifMatch, rev, err := parseIfMatch(r)
	if err != nil {
		badConfigRequest(w, err.Error())
		return
	}
	body, ok := readConfigBody(w, r)
	if !ok {
		return
	}
	set, unset, err := decode(body)
	if err != nil {
		badConfigRequest(w, err.Error())
		return
	}
	setKeys := make([]string, 0, len(set))
	for k := range set {
		setKeys = append(setKeys, k)
	}
	sort.Strings(setKeys)
	unset = append([]string{}, unset...)
	sort.Strings(unset)
	keys := append(append(make([]string, 0, len(set)+len(unset)), setKeys...), unset...)
	sort.Strings(keys)
	uc, err := api.store.WriteUserConfig(r.Context(), registry.ConfigWrite{
		User: user, Set: set, Unset: unset, IfMatch: ifMatch, IfRevision: rev,
		AllowSensitive: c.WriteSensitive,
		Access:         registry.ConfigAccess{Caller: c.Token, User: user, Keys: keys, SourceIP: c.source()},
	})
	// Whatever happened, this instance reads the user afresh next time.
	api.cache.evict(user)
	if err != nil {
		s.configRefused(w, err)
		return
	}
	s.log.Info("configuration written", "caller", c.Token, "keys", strings.Join(keys, ","), "revision", uc.Revision)
	w.Header().Set("ETag", etag(uc.Revision))
	writeJSON(w, http.StatusOK, writeResult{User: user, Revision: uc.Revision, Set: setKeys, Unset: unset})
}

// parseIfMatch reads If-Match: "N" (one strong entity tag, a revision);
// "*" or none makes the write unconditional.
func parseIfMatch(r *http.Request) (bool, int64, error) {
	vals := r.Header.Values("If-Match")
	if len(vals) == 0 {
		return false, 0, nil
	}
	v := strings.TrimSpace(strings.Join(vals, ","))
	if v == "*" {
		return false, 0, nil
	}
	bad := errors.New(`If-Match must be one revision as the ETag of a read gives it, such as "12"`)
	if weak, ok := strings.CutPrefix(v, "W/"); ok {
		// A weak tag never matches If-Match's strong comparison (RFC 9110
		// 13.1.1): the precondition fails, 412, rather than a 400.
		if _, _, err := parseIfMatchTag(weak); err != nil {
			return false, 0, bad
		}
		return true, -1, nil
	}
	return parseIfMatchTag(v)
}

// parseIfMatchTag reads one strong entity tag, "N".
func parseIfMatchTag(v string) (bool, int64, error) {
	bad := errors.New(`If-Match must be one revision as the ETag of a read gives it, such as "12"`)
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return false, 0, bad
	}
	n, err := strconv.ParseInt(v[1:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return false, 0, bad
	}
	return true, n, nil
}

// readConfigBody reads a write's body, answering when it cannot.
func readConfigBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err == nil {
		return b, true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeConfigError(w, http.StatusRequestEntityTooLarge, configErrorBody{Error: "invalid_request",
			Description: "the request body is larger than 64 KiB"})
		return nil, false
	}
	writeConfigError(w, http.StatusRequestTimeout, configErrorBody{Error: "invalid_request",
		Description: "the request body could not be read in time"})
	return nil, false
}

func badConfigRequest(w http.ResponseWriter, desc string) {
	writeConfigError(w, http.StatusBadRequest, configErrorBody{Error: "invalid_request", Description: desc})
}

// oneJSONValue checks that body is one JSON value and nothing after it. Its
// errors never quote the body, which may be a secret.
func oneJSONValue(body []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return nil, errors.New(`the body must be the key's value as JSON, such as "eu", 30, true or ["a", "b"]`)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the body must be one JSON value, with nothing after it")
	}
	return v, nil
}

// decodePatch reads a PATCH body: one JSON object of key → value, null to
// unset, each key once.
func decodePatch(body []byte) (map[string]json.RawMessage, []string, error) {
	shape := errors.New(`the body must be a JSON object of keys, such as {"ui.theme": "dark", "data.region": null} (null goes back to the default)`)
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, shape
	}
	set := map[string]json.RawMessage{}
	var unset []string
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, shape
		}
		key, _ := t.(string)
		if seen[key] {
			return nil, nil, errors.New("the key " + strconv.Quote(key) + " is given more than once")
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, shape
		}
		if string(v) == "null" {
			unset = append(unset, key)
		} else {
			set[key] = v
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, shape
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("the body must be one JSON object, with nothing after it")
	}
	if len(seen) == 0 {
		return nil, nil, errors.New("the object names no key: nothing to change")
	}
	return set, unset, nil
}

// configRefused answers a refused read or write: a ConfigError by its
// kind, anything else as the store's failure.
func (s *Server) configRefused(w http.ResponseWriter, err error) {
	var ce *registry.ConfigError
	if !errors.As(err, &ce) {
		s.configFailure(w, "write the configuration", err)
		return
	}
	body := configErrorBody{Description: ce.Error(), Key: ce.Key}
	status := http.StatusBadRequest
	switch ce.Kind {
	case registry.ConfigUnknownKey:
		status, body.Error = http.StatusNotFound, "unknown_key"
	case registry.ConfigNotEditable:
		status, body.Error = http.StatusForbidden, "not_editable"
	case registry.ConfigInvalid:
		status, body.Error, body.Rule = http.StatusUnprocessableEntity, "invalid_value", ce.Rule
	case registry.ConfigManaged:
		status, body.Error, body.Resource = http.StatusConflict, "managed_by_terraform", ce.Resource
	case registry.ConfigSensitiveDenied:
		status, body.Error, body.Scope = http.StatusForbidden, "insufficient_scope", registry.ScopeConfigWriteSensitive
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenward", error="insufficient_scope", scope="`+registry.ScopeConfigWriteSensitive+`"`)
	case registry.ConfigRevisionMoved:
		rev := ce.Revision
		status, body.Error, body.Revision = http.StatusPreconditionFailed, "revision_moved", &rev
		w.Header().Set("ETag", etag(rev))
	case registry.ConfigNoMasterKey:
		status, body.Error = http.StatusServiceUnavailable, "no_master_key"
	case registry.ConfigBadUser:
		body.Error = "invalid_user"
	}
	writeConfigError(w, status, body)
}

// configFailure answers a failure of the store (503): the log has the
// error, the client a pointer to it. Store errors never hold a value.
func (s *Server) configFailure(w http.ResponseWriter, what string, err error) {
	var ce *registry.ConfigError
	if errors.As(err, &ce) {
		s.configRefused(w, err)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		writeConfigError(w, http.StatusServiceUnavailable, configErrorBody{Error: "temporarily_unavailable",
			Description: "the store did not answer in time"})
		return
	}
	s.log.Error("configuration API: "+what, "error", err.Error())
	writeConfigError(w, http.StatusServiceUnavailable, configErrorBody{Error: "temporarily_unavailable",
		Description: "the store failed to " + what + ": see the server's log"})
}

// registryConfig is the registry as the configuration API's store. Its
// Settings reads the declarations without opening sealed defaults, which
// the API never shows, so a server without a master key lists them too.
type registryConfig struct{ *registry.Registry }

func (rc registryConfig) Settings(ctx context.Context) ([]registry.SettingSpec, error) {
	var out []registry.SettingSpec
	err := rc.Store().View(ctx, func(tx store.Tx) error {
		all, err := tx.ListSettings(ctx)
		if err != nil {
			return err
		}
		for _, st := range all {
			sp := registry.SettingSpec{Key: st.Key, Type: st.Type, Description: st.Description,
				Constraints: st.Constraints, Sensitive: st.Sensitive, UserEditable: st.UserEditable}
			if !st.Sensitive {
				sp.Default = st.Default
			}
			out = append(out, sp)
		}
		return nil
	})
	return out, err
}

// configStatus is what /readyz says of the configuration API: empty when
// it is whole, otherwise what it cannot do. It does not make the server
// unready: verification and the rest still answer.
func (s *Server) configStatus() string {
	api := s.configAPI()
	var off []string
	if api.noKeyWhy != "" {
		off = append(off, "no master key")
	}
	if api.readOnlyWhy != "" {
		off = append(off, "read-only")
	}
	return strings.Join(off, ", ")
}
