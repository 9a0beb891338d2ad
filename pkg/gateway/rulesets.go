package gateway

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
)

// RuleSets holds every EgressRuleSet of the cluster (a policy.Sink fed by a cluster-wide watch) and
// compiles, per source pod, the Matcher of that pod's own rule sets: those of its namespace and of the
// global namespace that select its labels, exactly as its sidecar selects them.
type RuleSets struct {
	GlobalNamespace string
	// OnFailure, when set, hears of a failed sync (the last good rule sets stay in force).
	OnFailure func(error)

	mu       sync.Mutex
	loaded   bool
	byNS     map[string][]v1alpha1.EgressRuleSet
	matchers map[string]*policy.Matcher // by namespace and labels; emptied on every update
}

// maxMatchers bounds the compiled-matcher cache; past it, the cache starts over.
const maxMatchers = 10_000

var _ policy.Sink = (*RuleSets)(nil)

// Update replaces the rule sets.
func (r *RuleSets) Update(sets []v1alpha1.EgressRuleSet) {
	byNS := map[string][]v1alpha1.EgressRuleSet{}
	for _, s := range sets {
		byNS[s.Namespace] = append(byNS[s.Namespace], s)
	}
	r.mu.Lock()
	r.loaded, r.byNS, r.matchers = true, byNS, map[string]*policy.Matcher{}
	r.mu.Unlock()
}

// Failed keeps the last good rule sets.
func (r *RuleSets) Failed(err error) {
	if r.OnFailure != nil {
		r.OnFailure(err)
	}
}

// Loaded reports whether the first sync has been delivered.
func (r *RuleSets) Loaded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded
}

// Matcher returns the compiled policy of a pod of namespace with labels; nil (deny everything) before the
// first sync.
func (r *RuleSets) Matcher(namespace string, labels map[string]string) *policy.Matcher {
	key := matcherKey(namespace, labels)
	r.mu.Lock()
	if !r.loaded {
		r.mu.Unlock()
		return nil
	}
	if m, ok := r.matchers[key]; ok {
		r.mu.Unlock()
		return m
	}
	candidates := slices.Concat(r.byNS[namespace], r.byNS[r.GlobalNamespace])
	if namespace == r.GlobalNamespace {
		candidates = r.byNS[namespace]
	}
	r.mu.Unlock()

	selected, _ := policy.Select(candidates, policy.Pod{Namespace: namespace, Labels: labels}, r.GlobalNamespace)
	m, _ := policy.Compile(selected)

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.matchers) >= maxMatchers {
		r.matchers = map[string]*policy.Matcher{}
	}
	r.matchers[key] = m
	return m
}

// matcherKey is namespace and the sorted labels, which is all that selection depends on.
func matcherKey(namespace string, labels map[string]string) string {
	var b strings.Builder
	b.WriteString(namespace)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}
