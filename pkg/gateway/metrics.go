package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/pkg/sidecar/telemetry"
)

// Metrics are a gateway's metrics, labelled by source namespace and destination host, both bounded: hosts
// as the sidecar bounds them (named by a target, else --max-host-labels), namespaces up to
// maxNamespaceLabels, beyond which "other".
type Metrics struct {
	tunnels        *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	upstreamErrors *prometheus.CounterVec
	active         prometheus.Gauge
	namespaces     *telemetry.Bound
}

// maxNamespaceLabels bounds the source_namespace label.
const maxNamespaceLabels = 500

// NewMetrics registers the gateway's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		tunnels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_gateway_connections_total",
			Help: "Tunnels asked of this gateway, by source namespace, destination host, decision (allow, deny) and reason (the policy's, or token_refused, unknown_pod, wrong_gateway, private_address, ...).",
		}, []string{"source_namespace", "host", "decision", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_gateway_bytes_total",
			Help: "Bytes carried by this gateway's tunnels, by source namespace, destination host and direction seen from the app (sent, received).",
		}, []string{"source_namespace", "host", "direction"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_gateway_upstream_errors_total",
			Help: "Allowed tunnels whose destination could not be reached, by source namespace, host and reason (dns, dns_not_found, connect, timeout).",
		}, []string{"source_namespace", "host", "reason"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egress_gateway_active_tunnels",
			Help: "Tunnels open through this gateway now.",
		}),
		namespaces: telemetry.NewBound(maxNamespaceLabels),
	}
	for _, c := range []prometheus.Collector{m.tunnels, m.bytes, m.upstreamErrors, m.active} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering gateway metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) namespace(ns string) string {
	if ns == "" {
		return ""
	}
	return m.namespaces.Label(ns)
}
