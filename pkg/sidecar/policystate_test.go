package sidecar

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
)

func TestPolicyStateSkipsAndCountsInvalidTargets(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
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
	if got := testutil.ToFloat64(m.policyInvalid); got != 2 {
		t.Errorf("egress_policy_invalid_targets = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.policyTargets); got != 1 {
		t.Errorf("egress_policy_targets = %v, want 1", got)
	}
	if d := state.Matcher().Decide("other.example.test", netip.Addr{}, 443); d.Action != policy.Deny {
		t.Errorf("an invalid target widened access: %+v", d)
	}
}
