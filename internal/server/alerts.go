package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/detect"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Bounds of GET /v1/alerts.
const (
	defaultAlertsSince = 24 * time.Hour
	defaultAlertsLimit = 100
	maxAlertsLimit     = 1000
)

var errNoRegistry = errors.New("no registry")

// alertRoutes registers the alerts endpoint.
func (s *Server) alertRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/alerts", s.route("alerts", s.listAlerts))
}

// listAlerts answers GET /v1/alerts: the stored alerts of the last ?since
// (default 24h), newest first, at most ?limit (default 100, at most 1000).
// The caller authenticates with Authorization: Bearer and a token granting
// tokenward:alerts-read, from an address its allowed networks admit.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	if !s.alertsCaller(w, r) {
		return
	}
	q := r.URL.Query()
	since, limit := defaultAlertsSince, defaultAlertsLimit
	if v := q.Get("since"); v != "" {
		d, err := duration.Parse(v)
		if err != nil || d <= 0 {
			badRequest(w, "since must be a positive duration such as 24h or 7d")
			return
		}
		since = d
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAlertsLimit {
			badRequest(w, "limit must be a whole number from 1 to "+strconv.Itoa(maxAlertsLimit))
			return
		}
		limit = n
	}
	var al store.AlertLog
	err := errNoRegistry
	if s.reg != nil {
		// The registry's: its store is wrapped when it holds a key.
		al, err = s.reg.AlertLog()
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: "this server keeps no alert log: serve it with a store that has one"})
		return
	}
	as, err := al.Alerts(r.Context(), store.AlertQuery{Since: s.now().Add(-since), Limit: limit})
	if err != nil {
		s.log.Error("read alerts", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: "the alerts could not be read from the store"})
		return
	}
	out := make([]detect.Alert, len(as))
	for i, a := range as {
		out[i] = detect.JSON(a)
	}
	writeJSON(w, http.StatusOK, out)
}

// alertsCaller checks the Bearer token of a caller of /v1/alerts with the
// one verification every endpoint shares, and answers 401 (no valid token),
// 403 (no tokenward:alerts-read) or 503 (no snapshot) when it is refused.
func (s *Server) alertsCaller(w http.ResponseWriter, r *http.Request) bool {
	challenge := `Bearer realm="tokenward"`
	refuse := func(status int, bearerError, desc string) bool {
		h := challenge
		if bearerError != "" {
			h += `, error="` + bearerError + `"`
		}
		if bearerError == "insufficient_scope" {
			h += `, scope="` + registry.ScopeAlertsRead + `"`
		}
		w.Header().Set("WWW-Authenticate", h)
		code := "invalid_token"
		if status == http.StatusForbidden {
			code = "insufficient_scope"
		}
		if bearerError == "" {
			code = "invalid_request"
		}
		writeJSON(w, status, oauthError{Error: code, Description: desc})
		return false
	}
	auth := r.Header.Values("Authorization")
	if len(auth) == 0 {
		return refuse(http.StatusUnauthorized, "", "authenticate with Authorization: Bearer and a token that grants "+registry.ScopeAlertsRead)
	}
	scheme, value, _ := strings.Cut(auth[0], " ")
	if len(auth) > 1 || !strings.EqualFold(scheme, "Bearer") {
		return refuse(http.StatusUnauthorized, "invalid_token", "give one Authorization: Bearer header")
	}
	start, src, required := time.Now(), s.clientAddr(r), []string{registry.ScopeAlertsRead}
	value = strings.TrimSpace(value)
	out := s.verifyOnce(value, required, src, false)
	u := use{endpoint: endpointAlerts}
	s.set(&u, out, value, required, src)
	defer s.finish(r, &u, start)
	switch out.Code {
	case token.Valid:
		return true
	case Unavailable:
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: "no current snapshot of the store: the caller cannot be authenticated"})
		return false
	case token.InsufficientScope:
		return refuse(http.StatusForbidden, "insufficient_scope", "the caller's token does not grant "+registry.ScopeAlertsRead)
	case IPDenied:
		return refuse(http.StatusUnauthorized, "invalid_token", "the caller's token may not be used from this address")
	}
	return refuse(http.StatusUnauthorized, "invalid_token", "the caller's token is not valid ("+string(out.Code)+")")
}
