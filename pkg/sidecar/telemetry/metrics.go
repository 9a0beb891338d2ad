// Package telemetry holds the sidecar's Prometheus metrics and bounds their label values. Per-host metric
// children are resolved once per host label and kept (the labels are bounded, so the cache is too), so a
// request costs no label hashing.
package telemetry

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// Metrics are the data path's Prometheus metrics, registered on the registry passed to New.
type Metrics struct {
	connections      *prometheus.CounterVec
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	bytes            *prometheus.CounterVec
	upstreamErrors   *prometheus.CounterVec
	dnsQueries       *prometheus.CounterVec
	policyTargets    prometheus.Gauge
	policyInvalid    prometheus.Gauge
	policyReloads    *prometheus.CounterVec
	policyLastReload prometheus.Gauge
	retries          *prometheus.CounterVec
	retryBudget      *prometheus.CounterVec
	timeouts         *prometheus.CounterVec
	gatewayTunnels   *prometheus.CounterVec
	gatewayBound     *Bound

	hosts sync.Map // host label → *Host
}

// Label values of egress_bytes_total{direction}, seen from the app.
const (
	DirectionSent     = "sent"     // from the app to the destination
	DirectionReceived = "received" // from the destination to the app
)

// New registers the metrics on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_connections_total",
			Help: "Captured TLS and opaque TCP connections by protocol (tls, tcp) and decision (allow, deny, audit). HTTP is decided per request: see egress_http_requests_total.",
		}, []string{"protocol", "decision", "host", "port"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_http_requests_total",
			Help: "HTTP requests by destination host, response status code, decision (allow, deny, audit) and the route that allowed them (\"\" when routes do not restrict the host).",
		}, []string{"host", "code", "decision", "route"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "egress_http_request_duration_seconds",
			Help:    "Time from an HTTP request's arrival to the end of its response body, for forwarded requests.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"host", "route"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_bytes_total",
			Help: "Payload bytes forwarded, by direction seen from the app (sent, received) and destination host: HTTP bodies, and everything a TLS or TCP connection carries.",
		}, []string{"direction", "host"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_upstream_errors_total",
			Help: "Failures to reach an allowed destination, by host and reason (dns, dns_not_found, connect, timeout, tls_verification, tls, upstream).",
		}, []string{"host", "reason"}),
		dnsQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_dns_queries_total",
			Help: "DNS queries answered by the DNS proxy, by result.",
		}, []string{"result"}),
		policyTargets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egress_policy_targets",
			Help: "Valid targets in the compiled policy of this pod.",
		}),
		policyInvalid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egress_policy_invalid_targets",
			Help: "Targets of the rule sets selecting this pod that are invalid and were skipped (they never widen access); see the sidecar's log for which.",
		}),
		policyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_policy_reloads_total",
			Help: "Policy loads by result (success, failure).",
		}, []string{"result"}),
		policyLastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egress_policy_last_reload_timestamp_seconds",
			Help: "Unix time of the last successful policy load; 0 before the first.",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_http_retries_total",
			Help: "HTTP requests sent again by a route's retries, by host, route and the failure retried (connect, reset, 429, 502, 503, 504).",
		}, []string{"host", "route", "reason"}),
		retryBudget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_http_retry_budget_exhausted_total",
			Help: "Retries a route allowed but the host's retry budget did not, by host and route.",
		}, []string{"host", "route"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_http_timeouts_total",
			Help: "HTTP requests that ran out of their route's timeout, by host and route.",
		}, []string{"host", "route"}),
		gatewayTunnels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_gateway_tunnels_total",
			Help: "Tunnels opened through an EgressGateway, by gateway, protocol carried (http, https, tls, tcp) and result (ok; denied: the gateway refused; error: it could not be reached or could not connect).",
		}, []string{"gateway", "protocol", "result"}),
		gatewayBound: NewBound(maxGatewayLabels),
	}
	for _, c := range []prometheus.Collector{
		m.connections, m.httpRequests, m.httpDuration, m.bytes, m.upstreamErrors, m.dnsQueries,
		m.policyTargets, m.policyInvalid, m.policyReloads, m.policyLastReload, m.retries, m.retryBudget, m.timeouts,
		m.gatewayTunnels,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering sidecar metrics: %w", err)
		}
	}
	for _, r := range dnsproxy.Results() {
		m.dnsQueries.WithLabelValues(r)
	}
	m.policyReloads.WithLabelValues("success")
	m.policyReloads.WithLabelValues("failure")
	return m, nil
}

// Host is the metric children of one host label.
type Host struct {
	label     string
	m         *Metrics
	Sent      prometheus.Counter
	Received  prometheus.Counter
	requests  sync.Map // requestKey → prometheus.Counter
	durations sync.Map // route label → prometheus.Observer
}

type requestKey struct {
	code   int
	action policy.Action
	route  string
}

// Host returns the children of a host label (which the caller bounded with Labels).
func (m *Metrics) Host(label string) *Host {
	if h, ok := m.hosts.Load(label); ok {
		return h.(*Host)
	}
	h := &Host{
		label:    label,
		m:        m,
		Sent:     m.bytes.WithLabelValues(DirectionSent, label),
		Received: m.bytes.WithLabelValues(DirectionReceived, label),
	}
	actual, _ := m.hosts.LoadOrStore(label, h)
	return actual.(*Host)
}

// Label returns the host label.
func (h *Host) Label() string { return h.label }

// Request counts one HTTP request with its status code, decision and route label (bounded by the caller).
func (h *Host) Request(code int, action policy.Action, route string) {
	key := requestKey{code, action, route}
	c, ok := h.requests.Load(key)
	if !ok {
		c, _ = h.requests.LoadOrStore(key, h.m.httpRequests.WithLabelValues(h.label, strconv.Itoa(code), action.String(), route))
	}
	c.(prometheus.Counter).Inc()
}

// Observe records a forwarded request's duration.
func (h *Host) Observe(route string, d time.Duration) {
	o, ok := h.durations.Load(route)
	if !ok {
		o, _ = h.durations.LoadOrStore(route, h.m.httpDuration.WithLabelValues(h.label, route))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// Retry counts a request sent again on a route, by the failure retried.
func (h *Host) Retry(route, reason string) { h.m.retries.WithLabelValues(h.label, route, reason).Inc() }

// RetryBudgetExhausted counts a retry the host's budget refused.
func (h *Host) RetryBudgetExhausted(route string) {
	h.m.retryBudget.WithLabelValues(h.label, route).Inc()
}

// Timeout counts a request that ran out of its route's timeout.
func (h *Host) Timeout(route string) { h.m.timeouts.WithLabelValues(h.label, route).Inc() }

// Conn counts a TLS or TCP connection decision.
func (m *Metrics) Conn(protocol string, action policy.Action, host, port string) {
	m.connections.WithLabelValues(protocol, action.String(), host, port).Inc()
}

// Bytes counts payload bytes forwarded for a host label outside HTTP (tunnels).
func (m *Metrics) Bytes(direction, host string) prometheus.Counter {
	return m.bytes.WithLabelValues(direction, host)
}

// Results of egress_gateway_tunnels_total.
const (
	GatewayOK     = "ok"
	GatewayDenied = "denied"
	GatewayError  = "error"
)

// maxGatewayLabels bounds the gateway label: rule sets name gateways, and a name beyond this is "other".
const maxGatewayLabels = 64

// GatewayResult is the result label of a failure reason (decide.ErrGatewayDenied is "denied").
func GatewayResult(reason string) string {
	if reason == "gateway_denied" {
		return GatewayDenied
	}
	return GatewayError
}

// Gateway counts a tunnel through a gateway.
func (m *Metrics) Gateway(gateway, protocol, result string) {
	m.gatewayTunnels.WithLabelValues(m.gatewayBound.Label(gateway), protocol, result).Inc()
}

// UpstreamError counts a failure to reach an allowed destination.
func (m *Metrics) UpstreamError(host, reason string) {
	m.upstreamErrors.WithLabelValues(host, reason).Inc()
}

// DNSQuery counts a query the DNS proxy answered.
func (m *Metrics) DNSQuery(result string) { m.dnsQueries.WithLabelValues(result).Inc() }

// PolicyLoaded records a successful policy load at now.
func (m *Metrics) PolicyLoaded(targets, invalid int, now time.Time) {
	m.policyTargets.Set(float64(targets))
	m.policyInvalid.Set(float64(invalid))
	m.policyReloads.WithLabelValues("success").Inc()
	m.policyLastReload.Set(float64(now.UnixNano()) / 1e9)
}

// PolicyFailed records a failed policy load.
func (m *Metrics) PolicyFailed() { m.policyReloads.WithLabelValues("failure").Inc() }
