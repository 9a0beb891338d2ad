package sidecar

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/record"
)

// adminHandler serves /metrics, /ready, /live, /summary and /debug/decisions. ready returns "" when the sidecar is
// ready, else why not; detail, when it says something, is a second line of /ready either way (how current
// the policy is).
func adminHandler(gatherer prometheus.Gatherer, reporter *record.Reporter, ready, detail func() string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		more := ""
		if d := detail(); d != "" {
			more = d + "\n"
		}
		if why := ready(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready: "+why+"\n"+more)
			return
		}
		io.WriteString(w, "ready\n"+more)
	})
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /debug/decisions", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, reporter.Recent())
	})
	mux.HandleFunc("GET /summary", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, reporter.Summary().Report())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// registerReadiness exports what /ready answers as the gauge egress_sidecar_ready (1 ready, 0 not), so that
// an alert sees a sidecar that runs but does not serve.
func registerReadiness(reg prometheus.Registerer, ready func() string) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "egress_sidecar_ready",
		Help: "1 when the sidecar is ready (policy loaded, DNS proxy serving, not draining), else 0: what /ready answers.",
	}, func() float64 {
		if ready() == "" {
			return 1
		}
		return 0
	}))
}

// versionRecorder passes a policy source's deliveries on to the policy state, first recording in the summary
// which rule sets, at which generations, the policy is built from (served on /summary).
type versionRecorder struct {
	policy.Sink
	summary *record.Summary
	now     func() time.Time
}

// Update implements policy.Sink.
func (v versionRecorder) Update(sets []v1alpha1.EgressRuleSet) {
	versions := make([]record.RuleSetVersion, 0, len(sets))
	for _, s := range sets {
		name := s.Name
		if s.Namespace != "" {
			name = s.Namespace + "/" + s.Name
		}
		versions = append(versions, record.RuleSetVersion{Name: name, UID: string(s.UID), Generation: s.Generation})
	}
	v.summary.SetPolicy(versions, v.now())
	v.Sink.Update(sets)
}
