package scenario

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/env"
	"egress.io/egress/hack/bench/internal/rules"
	"egress.io/egress/pkg/policy"
)

// Scenario and metric names of the policy benchmark.
const (
	scPolicy     = "policy"
	mDecisionHit = "decisions_per_second_hit"
	mDecisionMis = "decisions_per_second_miss"
)

// decisionTime is how long one decisions/s measurement loops.
const decisionTime = 500 * time.Millisecond

// Policy measures the cost of large policies: decisions/s of pkg/policy's Matcher (compiled from the
// same rules file the sidecar loads, one goroutine, a hit on the origin and a miss), and the sidecar's
// origination requests/s with 1, 100 and 10,000 targets (rule sets of at most 1,000 targets each), and
// with the origin restricted by PolicyRoutes routes of which the last matches (with retries and a timeout,
// which a request that succeeds at once does not use).
func (b *Bench) Policy(ctx context.Context) error {
	routed, err := rules.RoutedYAML(env.OriginName+":443", b.Cfg.PolicyRoutes, "/small")
	if err != nil {
		return err
	}
	files := map[int]string{}
	for _, n := range b.Cfg.PolicyTargets {
		text, err := rules.YAML([]string{env.OriginName + ":443"}, n)
		if err != nil {
			return err
		}
		files[n] = text
	}
	for round := range b.Cfg.PolicyRounds {
		for _, n := range b.Cfg.PolicyTargets {
			if err := ctx.Err(); err != nil {
				return err
			}
			params := fmt.Sprintf("targets=%d", n)
			hit, miss, err := decisionsPerSecond(files[n])
			if err != nil {
				return err
			}
			b.Res.Add(key(scPolicy, mDecisionHit, params, contender.Sidecar), "/s", hit)
			b.Res.Add(key(scPolicy, mDecisionMis, params, contender.Sidecar), "/s", miss)

			if err := b.loadRules(ctx, files[n], n); err != nil {
				return err
			}
			r, err := b.runWrk(ctx, b.sidecar, originationRun(b.sidecar, b.Cfg.PolicyConnections))
			if err != nil {
				return fmt.Errorf("policy %s: %w", params, err)
			}
			b.Res.Add(key(scPolicy, mRPS, params, contender.Sidecar), "req/s", r.GoodRPS())
			b.Res.Add(key(scPolicy, mCPU10k, params, contender.Sidecar), "s", r.CPUPer10k())
			b.logf("policy %-14s round %d/%d %8.0f req/s  cpu %.3fs/10k  decisions %.2fM/s hit, %.2fM/s miss",
				params, round+1, b.Cfg.PolicyRounds, r.GoodRPS(), r.CPUPer10k(), hit/1e6, miss/1e6)
		}
		if b.Cfg.PolicyRoutes > 0 {
			params := routes(b.Cfg.PolicyRoutes)
			if err := b.loadRules(ctx, routed, 1); err != nil {
				return err
			}
			r, err := b.runWrk(ctx, b.sidecar, originationRun(b.sidecar, b.Cfg.PolicyConnections))
			if err != nil {
				return fmt.Errorf("policy %s: %w", params, err)
			}
			if r.Errors() > 0 {
				return fmt.Errorf("policy %s: %d requests failed: the route does not allow the benchmark's request", params, r.Errors())
			}
			b.Res.Add(key(scPolicy, mRPS, params, contender.Sidecar), "req/s", r.GoodRPS())
			b.Res.Add(key(scPolicy, mCPU10k, params, contender.Sidecar), "s", r.CPUPer10k())
			b.logf("policy %-14s round %d/%d %8.0f req/s  cpu %.3fs/10k", params, round+1, b.Cfg.PolicyRounds, r.GoodRPS(), r.CPUPer10k())
		}
	}
	return b.loadRules(ctx, baseRules(), 1)
}

// decisionsPerSecond compiles the rules file text as the sidecar does and counts Decide calls per
// second for the origin (a hit) and for a name no target allows (a miss).
func decisionsPerSecond(text string) (hit, miss float64, err error) {
	sets, err := policy.LoadRuleSets(strings.NewReader(text), "bench.yaml")
	if err != nil {
		return 0, 0, fmt.Errorf("loading the benchmark's rules: %w", err)
	}
	m, problems := policy.Compile(sets)
	if len(problems) > 0 {
		return 0, 0, fmt.Errorf("compiling the benchmark's rules: %w", problems[0])
	}
	if d := m.Decide(env.OriginName, netip.Addr{}, 443); d.Action != policy.Allow {
		return 0, 0, fmt.Errorf("the benchmark's rules do not allow %s:443: %+v", env.OriginName, d)
	}
	return decideRate(m, env.OriginName), decideRate(m, "nothing.example.org"), nil
}

// decideRate loops m.Decide(name, 443) for decisionTime and returns calls per second.
func decideRate(m *policy.Matcher, name string) float64 {
	var sink policy.Action
	n := 0
	start := time.Now()
	for time.Since(start) < decisionTime {
		for range 1000 {
			sink |= m.Decide(name, netip.Addr{}, 443).Action
		}
		n += 1000
	}
	elapsed := time.Since(start)
	runtime.KeepAlive(sink) // the compiler may not drop the calls as unused
	return float64(n) / elapsed.Seconds()
}

// loadRules replaces the main sidecar's rules file with text and waits until the sidecar reports a
// policy with targets targets.
func (b *Bench) loadRules(ctx context.Context, text string, targets int) error {
	if err := rules.WriteAtomic(b.rules, text); err != nil {
		return err
	}
	return b.sidecar.Proc.WaitUntil(fmt.Sprintf("a policy of %d targets", targets), 30*time.Second, func() bool {
		m, err := b.sidecar.Metrics(ctx)
		return err == nil && m["egress_policy_targets"] == float64(targets)
	})
}
