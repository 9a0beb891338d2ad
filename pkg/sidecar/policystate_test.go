package sidecar

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/internal/metricstest"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/telemetry"
)

func TestPolicyStateSkipsAndCountsInvalidTargets(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := telemetry.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	state := newPolicyState(policy.Pod{Namespace: "shop"}, "egress-system", slog.New(slog.DiscardHandler), m)
	if d := state.Matcher().Decide("api.example.test", netip.Addr{}, 443); d.Action != policy.Deny || d.Reason != policy.ReasonNotReady {
		t.Fatalf("before the first load: %+v", d)
	}
	// Invalid targets can reach the sidecar from an API server that lacks the CRD's validation.
	state.Update([]v1alpha1.EgressRuleSet{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deps"},
		Spec:       v1alpha1.EgressRuleSetSpec{Targets: []v1alpha1.Target{"api.example.test:443", "*:*", "*.:443"}},
	}})
	if got := metricstest.Value(t, reg, "egress_policy_invalid_targets"); got != 2 {
		t.Errorf("egress_policy_invalid_targets = %v, want 2", got)
	}
	if got := metricstest.Value(t, reg, "egress_policy_targets"); got != 1 {
		t.Errorf("egress_policy_targets = %v, want 1", got)
	}
	if d := state.Matcher().Decide("other.example.test", netip.Addr{}, 443); d.Action != policy.Deny {
		t.Errorf("an invalid target widened access: %+v", d)
	}
}

func TestPolicyStateReselectsOnRelabel(t *testing.T) {
	m, err := telemetry.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	pod := policy.Pod{Namespace: "shop", Labels: map[string]string{"app": "web"}}
	state := newPolicyState(pod, "egress-system", slog.New(slog.DiscardHandler), m)
	state.SetLabels(map[string]string{"app": "web", "tier": "x"}) // before any load: nothing to select yet
	if state.Matcher() != nil {
		t.Fatal("a relabel before the first load published a policy")
	}
	state.Update([]v1alpha1.EgressRuleSet{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"},
		Spec: v1alpha1.EgressRuleSetSpec{
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
			Targets:     []v1alpha1.Target{"api.example.test:443"},
		},
	}})
	decide := func() policy.Action { return state.Matcher().Decide("api.example.test", netip.Addr{}, 443).Action }
	if decide() != policy.Deny {
		t.Fatal("the web pod is allowed by the checkout rule set")
	}
	state.SetLabels(map[string]string{"app": "checkout"})
	if decide() != policy.Allow {
		t.Fatal("after relabelling to app=checkout the rule set does not apply")
	}
	state.SetLabels(map[string]string{"app": "web"})
	if decide() != policy.Deny {
		t.Fatal("after relabelling back the rule set still applies")
	}
}
