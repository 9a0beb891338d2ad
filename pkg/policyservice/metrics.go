package policyservice

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/pkg/podauth"
)

// Metrics are the policy service's figures, on the registry the caller passes in. A nil *Metrics records
// nothing.
type Metrics struct {
	streams  prometheus.Gauge
	requests *prometheus.CounterVec
	frames   *prometheus.CounterVec
	views    prometheus.Gauge
	publish  prometheus.Histogram
	notified prometheus.Counter
}

// Results of a stream request, the result label of egress_policy_service_requests_total.
const (
	ResultStreamed    = "streamed"
	ResultRefused     = "refused"     // 401: the token
	ResultForbidden   = "forbidden"   // 403: another namespace asked for
	ResultUnavailable = "unavailable" // 503: not synced, TokenReview failed, too many streams, shutting down
	ResultBadRequest  = "bad_request" // TLS handshake or HTTP request failed, not GET /v1/policy
)

// NewMetrics registers the service's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egress_policy_service_streams", Help: "Sidecars streaming their policy from this replica.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_policy_service_requests_total",
			Help: "Stream requests by result: streamed, refused (token), forbidden (namespace), unavailable, bad_request.",
		}, []string{"result"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egress_policy_service_frames_total", Help: "Frames written to streams, by type.",
		}, []string{"type"}),
		views: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egress_policy_service_views", Help: "Namespaces with streams on this replica.",
		}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "egress_policy_service_publish_seconds",
			Help:    "From the first EgressRuleSet change of a burst to its snapshots built and their streams told.",
			Buckets: []float64{.005, .01, .02, .03, .05, .1, .2, .5, 1, 2},
		}),
		notified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "egress_policy_service_notifications_total", Help: "Streams told of a new snapshot.",
		}),
	}
	for _, c := range []prometheus.Collector{m.streams, m.requests, m.frames, m.views, m.publish, m.notified} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// RegisterRuleSets reports the hub's rule-set count as egress_policy_service_rule_sets.
func RegisterRuleSets(reg prometheus.Registerer, h *Hub) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "egress_policy_service_rule_sets", Help: "EgressRuleSets this replica holds from its watch.",
	}, func() float64 { return float64(h.RuleSets()) }))
}

// RegisterReviewer reports the token reviewer's counters.
func RegisterReviewer(reg prometheus.Registerer, r *podauth.Reviewer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "egress_policy_service_token_reviews_total", Help: "TokenReviews made to check sidecars' tokens.",
		}, func() float64 { return float64(r.Stats().Reviews) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "egress_policy_service_token_cache_hits_total", Help: "Token checks answered by the cache.",
		}, func() float64 { return float64(r.Stats().CacheHits) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "egress_policy_service_tokens_cached", Help: "Tokens cached until their expiry.",
		}, func() float64 { return float64(r.Stats().Cached) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metrics) streamOpened() {
	if m != nil {
		m.streams.Inc()
	}
}

func (m *Metrics) streamClosed() {
	if m != nil {
		m.streams.Dec()
	}
}

func (m *Metrics) request(result string) {
	if m != nil {
		m.requests.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) frame(t string) {
	if m != nil {
		m.frames.WithLabelValues(t).Inc()
	}
}

func (m *Metrics) setViews(n int) {
	if m != nil {
		m.views.Set(float64(n))
	}
}

func (m *Metrics) published(d time.Duration, notified int) {
	if m != nil {
		m.publish.Observe(d.Seconds())
		m.notified.Add(float64(notified))
	}
}
