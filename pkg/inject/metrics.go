package inject

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of an admission request, the "result" label of egress_webhook_injections_total.
const (
	ResultInjected = "injected"
	ResultSkipped  = "skipped"
	ResultRejected = "rejected"
	ResultError    = "error"
)

// Metrics counts admission outcomes. A nil *Metrics counts nothing.
type Metrics struct {
	injections *prometheus.CounterVec
}

// NewMetrics registers the webhook's injection metrics with reg, a registry of the caller's (never a global
// one); registering them twice with one registry is an error.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		injections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_webhook_injections_total",
			Help: "Pod admission requests by result (injected, skipped, rejected, error) and reason code. Dry-run requests are not counted.",
		}, []string{"result", "reason"}),
	}
	if err := reg.Register(m.injections); err != nil {
		return nil, fmt.Errorf("registering egress_webhook_injections_total: %w", err)
	}
	return m, nil
}

func (m *Metrics) observe(result string, reason Reason) {
	if m == nil {
		return
	}
	m.injections.WithLabelValues(result, string(reason)).Inc()
}
