package server

import (
	"net/http"
	"time"
)

// readiness is the answer of /readyz.
type readiness struct {
	Ready      bool    `json:"ready"`
	Loaded     bool    `json:"loaded"`
	Stale      bool    `json:"stale"`
	Seq        int64   `json:"seq"`
	Size       int     `json:"size"`
	AgeSeconds float64 `json:"age_seconds"` // since the store last confirmed the snapshot; -1 before the first
	FreshAt    string  `json:"fresh_at,omitempty"`
	LastError  string  `json:"last_error,omitempty"`
	ConfigAPI  string  `json:"config_api,omitempty"` // what the configuration API cannot do, such as "no master key"
}

// healthz answers 200 while the process serves: a liveness probe.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only while verification answers from a current
// snapshot, and 503 otherwise, with the snapshot's state either way.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	st := s.src.Status()
	_, err := s.src.Current()
	rd := readiness{Ready: err == nil && st.Loaded && !st.Stale, Loaded: st.Loaded, Stale: st.Stale,
		Seq: st.Seq, Size: st.Size, AgeSeconds: -1, LastError: st.LastError, ConfigAPI: s.configStatus()}
	if st.Loaded && !st.FreshAt.IsZero() {
		rd.AgeSeconds = s.now().Sub(st.FreshAt).Seconds()
		rd.FreshAt = st.FreshAt.UTC().Format(time.RFC3339Nano)
	}
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
}
