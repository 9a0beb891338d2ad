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

	if slices.Contains(b.Cfg.Connections, targetConnections) && r.Get(key(scOrigination, mRPS, conns(targetConnections), contender.Sidecar)) != nil {
		side := key(scOrigination, mRPS, conns(targetConnections), contender.Sidecar)
		for _, peer := range []struct {
			name      string
			threshold float64
		}{{contender.NginxBest, 1}, {contender.NginxPoC, 5}} {
			other := key(scOrigination, mRPS, conns(targetConnections), peer.name)
			add(report.Target{
				Name:  fmt.Sprintf("origination req/s at %d connections, sidecar ÷ %s", targetConnections, peer.name),
				Value: r.RoundRatio(side, other), Op: ">=", Threshold: peer.threshold, Unit: "x",
				Detail: fmt.Sprintf("%s vs %s req/s", report.Num(r.Median(side)), report.Num(r.Median(other))),
			})
		}
	}

	params := fmt.Sprintf("rate=%.0f", b.Cfg.OpenLoop.Rate)
	if side := key(scOrigination, mAddedP50, params, contender.Sidecar); r.Get(side) != nil {
		best := key(scOrigination, mAddedP50, params, contender.NginxBest)
		add(report.Target{
			Name:  fmt.Sprintf("added p50 latency over direct at %.0f req/s, sidecar ÷ nginx-best", b.Cfg.OpenLoop.Rate),
			Value: r.RoundRatio(side, best), Op: "<=", Threshold: 1.2, Unit: "x",
			Detail: fmt.Sprintf("+%s ms vs +%s ms", report.Num(r.Median(side)), report.Num(r.Median(best))),
		})
	}

	size := fmt.Sprintf("bytes=%d", b.Cfg.Download)
	if side := key(scPassthrough, mMBps, size, contender.Sidecar); r.Get(side) != nil {
		hap := key(scPassthrough, mMBps, size, contender.HAProxy)
		t := report.Target{
			Name:  "passthrough MB/s, sidecar ÷ haproxy, with splice in use",
			Value: r.RoundRatio(side, hap), Op: ">=", Threshold: 0.9, Unit: "x",
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
		add(report.Target{
			Name:  fmt.Sprintf("sidecar RSS more per 1,000 idle %s connections", what),
			Value: worst, Op: "<=", Threshold: 15, Unit: " MB", Detail: fmt.Sprintf("worst of the counts held, at %d", at),
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
	return out
}
