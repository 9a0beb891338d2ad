package sidecar

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// metrics are the data path's Prometheus metrics, registered on the registry passed to Run.
type metrics struct {
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
}

// Label values of egress_bytes_total{direction}, seen from the app.
const (
	directionSent     = "sent"     // from the app to the destination
	directionReceived = "received" // from the destination to the app
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_connections_total",
			Help: "Captured TLS and opaque TCP connections by protocol (tls, tcp) and decision (allow, deny, audit). HTTP is decided per request: see egress_http_requests_total.",
		}, []string{"protocol", "decision", "host", "port"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_http_requests_total",
			Help: "HTTP requests by destination host, response status code and decision (allow, deny, audit).",
		}, []string{"host", "code", "decision"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "egress_http_request_duration_seconds",
			Help:    "Time from an HTTP request's arrival to the end of its response body, for forwarded requests.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"host"}),
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
	}
	for _, c := range []prometheus.Collector{
		m.connections, m.httpRequests, m.httpDuration, m.bytes, m.upstreamErrors, m.dnsQueries,
		m.policyTargets, m.policyInvalid, m.policyReloads, m.policyLastReload,
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
