package sidecar

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"egress.io/egress/pkg/sidecar/record"
)

// adminHandler serves /metrics, /ready, /live and /debug/decisions. ready returns "" when the sidecar is
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
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(reporter.Recent())
	})
	return mux
}
