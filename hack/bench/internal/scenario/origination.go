package scenario

import (
	"context"
	"fmt"
	"time"

	"egress.io/egress/hack/bench/internal/contender"
)

// Scenario and metric names of the origination benchmark.
const (
	scOrigination = "origination"
	mRPS          = "requests_per_second"
	mCPU10k       = "cpu_seconds_per_10k_requests"
	mP50          = "latency_p50_ms"
	mP99          = "latency_p99_ms"
	mP999         = "latency_p999_ms"
	mAddedP50     = "added_latency_p50_ms"
	mAddedP99     = "added_latency_p99_ms"
)

// originationContenders in the order each round visits them.
func (b *Bench) originationContenders() []*contender.Contender {
	return []*contender.Contender{b.sidecar, b.nginxBest, b.nginxPoC, b.direct}
}

// Origination measures the app's plaintext request to NAME.egress.local turned into verified TLS to the
// origin: requests/s at each connection count (wrk, keep-alive from the app), the proxy's CPU per 10k
// requests, and latency at a fixed rate (open loop) with what each proxy adds over direct TLS.
func (b *Bench) Origination(ctx context.Context) error {
	for _, conns := range b.Cfg.Connections {
		params := fmt.Sprintf("connections=%d", conns)
		for round := range b.Cfg.Rounds {
			for _, c := range b.originationContenders() {
				if err := ctx.Err(); err != nil {
					return err
				}
				r, err := b.runWrk(ctx, c, originationRun(c, conns))
				if err != nil {
					return fmt.Errorf("origination %s %s: %w", c.Name, params, err)
				}
				b.Res.Add(key(scOrigination, mRPS, params, c.Name), "req/s", r.GoodRPS())
				if c.Proxied() {
					b.Res.Add(key(scOrigination, mCPU10k, params, c.Name), "s", r.CPUPer10k())
				}
				b.logf("origination %s round %d/%d %-10s %8.0f req/s  cpu %.3fs/10k  errors %d",
					params, round+1, b.Cfg.Rounds, c.Name, r.GoodRPS(), r.CPUPer10k(), r.Errors())
			}
		}
	}

	if err := b.originationSyscalls(ctx); err != nil {
		return err
	}

	params := fmt.Sprintf("rate=%.0f", b.Cfg.OpenLoop.Rate)
	for round := range b.Cfg.Rounds {
		p50 := map[string]float64{}
		p99 := map[string]float64{}
		for _, c := range b.originationContenders() {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := b.runOpenLoop(ctx, c)
			if err != nil {
				return fmt.Errorf("origination open loop %s: %w", c.Name, err)
			}
			p50[c.Name], p99[c.Name] = ms(r.Summary.P50), ms(r.Summary.P99)
			b.Res.Add(key(scOrigination, mP50, params, c.Name), "ms", p50[c.Name])
			b.Res.Add(key(scOrigination, mP99, params, c.Name), "ms", p99[c.Name])
			b.Res.Add(key(scOrigination, mP999, params, c.Name), "ms", ms(r.Summary.P999))
			b.logf("origination open loop %s round %d/%d %-10s p50 %.3fms p99 %.3fms p99.9 %.3fms (%d ok, %d failed, %d dropped)",
				params, round+1, b.Cfg.Rounds, c.Name, p50[c.Name], p99[c.Name], ms(r.Summary.P999), r.Completed, r.Failed, r.Dropped)
		}
		for _, c := range b.originationContenders() {
			if c.Proxied() {
				b.Res.Add(key(scOrigination, mAddedP50, params, c.Name), "ms", p50[c.Name]-p50[contender.Direct])
				b.Res.Add(key(scOrigination, mAddedP99, params, c.Name), "ms", p99[c.Name]-p99[contender.Direct])
			}
		}
	}
	return nil
}

// originationSyscalls counts the system calls per origination request of the sidecar and nginx-best under
// strace (64 connections, 3 s; strace slows both, so only the counts are kept).
func (b *Bench) originationSyscalls(ctx context.Context) error {
	perRequest := map[string]map[string]float64{}
	for _, c := range []*contender.Contender{b.sidecar, b.nginxBest} {
		var requests int64
		counts, err := b.straceDuring(c, func() error {
			run := originationRun(c, 64)
			run.Duration = 3 * time.Second
			r, err := b.wrkOnce(ctx, c, run)
			requests = r.Requests
			return err
		})
		if err != nil {
			return fmt.Errorf("counting system calls of %s: %w", c.Name, err)
		}
		if requests == 0 {
			return fmt.Errorf("counting system calls of %s: wrk completed no request", c.Name)
		}
		per := map[string]float64{}
		for name, n := range counts {
			per[name] = float64(n) / float64(requests)
		}
		perRequest[c.Name] = per
		b.logf("origination under strace %-10s %d requests, %.2f system calls per request", c.Name, requests, sum(per))
	}
	b.Res.Extra["origination_syscalls_per_request"] = perRequest
	return nil
}

// sum adds the values of m.
func sum(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}
