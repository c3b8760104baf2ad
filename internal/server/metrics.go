package server

import (
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// metrics are what /metrics reports. Labels hold only endpoint names and
// codes, never anything a client sent.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenward_requests_total",
			Help: "Requests to the verification endpoints, by endpoint and outcome code (a verification code, or why the request was refused before one).",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tokenward_verification_duration_seconds",
			Help: "Time to answer a request to a verification endpoint, from its handler's start to its answer.",
			// From a map lookup to a slow client: 5 µs to 100 ms.
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1},
		}, []string{"endpoint"}),
	}
	reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch registers the metrics read from the snapshot source and the rate
// limiter when scraped.
func (m *metrics) watch(src Snapshots, limits *limiter, now func() time.Time) {
	gauge := func(name, help string, f func(Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(src.Status()) })
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m.reg.MustRegister(
		gauge("tokenward_snapshot_age_seconds", "Seconds since the store last confirmed the snapshot is current; +Inf before the first snapshot.",
			func(st Status) float64 {
				if !st.Loaded || st.FreshAt.IsZero() {
					return math.Inf(1)
				}
				return now().Sub(st.FreshAt).Seconds()
			}),
		gauge("tokenward_snapshot_versions", "Token versions in the current snapshot.",
			func(st Status) float64 { return float64(st.Size) }),
		gauge("tokenward_snapshot_seq", "The store's change counter the current snapshot reflects.",
			func(st Status) float64 { return float64(st.Seq) }),
		gauge("tokenward_snapshot_loaded", "1 once a snapshot of the store is loaded.",
			func(st Status) float64 { return flag(st.Loaded) }),
		gauge("tokenward_snapshot_stale", "1 while the snapshot is older than the maximum staleness: verification fails closed.",
			func(st Status) float64 { return flag(st.Stale) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tokenward_snapshot_invalidations_total",
			Help: "Changes learnt from the store since start (notifications or change counter moves).",
		}, func() float64 { return float64(src.Status().Invalidations) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokenward_rate_limited_tokens",
			Help: "Tokens whose rate limit this instance is counting uses of.",
		}, func() float64 { return float64(limits.size()) }),
	)
}

// observe counts one request and its latency.
func (m *metrics) observe(endpoint string, code token.Code, d time.Duration) {
	m.requests.WithLabelValues(endpoint, string(code)).Inc()
	m.latency.WithLabelValues(endpoint).Observe(d.Seconds())
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
