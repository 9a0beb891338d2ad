package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/hack/bench/internal/report"
	"egress.io/egress/hack/bench/internal/scale"
)

// results is everything a run measured; it is written as JSON next to the Markdown.
type results struct {
	Started   time.Time       `json:"started"`
	Finished  time.Time       `json:"finished"`
	Setup     map[string]any  `json:"setup"`
	Service   []size          `json:"service"` // [0] is N = 0
	Direct    []size          `json:"direct"`  // [0] is N = 0
	Reconnect *reconnect      `json:"reconnect,omitempty"`
	Targets   []report.Target `json:"targets"`
}

// size is what was measured with N sidecars connected.
type size struct {
	N                 int           `json:"n"`
	APIServer         figures       `json:"apiServer"`
	APIServerIdleCPU  float64       `json:"apiServerIdleCPU"` // CPU seconds per second over a quiet 10 s
	Replicas          []figures     `json:"replicas,omitempty"`
	ServiceRSS        float64       `json:"serviceRSS"`
	ServiceGoroutines float64       `json:"serviceGoroutines"`
	Streams           float64       `json:"streams"`
	ServiceIdleCPU    float64       `json:"serviceIdleCPU"`
	ClientRSS         float64       `json:"clientRSS"`
	Sync              scale.Reply   `json:"sync"`
	Global            []propagation `json:"global"`
	Namespace         []propagation `json:"namespace"`
}

// propagation is one change reaching the sidecars concerned.
type propagation struct {
	Latency      scale.Summary `json:"latency"`
	Count        int           `json:"count"`
	Missing      int           `json:"missing"`
	APIServerCPU float64       `json:"apiServerCPU"` // seconds, from the request to the last arrival
	ServiceCPU   float64       `json:"serviceCPU"`
}

// reconnect is the mass reconnect after a replica was killed.
type reconnect struct {
	N                int           `json:"n"`
	Affected         int           `json:"affected"`
	Reconnected      int           `json:"reconnected"`
	Missing          int           `json:"missing"`
	Latency          scale.Summary `json:"latency"`
	Updates          int           `json:"updates"`
	VersionChanged   int           `json:"versionChanged"`
	SurvivorBaseline figures       `json:"survivorBaseline"`
	SurvivorBefore   figures       `json:"survivorBefore"`
	SurvivorAfter    figures       `json:"survivorAfter"`
}

func medianOf(ps []propagation, f func(propagation) float64) float64 {
	var xs []float64
	for _, p := range ps {
		xs = append(xs, f(p))
	}
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func maxOf(ps []propagation, f func(propagation) float64) float64 {
	m := math.NaN()
	for _, p := range ps {
		if v := f(p); math.IsNaN(m) || v > m {
			m = v
		}
	}
	return m
}

func mb(v float64) string { return report.Num(v / 1e6) }

func trio(ps []propagation) string {
	if len(ps) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", report.Num(medianOf(ps, func(p propagation) float64 { return p.Latency.P50 })),
		report.Num(medianOf(ps, func(p propagation) float64 { return p.Latency.P99 })),
		report.Num(maxOf(ps, func(p propagation) float64 { return p.Latency.Max })))
}

func bySize(list []size, n int) (size, bool) {
	for _, s := range list {
		if s.N == n {
			return s, true
		}
	}
	return size{}, false
}

// tables turns the results into Markdown tables.
func (b *bench) tables() []report.Table {
	r := &b.results
	var ns []int
	for _, s := range append(slices.Clone(r.Service), r.Direct...) {
		if !slices.Contains(ns, s.N) {
			ns = append(ns, s.N)
		}
	}
	slices.Sort(ns)
	api := report.Table{
		Title:  "API server with N sidecars connected (RSS MB, goroutines; after a quiet 10 s)",
		Header: []string{"sidecars", "policy service: RSS", "goroutines", "idle CPU (ms/s)", "direct watch: RSS", "goroutines", "idle CPU (ms/s)"},
	}
	for _, n := range ns {
		row := []string{strconv.Itoa(n)}
		for _, list := range [][]size{r.Service, r.Direct} {
			if s, ok := bySize(list, n); ok {
				row = append(row, mb(s.APIServer.RSS), report.Num(s.APIServer.Goroutines), report.Num(s.APIServerIdleCPU*1000))
			} else {
				row = append(row, "-", "-", "-")
			}
		}
		api.Rows = append(api.Rows, row)
	}
	api.Notes = []string{"Both phases ran against the same API server, the policy service's first; each has its own row 0 measured right before its sidecars connected. The cluster holds every pod of the largest run from the start (pods exist whatever delivers the policy), so row 0 includes them."}

	svc := report.Table{
		Title:  "The policy service: both replicas together",
		Header: []string{"sidecars", "streams", "RSS MB", "MB per 1,000 above 0", "heap / stacks MB", "goroutines", "idle CPU (ms/s)", "CPU per global change (ms)", "per 1,000 (ms)", "client process RSS MB"},
	}
	base := r.Service[0]
	for _, s := range r.Service {
		per := "-"
		if s.N > 0 {
			per = report.Num((s.ServiceRSS - base.ServiceRSS) / 1e6 / (float64(s.N) / 1000))
		}
		cpu := medianOf(s.Global, func(p propagation) float64 { return p.ServiceCPU })
		perCPU := "-"
		if s.N > 0 {
			perCPU = report.Num(cpu * 1000 / (float64(s.N) / 1000))
		}
		heap, stacks := 0.0, 0.0
		for _, f := range s.Replicas {
			heap, stacks = heap+f.Heap, stacks+f.Stacks
		}
		svc.Rows = append(svc.Rows, []string{strconv.Itoa(s.N), report.Num(s.Streams), mb(s.ServiceRSS), per, mb(heap) + " / " + mb(stacks), report.Num(s.ServiceGoroutines),
			report.Num(s.ServiceIdleCPU * 1000), report.Num(cpu * 1000), perCPU, mb(s.ClientRSS)})
	}

	prop := report.Table{
		Title: fmt.Sprintf("A change reaches every sidecar concerned: ms from the API request to arrival, p50 / p99 / max (median of %d rounds; max of all)", b.opts.rounds),
		Header: []string{"sidecars", "global change, policy service", "namespace change, policy service", "global change, direct watch", "namespace change, direct watch",
			"API server CPU per global change (ms): service", "direct watch"},
	}
	for _, n := range ns {
		if n == 0 {
			continue
		}
		s, _ := bySize(r.Service, n)
		d, _ := bySize(r.Direct, n)
		apiCPU := func(list []propagation) string {
			if len(list) == 0 {
				return "-"
			}
			return report.Num(medianOf(list, func(p propagation) float64 { return p.APIServerCPU }) * 1000)
		}
		prop.Rows = append(prop.Rows, []string{strconv.Itoa(n), trio(s.Global), trio(s.Namespace), trio(d.Global), trio(d.Namespace), apiCPU(s.Global), apiCPU(d.Global)})
	}
	prop.Notes = []string{fmt.Sprintf("A namespace change concerns the sidecars of one namespace (N/%d). Arrival is when the sidecar's sink has the new rule set; the simulated sidecars, the service and the API server share the 2 cores.", b.opts.namespaces)}

	sync := report.Table{
		Title:  "Initial sync: the sidecars added at each step start together; ms from a sidecar's start to its first policy",
		Header: []string{"sidecars", "started together", "service p50", "p99", "max", "all synced after (ms)", "direct watch p50", "p99", "max"},
	}
	prev := 0
	for _, n := range ns {
		if n == 0 {
			continue
		}
		s, okS := bySize(r.Service, n)
		d, okD := bySize(r.Direct, n)
		row := []string{strconv.Itoa(n), strconv.Itoa(n - prev)}
		if okS {
			row = append(row, report.Num(s.Sync.Latency.P50), report.Num(s.Sync.Latency.P99), report.Num(s.Sync.Latency.Max), report.Num(float64(s.Sync.Wall)))
		} else {
			row = append(row, "-", "-", "-", "-")
		}
		if okD {
			row = append(row, report.Num(d.Sync.Latency.P50), report.Num(d.Sync.Latency.P99), report.Num(d.Sync.Latency.Max))
		} else {
			row = append(row, "-", "-", "-")
		}
		sync.Rows = append(sync.Rows, row)
		prev = n
	}
	sync.Notes = []string{"Both modes grow through their own sizes; where the direct watch skips a size, its \"started together\" differs (see the JSON)."}
	tables := []report.Table{api, svc, prop, sync}
	if rc := r.Reconnect; rc != nil {
		tables = append(tables, report.Table{
			Title: "A replica killed (SIGKILL) with every sidecar connected: ms from the kill until each of its sidecars streams from the other replica",
			Header: []string{"sidecars", "on the killed replica", "reconnected", "p50", "p99", "max", "policy updates meanwhile", "versions changed",
				"survivor RSS MB: before / after", "MB per 1,000 streams", "heap / stacks MB after"},
			Rows: [][]string{{strconv.Itoa(rc.N), strconv.Itoa(rc.Affected), strconv.Itoa(rc.Reconnected), report.Num(rc.Latency.P50), report.Num(rc.Latency.P99),
				report.Num(rc.Latency.Max), strconv.Itoa(rc.Updates), strconv.Itoa(rc.VersionChanged),
				mb(rc.SurvivorBefore.RSS) + " / " + mb(rc.SurvivorAfter.RSS),
				report.Num((rc.SurvivorAfter.RSS - rc.SurvivorBaseline.RSS) / 1e6 / (rc.SurvivorAfter.Streams / 1000)),
				mb(rc.SurvivorAfter.Heap) + " / " + mb(rc.SurvivorAfter.Stacks)}},
			Notes: []string{"The Service drops the dead endpoint 1 s after the kill (as kube-proxy does once the kubelet has seen the container die); until then a reconnect may pick the dead replica, be refused and back off. \"MB per 1,000 streams\" is the survivor's RSS above its own before any sidecar connected, over the streams it then holds."},
		})
	}
	return tables
}

// targets evaluates the targets.
func (b *bench) targets() []report.Target {
	r := &b.results
	var out []report.Target
	if len(r.Service) > 2 {
		first, last := r.Service[1], r.Service[len(r.Service)-1]
		out = append(out,
			report.Target{Name: fmt.Sprintf("API server RSS, %d → %d sidecars (flat within noise: 10%%)", first.N, last.N), Op: "<=", Threshold: 10, Unit: "%",
				Value: (last.APIServer.RSS - first.APIServer.RSS) / first.APIServer.RSS * 100},
			report.Target{Name: fmt.Sprintf("API server goroutines, %d → %d sidecars (flat within noise: 5%%)", first.N, last.N), Op: "<=", Threshold: 5, Unit: "%",
				Value: (last.APIServer.Goroutines - first.APIServer.Goroutines) / first.APIServer.Goroutines * 100})
		out = append(out, report.Target{Name: fmt.Sprintf("a global change reaches %d sidecars, p99 (worst round)", last.N), Op: "<=", Threshold: 1000, Unit: " ms",
			Value: maxOf(last.Global, func(p propagation) float64 { return p.Latency.P99 })})
	}
	if rc := r.Reconnect; rc != nil {
		if rc.SurvivorAfter.Streams > 0 {
			out = append(out, report.Target{Name: "service memory per 1,000 connected sidecars (one replica holding all)", Op: "<=", Threshold: 25, Unit: " MB",
				Value: (rc.SurvivorAfter.RSS - rc.SurvivorBaseline.RSS) / 1e6 / (rc.SurvivorAfter.Streams / 1000)})
		}
		v := rc.Latency.Max
		if rc.Missing > 0 {
			v = math.Inf(1)
		}
		out = append(out,
			report.Target{Name: fmt.Sprintf("a replica killed: all %d of its sidecars reconnected to the other", rc.Affected), Op: "<=", Threshold: 10000, Unit: " ms", Value: v},
			report.Target{Name: "a replica killed: policy updates and version changes meanwhile (no change in enforcement)", Op: "<=", Threshold: 0, Unit: "",
				Value: float64(rc.Updates + rc.VersionChanged)})
	}
	for i := range out {
		out[i].Evaluate()
	}
	return out
}

// report writes the Markdown to w and both files to -out.
func (b *bench) report(w io.Writer) error {
	b.results.Started, b.results.Finished = b.started, time.Now()
	b.results.Targets = b.targets()
	var md strings.Builder
	fmt.Fprintf(&md, "Run of %s, %v (setup %v): %d namespaces, %d rule sets, %d pods; %s.\n\n", b.started.UTC().Format("2006-01-02 15:04 UTC"),
		time.Since(b.started).Round(time.Second), b.setupFor.Round(time.Second),
		b.results.Setup["namespaces"], b.results.Setup["rule_sets"], b.results.Setup["pods"], machineLine(b.results.Setup["machine"]))
	if err := report.WriteMarkdown(&md, b.tables(), b.results.Targets); err != nil {
		return err
	}
	if _, err := io.WriteString(w, md.String()); err != nil {
		return err
	}
	if err := os.MkdirAll(b.opts.out, 0o755); err != nil {
		return err
	}
	stamp := b.started.UTC().Format("20060102-150405")
	data, err := json.MarshalIndent(b.results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.opts.out, "scale-"+stamp+".json"), data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.opts.out, "scale-"+stamp+".md"), []byte(md.String()), 0o644)
}

// machine describes where the run happened.
func machine() map[string]string {
	out := func(name string, args ...string) string {
		b, _ := exec.Command(name, args...).CombinedOutput()
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSpace(line)
	}
	m := map[string]string{"nproc": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version(), "kernel": out("uname", "-r"),
		"commit": out("git", "rev-parse", "--short", "HEAD")}
	if out("git", "status", "--porcelain") != "" {
		m["commit"] += " (uncommitted changes)"
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m["cpu"] = strings.TrimSpace(value)
				break
			}
		}
	}
	return m
}

func machineLine(v any) string {
	m, _ := v.(map[string]string)
	return fmt.Sprintf("%s cores (%s), Linux %s, %s, commit %s", m["nproc"], m["cpu"], m["kernel"], m["go"], m["commit"])
}
