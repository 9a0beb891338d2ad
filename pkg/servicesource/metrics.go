package servicesource

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the source's figures on the sidecar's registry. A nil *Metrics records nothing.
type Metrics struct {
	streaming prometheus.Gauge
	connects  *prometheus.CounterVec
	snapshots prometheus.Counter
	stale     *staleGauge
}

// staleGauge reports the staleness of whichever Source is bound (one per sidecar).
type staleGauge struct{ src *Source }

// NewMetrics registers egress_policy_service_connected, egress_policy_service_connects_total{result},
// egress_policy_snapshots_total and egress_policy_stale_seconds on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		streaming: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egress_policy_service_connected",
			Help: "1 while the policy stream from the policy service is open, else 0.",
		}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_policy_service_connects_total",
			Help: "Attempts to open the policy stream, by result: streamed, refused (401/403), unavailable (503), failed (network, TLS).",
		}, []string{"result"}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "egress_policy_snapshots_total", Help: "Policy snapshots received from the policy service.",
		}),
		stale: &staleGauge{},
	}
	staleness := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "egress_policy_stale_seconds",
		Help: "How long the policy in force has gone unconfirmed by the policy service: 0 while the stream is open (or before the first snapshot), else the time since the service was last heard from.",
	}, func() float64 {
		if m.stale.src == nil {
			return 0
		}
		return m.stale.src.Status().Stale.Seconds()
	})
	for _, c := range []prometheus.Collector{m.streaming, m.connects, m.snapshots, staleness} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) bind(s *Source) {
	if m != nil {
		m.stale.src = s
	}
}

func (m *Metrics) connectResult(err error) {
	if m == nil {
		return
	}
	result := "streamed"
	var se *StatusError
	switch {
	case err == nil:
	case errors.As(err, &se) && (se.Code == 401 || se.Code == 403):
		result = "refused"
	case errors.As(err, &se) && se.Code == 503:
		result = "unavailable"
	default:
		result = "failed"
	}
	m.connects.WithLabelValues(result).Inc()
}

func (m *Metrics) setStreaming(on bool) {
	if m == nil {
		return
	}
	if on {
		m.streaming.Set(1)
	} else {
		m.streaming.Set(0)
	}
}

func (m *Metrics) snapshot() {
	if m != nil {
		m.snapshots.Inc()
	}
}
