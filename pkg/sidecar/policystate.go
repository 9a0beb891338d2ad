package sidecar

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/telemetry"
)

// policyState is the policy.Sink of the sidecar: it selects the rule sets that apply to the pod, compiles
// them and publishes the Matcher behind an atomic pointer. Connections and requests load the pointer when
// they are decided, so a reload affects what is decided next and never what is already established. Until
// the first successful Update the pointer is nil, which denies everything (reason not_ready).
type policyState struct {
	pod             policy.Pod
	globalNamespace string
	log             *slog.Logger
	metrics         *telemetry.Metrics
	now             func() time.Time
	updates         chan struct{} // signalled after each new Matcher is published

	matcher atomic.Pointer[policy.Matcher]
	loaded  chan struct{}
	once    atomic.Bool

	// mu serialises selection: the source's updates and label changes both re-select from the last sets.
	mu       sync.Mutex
	lastSets []v1alpha1.EgressRuleSet
	haveSets bool
}

func newPolicyState(pod policy.Pod, globalNamespace string, log *slog.Logger, m *telemetry.Metrics) *policyState {
	return &policyState{
		pod: pod, globalNamespace: globalNamespace, log: log, metrics: m, now: time.Now,
		loaded: make(chan struct{}), updates: make(chan struct{}, 1),
	}
}

// Updates returns a channel that receives after a new policy was published (one signal for a burst).
func (p *policyState) Updates() <-chan struct{} { return p.updates }

// Matcher returns the current compiled policy; nil before the first load.
func (p *policyState) Matcher() *policy.Matcher { return p.matcher.Load() }

// Loaded returns a channel closed after the first successful load.
func (p *policyState) Loaded() <-chan struct{} { return p.loaded }

// Update implements policy.Sink.
func (p *policyState) Update(sets []v1alpha1.EgressRuleSet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastSets, p.haveSets = sets, true
	p.publish(sets)
}

// SetLabels replaces the pod's labels (after a relabel) and, once rule sets have been loaded, selects and
// compiles them again for the new labels.
func (p *policyState) SetLabels(labels map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pod.Labels = labels
	p.log.Info("pod labels changed", "labels", labels)
	if p.haveSets {
		p.publish(p.lastSets)
	}
}

// publish selects the sets for the pod, compiles them and makes the result the policy in force.
func (p *policyState) publish(sets []v1alpha1.EgressRuleSet) {
	selected, errs := policy.Select(sets, p.pod, p.globalNamespace)
	for _, err := range errs {
		p.log.Error("rule set skipped", "error", err)
	}
	m, problems := policy.Compile(selected)
	for _, problem := range problems {
		p.log.Error("invalid target skipped", "rule_set", problem.RuleSet, "index", problem.Index,
			"target", problem.Target, "error", problem.Err)
	}
	p.matcher.Store(m)
	p.metrics.PolicyLoaded(m.Targets(), len(problems), p.now())
	p.log.Info("policy loaded", "rule_sets", len(sets), "selected", len(selected), "targets", m.Targets(),
		"audit", m.Audit())
	if p.once.CompareAndSwap(false, true) {
		close(p.loaded)
	}
	select {
	case p.updates <- struct{}{}:
	default:
	}
}

// Failed implements policy.Sink: the last good policy stays in force.
func (p *policyState) Failed(err error) {
	p.metrics.PolicyFailed()
	p.log.Error("policy load failed; keeping the last good policy", "error", err)
}
