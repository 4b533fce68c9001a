package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every metric the gateway exports.
type Metrics struct {
	Registry *prometheus.Registry

	Requests          *prometheus.CounterVec   // route, method, code
	RequestDuration   *prometheus.HistogramVec // route
	HandshakeFailures *prometheus.CounterVec   // listener, reason
	Handshakes        *prometheus.CounterVec   // listener, version, resumed
	ActiveConnections *prometheus.GaugeVec     // listener
	Reloads           *prometheus.CounterVec   // result
	LastReloadSuccess prometheus.Gauge
	UpstreamErrors    *prometheus.CounterVec // upstream, reason
	InsecureUpstream  *prometheus.CounterVec // upstream
	InsecureUpstreams prometheus.Gauge
	StrippedHeaders   *prometheus.CounterVec // route
	RateLimited       *prometheus.CounterVec // route
	DeprecatedCalls   *prometheus.CounterVec // route
	ClientCertExpiry  *ExpiryTracker
}

// NewMetrics creates and registers all metrics on a fresh registry.
func NewMetrics(maxTrackedClients int) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_requests_total", Help: "HTTP requests answered, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mtlsgate_request_duration_seconds", Help: "Time from request read to response written, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		HandshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_tls_handshake_failures_total", Help: "TLS handshakes that failed, by listener and reason code.",
		}, []string{"listener", "reason"}),
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_tls_handshakes_total", Help: "TLS handshakes completed, by listener, TLS version and resumption.",
		}, []string{"listener", "version", "resumed"}),
		ActiveConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtlsgate_active_connections", Help: "Client connections currently open, by listener.",
		}, []string{"listener"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_config_reloads_total", Help: "Configuration reloads, by result (success or failure).",
		}, []string{"result"}),
		LastReloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlsgate_config_last_reload_success_timestamp_seconds", Help: "Unix time of the last successful (re)load.",
		}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_upstream_errors_total", Help: "Failed upstream calls, by upstream and reason.",
		}, []string{"upstream", "reason"}),
		InsecureUpstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_insecure_upstream_requests_total", Help: "Requests sent to an upstream with insecure_skip_verify: true (its certificate is NOT verified).",
		}, []string{"upstream"}),
		InsecureUpstreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlsgate_insecure_upstreams", Help: "Upstreams configured with insecure_skip_verify: true.",
		}),
		StrippedHeaders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_stripped_identity_headers_total", Help: "Client-sent identity headers removed before proxying (spoofing attempts or misconfigured clients), by route.",
		}, []string{"route"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_rate_limited_requests_total", Help: "Requests refused with 429 by the route's rate_limit, by route.",
		}, []string{"route"}),
		DeprecatedCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlsgate_deprecated_route_requests_total", Help: "Requests to routes in state deprecated, by route (who calls: GET /api/stats on the admin listener).",
		}, []string{"route"}),
		ClientCertExpiry: NewExpiryTracker(maxTrackedClients),
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.HandshakeFailures, m.Handshakes, m.ActiveConnections,
		m.Reloads, m.LastReloadSuccess, m.UpstreamErrors, m.InsecureUpstream, m.InsecureUpstreams, m.StrippedHeaders,
		m.RateLimited, m.DeprecatedCalls, m.ClientCertExpiry,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ReloadResult records a reload outcome.
func (m *Metrics) ReloadResult(ok bool, now time.Time) {
	if ok {
		m.Reloads.WithLabelValues("success").Inc()
		m.LastReloadSuccess.Set(float64(now.Unix()))
		return
	}
	m.Reloads.WithLabelValues("failure").Inc()
}

// RouteMetrics are one route's pre-resolved series, so the hot path does not
// hash label values for the common cases.
type RouteMetrics struct {
	route    string
	m        *Metrics
	duration prometheus.Observer
	// common holds counters for standard methods x common status codes.
	common map[codeKey]prometheus.Counter
	Strip  prometheus.Counter
}

type codeKey struct {
	method string
	code   int
}

var commonCodes = []int{200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 421, 429, 500, 502, 503, 504}

// Route returns the pre-resolved metrics of a route.
func (m *Metrics) Route(name string) *RouteMetrics {
	rm := &RouteMetrics{route: name, m: m, duration: m.RequestDuration.WithLabelValues(name),
		common: map[codeKey]prometheus.Counter{}, Strip: m.StrippedHeaders.WithLabelValues(name)}
	for _, meth := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"} {
		for _, c := range commonCodes {
			rm.common[codeKey{meth, c}] = m.Requests.WithLabelValues(name, meth, strconv.Itoa(c))
		}
	}
	return rm
}

// Observe records one finished request.
func (rm *RouteMetrics) Observe(method string, code int, d time.Duration) {
	if c, ok := rm.common[codeKey{method, code}]; ok {
		c.Inc()
	} else {
		rm.m.Requests.WithLabelValues(rm.route, MethodLabel(method), strconv.Itoa(code)).Inc()
	}
	rm.duration.Observe(d.Seconds())
}

// MethodLabel folds non-standard methods into "OTHER" so a client cannot
// create unbounded series.
func MethodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT":
		return m
	}
	return "OTHER"
}
