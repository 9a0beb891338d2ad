package scenario

import (
	"fmt"
	"math"
	"slices"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/report"
)

// targetConnections is the connection count the origination targets are stated at.
const targetConnections = 64

// Targets evaluates the targets on the scenarios that ran, met or not.
func (b *Bench) Targets() []report.Target {
	var out []report.Target
	add := func(t report.Target) {
		t.Evaluate()
		out = append(out, t)
	}
	r := b.Res

	// Origination: req/s at every connection count measured, CPU per request at targetConnections.
	for _, n := range b.Cfg.Connections {
		side, best := key(scOrigination, mRPS, conns(n), contender.Sidecar), key(scOrigination, mRPS, conns(n), contender.NginxBest)
		if r.Get(side) == nil {
			continue
		}
		add(report.Target{
			Name:  fmt.Sprintf("origination req/s at %s, sidecar ÷ nginx-best", connsText(n)),
			Value: r.RoundRatio(side, best), Op: ">=", Threshold: 1, Unit: "x",
			Detail: fmt.Sprintf("%s vs %s req/s", report.Num(r.Median(side)), report.Num(r.Median(best))),
		})
		if n != targetConnections {
			continue
		}
		if poc := key(scOrigination, mRPS, conns(n), contender.NginxPoC); r.Get(poc) != nil {
			add(report.Target{
				Name:  fmt.Sprintf("origination req/s at %s, sidecar ÷ nginx-poc", connsText(n)),
				Value: r.RoundRatio(side, poc), Op: ">=", Threshold: 5, Unit: "x",
				Detail: fmt.Sprintf("%s vs %s req/s", report.Num(r.Median(side)), report.Num(r.Median(poc))),
			})
		}
		sideCPU, bestCPU := key(scOrigination, mCPU10k, conns(n), contender.Sidecar), key(scOrigination, mCPU10k, conns(n), contender.NginxBest)
		if r.Get(sideCPU) != nil && r.Get(bestCPU) != nil {
			add(report.Target{
				Name:  fmt.Sprintf("proxy CPU per 10,000 origination requests at %s, sidecar ÷ nginx-best", connsText(n)),
				Value: r.RoundRatio(sideCPU, bestCPU), Op: "<=", Threshold: 1, Unit: "x",
				Detail: fmt.Sprintf("%s vs %s s", report.Num(r.Median(sideCPU)), report.Num(r.Median(bestCPU))),
			})
		}
	}

	params := fmt.Sprintf("rate=%.0f", b.Cfg.OpenLoop.Rate)
	for _, lat := range []struct {
		metric, name string
		threshold    float64
	}{{mAddedP50, "p50", 1.2}, {mAddedP99, "p99", 1.5}} {
		side, best := key(scOrigination, lat.metric, params, contender.Sidecar), key(scOrigination, lat.metric, params, contender.NginxBest)
		if r.Get(side) == nil {
			continue
		}
		add(report.Target{
			Name:  fmt.Sprintf("added %s latency over direct at %.0f req/s, sidecar ÷ nginx-best", lat.name, b.Cfg.OpenLoop.Rate),
			Value: r.RoundRatio(side, best), Op: "<=", Threshold: lat.threshold, Unit: "x",
			Detail: fmt.Sprintf("+%s ms vs +%s ms", report.Num(r.Median(side)), report.Num(r.Median(best))),
		})
	}

	size := fmt.Sprintf("bytes=%d", b.Cfg.Download)
	if side := key(scPassthrough, mMBps, size, contender.Sidecar); r.Get(side) != nil {
		hap := key(scPassthrough, mMBps, size, contender.HAProxy)
		t := report.Target{
			Name:  "passthrough MB/s, sidecar ÷ haproxy, with splice in use",
			Value: r.RoundRatio(side, hap), Op: ">=", Threshold: 1, Unit: "x",
			Detail: fmt.Sprintf("%s vs %s MB/s", report.Num(r.Median(side)), report.Num(r.Median(hap))),
		}
		splices := int64(-1)
		if calls, ok := r.Extra["passthrough_syscalls"].(map[string]map[string]int64); ok {
			splices = calls[contender.Sidecar]["splice"]
			t.Detail += fmt.Sprintf("; sidecar made %d splice calls", splices)
		}
		add(t)
		if splices == 0 {
			out[len(out)-1].Met = false // fast, but not by splicing
		}
	}
	small := fmt.Sprintf("connections=%d", b.Cfg.PassthroughConnections)
	if side := key(scPassthrough, mRPS, small, contender.Sidecar); r.Get(side) != nil {
		hap := key(scPassthrough, mRPS, small, contender.HAProxy)
		add(report.Target{
			Name:  "passthrough small TLS req/s, sidecar ÷ haproxy",
			Value: r.RoundRatio(side, hap), Op: ">=", Threshold: 1, Unit: "x",
			Detail: fmt.Sprintf("%s vs %s req/s", report.Num(r.Median(side)), report.Num(r.Median(hap))),
		})
	}

	for i, mm := range b.Cfg.Memory {
		mode := mm.Mode
		idleKey := key(scMemory, mRSS, "mode="+mode+" idle", contender.Sidecar)
		if r.Get(idleKey) == nil {
			continue
		}
		idle := r.Median(idleKey)
		if i == 0 {
			add(report.Target{Name: "sidecar idle RSS", Value: idle, Op: "<=", Threshold: 15, Unit: " MB"})
		}
		worst, at := math.NaN(), 0
		for _, n := range mm.Conns {
			per := (r.Median(key(scMemory, mRSS, fmt.Sprintf("mode=%s held=%d", mode, n), contender.Sidecar)) - idle) / float64(n) * 1000
			if math.IsNaN(worst) || per > worst {
				worst, at = per, n
			}
		}
		what := map[string]string{"http": "HTTP keep-alive", "tls": "TLS passthrough"}[mode]
		limit := map[string]float64{"http": 10, "tls": 8}[mode]
		add(report.Target{
			Name:  fmt.Sprintf("sidecar RSS more per 1,000 idle %s connections", what),
			Value: worst, Op: "<=", Threshold: limit, Unit: " MB", Detail: fmt.Sprintf("worst of the counts held, at %d", at),
		})
	}

	if len(b.Cfg.PolicyTargets) > 0 {
		lo, hi := b.Cfg.PolicyTargets[0], b.Cfg.PolicyTargets[len(b.Cfg.PolicyTargets)-1]
		small, large := key(scPolicy, mRPS, targets(lo), contender.Sidecar), key(scPolicy, mRPS, targets(hi), contender.Sidecar)
		if r.Get(large) != nil {
			ratio := r.RoundRatio(large, small)
			add(report.Target{
				Name:  fmt.Sprintf("req/s with %d targets ÷ with %d target (a cost of at most 3%%)", hi, lo),
				Value: ratio, Op: ">=", Threshold: 0.97, Unit: "x",
				Detail: fmt.Sprintf("cost %s%%: %s vs %s req/s", report.Num((1-ratio)*100), report.Num(r.Median(large)), report.Num(r.Median(small))),
			})
		}
		if routed := key(scPolicy, mRPS, routes(b.Cfg.PolicyRoutes), contender.Sidecar); r.Get(routed) != nil {
			ratio := r.RoundRatio(routed, small)
			add(report.Target{
				Name:  fmt.Sprintf("origination req/s on a host with %d routes ÷ host-only rules (a cost of at most 5%%)", b.Cfg.PolicyRoutes),
				Value: ratio, Op: ">=", Threshold: 0.95, Unit: "x",
				Detail: fmt.Sprintf("cost %s%%: %s vs %s req/s", report.Num((1-ratio)*100), report.Num(r.Median(routed)), report.Num(r.Median(small))),
			})
		}
	}
	reload := targets(b.Cfg.ReloadTargets)
	var worst float64
	found := false
	for _, now := range []string{"allowed", "denied"} {
		if sr := r.Get(key(scReload, mEnforceMs, reload+" now="+now, contender.Sidecar)); sr != nil {
			found = true
			worst = max(worst, slices.Max(sr.Samples))
		}
	}
	if found {
		add(report.Target{
			Name:  fmt.Sprintf("reload of %d targets, rules changed → enforced (slowest)", b.Cfg.ReloadTargets),
			Value: worst, Op: "<", Threshold: 200, Unit: " ms",
		})
	}
	return out
}
