package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Server answers verification requests from a snapshot source. Its zero
// value is not usable: build one with New.
type Server struct {
	src            Snapshots
	issuer         string
	trustedProxies []netip.Prefix
	authzFrom      []netip.Prefix
	metricsFrom    []netip.Prefix
	now            func() time.Time
	log            *slog.Logger
	limits         *limiter
	routeTimeout   time.Duration
	metrics        *metrics
	handler        http.Handler
	sinks          []EventSink          // every verification's usage event goes to each
	alerts         AlertRaiser          // nil: findings are only logged
	reg            *registry.Registry   // nil: only the verification endpoints work
	access         registry.ServeAccess // what reg may do
	leaks          *leaks               // nil: the leak endpoints are off (leaks.go)
	config         *configAPI           // the configuration API (config.go)
	instance       string               // names this instance in usage events
	usageStatus    func() string        // what /readyz says of the usage log; nil: nothing
	// The configuration's event streams (stream.go).
	streams       StreamConfig
	changes       ChangeLog
	hub           *hub
	streamMetrics streamMetrics
}

// Option configures a Server.
type Option func(*Server)

// WithIssuer sets the `iss` introspection reports; empty leaves it out.
func WithIssuer(iss string) Option { return func(s *Server) { s.issuer = iss } }

// WithTrustedProxies sets the networks of proxies whose X-Forwarded-For or
// X-Real-IP name the client. Without any, the peer's address is the
// client's.
func WithTrustedProxies(p []netip.Prefix) Option {
	return func(s *Server) { s.trustedProxies = append([]netip.Prefix(nil), p...) }
}

// WithAuthzFrom sets the networks allowed to call the forward-auth endpoint;
// the default is DefaultAuthzFrom.
func WithAuthzFrom(p []netip.Prefix) Option {
	return func(s *Server) { s.authzFrom = append([]netip.Prefix(nil), p...) }
}

// WithServerClock sets the clock verification, rate limits and metrics
// read. (WithClock is the Source's.)
func WithServerClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithServerLogger sets where the server logs; the default discards.
// (WithLogger is the Source's.)
func WithServerLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithRegistry sets the Prometheus registry the server registers its
// metrics in and /metrics serves; the default is a registry of its own. A
// registry takes one Server: a second would register the same metrics.
func WithRegistry(r *prometheus.Registry) Option {
	return func(s *Server) { s.metrics = newMetrics(r) }
}

// WithRouteTimeout bounds reading a request's body on every route (default
// 10s), and writing its answer to twice that; a client slower than that gets
// 408 or a closed connection.
func WithRouteTimeout(d time.Duration) Option { return func(s *Server) { s.routeTimeout = d } }

// WithMetricsFrom sets the networks whose peers may read /metrics; the
// default is DefaultMetricsFrom.
func WithMetricsFrom(p []netip.Prefix) Option {
	return func(s *Server) { s.metricsFrom = append([]netip.Prefix(nil), p...) }
}

// DefaultMetricsFrom is who may read /metrics by default: this host. The
// listener also serves endpoints the internet reaches (leak reports from
// GitHub, forward auth behind a gateway), and the counters tell what a
// probe caused — an alert counter moving right after a value was
// presented tells a honeytoken from an unknown token — so a scraper
// elsewhere is named with --metrics-from.
var DefaultMetricsFrom = DefaultAuthzFrom

// metricsFromAllowed answers 403 to a peer outside the metrics networks.
// The peer is the connection's address, never a forwarded one.
func (s *Server) metricsFromAllowed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !inNets(s.metricsFrom, peerAddr(r)) {
			writeJSON(w, http.StatusForbidden, oauthError{Error: "access_denied",
				Description: "this address may not read /metrics: serve with --metrics-from naming the scraper's network"})
			return
		}
		h(w, r)
	}
}

// DefaultAuthzFrom is who may call /v1/authz by default: the loopback
// networks, where a gateway on the same host calls from.
var DefaultAuthzFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Request limits and deadlines. A request's body and its reading are bounded
// per route (see route), so a later streaming endpoint can extend its own
// deadlines with http.ResponseController.
const (
	// MaxBodyBytes bounds a request body; past it the answer is 413.
	MaxBodyBytes = 64 << 10
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 16 << 10
	// defaultRouteTimeout bounds reading a request's body and writing its
	// answer.
	defaultRouteTimeout = 10 * time.Second
)

// New returns a server answering from src.
func New(src Snapshots, opts ...Option) *Server {
	s := &Server{src: src, authzFrom: DefaultAuthzFrom, metricsFrom: DefaultMetricsFrom, now: time.Now,
		log: slog.New(slog.DiscardHandler), routeTimeout: defaultRouteTimeout}
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = newMetrics(prometheus.NewRegistry())
	}
	s.limits = newLimiter()
	s.metrics.watch(src, s.limits, s.now)
	s.watchSinks()
	mux := http.NewServeMux()
	mux.Handle("POST /oauth2/introspect", s.route(endpointIntrospect, s.introspect))
	mux.Handle("POST /v1/verify", s.route(endpointVerify, s.verify))
	// Any method: nginx's auth_request subrequest keeps the client's
	// (Caddy and Traefik send GET), and forward auth reads no body.
	mux.Handle("/v1/authz", s.route(endpointAuthz, s.authz))
	mux.Handle("GET /healthz", s.route("healthz", s.healthz))
	mux.Handle("GET /readyz", s.route("readyz", s.readyz))
	mux.Handle("GET /metrics", s.route("metrics", s.metricsFromAllowed(s.metrics.handler().ServeHTTP)))
	s.leakRoutes(mux)
	s.configRoutes(mux)
	s.alertRoutes(mux)
	s.streamRoutes(mux)
	s.handler = mux
	return s
}

// Handler is the server's HTTP handler, every route included.
func (s *Server) Handler() http.Handler { return s.handler }

// route wraps a handler with the limits every route has: deadlines for
// reading the body and writing the answer, and the body limit.
func (s *Server) route(name string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// The wall clock: deadlines are the network's. The answer gets a
		// period of its own after the body's, so a body cut by its deadline
		// can still be told why.
		start := time.Now()
		s.deadline(name, rc.SetReadDeadline(start.Add(s.routeTimeout)))
		s.deadline(name, rc.SetWriteDeadline(start.Add(2*s.routeTimeout)))
		if r.ContentLength > MaxBodyBytes {
			writeTooLarge(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h(w, r)
	})
}

// deadline logs a deadline the connection could not take; a test recorder
// supports none, and that is no error.
func (s *Server) deadline(route string, err error) {
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Warn("set request deadline", "route", route, "err", err)
	}
}

// readBody reads the whole body, at most MaxBodyBytes, within the route's
// deadline. When it cannot, it answers (413 past the limit, 408 when the
// client is too slow, 400 otherwise), sets code and returns false.
func readBody(w http.ResponseWriter, r *http.Request, code *token.Code) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err == nil {
		return b, true
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		*code = codeTooLarge
		writeTooLarge(w)
	case errors.As(err, &ne) && ne.Timeout():
		*code = codeBadRequest
		writeJSON(w, http.StatusRequestTimeout, oauthError{Error: "invalid_request", Description: "the request body did not arrive in time"})
	default:
		*code = codeBadRequest
		badRequest(w, "the request body could not be read")
	}
	return nil, false
}

func writeTooLarge(w http.ResponseWriter) {
	writeJSON(w, http.StatusRequestEntityTooLarge, oauthError{Error: "invalid_request",
		Description: "the request body is larger than 64 KiB"})
}
