// Package report holds the benchmark's results: series of samples (one per round) keyed by scenario,
// metric, parameters and contender, their medians and per-round ratios, the targets they are held to,
// and tables; it writes them as JSON (machine-readable) and Markdown (docs/benchmarks.md).
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"egress.io/egress/hack/bench/internal/stats"
)

// Key names one series.
type Key struct {
	Scenario  string `json:"scenario"`
	Metric    string `json:"metric"`
	Params    string `json:"params,omitempty"` // e.g. "connections=64"
	Contender string `json:"contender"`
}

// Series is one measurement repeated over rounds.
type Series struct {
	Key
	Unit    string    `json:"unit"`
	Samples []float64 `json:"samples"`
	Median  float64   `json:"median"`
}

// Target is one goal of the issue and whether the run met it.
type Target struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Op        string  `json:"op"` // ">=" or "<="
	Threshold float64 `json:"threshold"`
	Unit      string  `json:"unit"`
	Met       bool    `json:"met"`
	Detail    string  `json:"detail,omitempty"`
}

// Evaluate sets Met from Value, Op and Threshold; a NaN value never meets a target.
func (t *Target) Evaluate() {
	switch t.Op {
	case ">=":
		t.Met = t.Value >= t.Threshold
	case "<=":
		t.Met = t.Value <= t.Threshold
	case "<":
		t.Met = t.Value < t.Threshold
	}
	if math.IsNaN(t.Value) {
		t.Met = false
	}
}

// Results is everything one run measured.
type Results struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Command  string            `json:"command"`
	Quick    bool              `json:"quick"`
	Machine  map[string]string `json:"machine"`
	Settings map[string]any    `json:"settings"`
	Series   []*Series         `json:"series"`
	Targets  []Target          `json:"targets"`
	// Extra holds scenario details that are not series: syscall counts, profiles, errors seen.
	Extra map[string]any `json:"extra,omitempty"`
	Notes []string       `json:"notes,omitempty"`

	index map[Key]*Series
}

// New returns empty results started now.
func New(command string) *Results {
	return &Results{Started: time.Now(), Command: command, Machine: map[string]string{}, Settings: map[string]any{},
		Extra: map[string]any{}, index: map[Key]*Series{}}
}

// Add appends one round's sample to the series k.
func (r *Results) Add(k Key, unit string, v float64) {
	s := r.index[k]
	if s == nil {
		s = &Series{Key: k, Unit: unit}
		r.index[k] = s
		r.Series = append(r.Series, s)
	}
	s.Samples = append(s.Samples, v)
	s.Median = stats.Median(stats.Finite(s.Samples))
}

// Get returns the series k, or nil.
func (r *Results) Get(k Key) *Series { return r.index[k] }

// Median returns the median of series k, NaN when absent.
func (r *Results) Median(k Key) float64 {
	if s := r.index[k]; s != nil {
		return s.Median
	}
	return math.NaN()
}

// RoundRatio returns the median over rounds of a's sample divided by b's sample of the same round: the
// ratio the A B A B alternation makes fair, since both samples of a round saw the same machine load.
func (r *Results) RoundRatio(a, b Key) float64 {
	sa, sb := r.index[a], r.index[b]
	if sa == nil || sb == nil {
		return math.NaN()
	}
	return stats.Median(stats.Finite(stats.Ratios(sa.Samples, sb.Samples)))
}

// Note records a remark for the report.
func (r *Results) Note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// WriteJSON writes the results, indented, to path (creating its directory).
func (r *Results) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}
