package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/internal/controlplane"
	"egress.io/egress/pkg/kubesource"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/webhook"
)

// recorder is a policy.Sink that keeps everything it is told.
type recorder struct {
	mu       sync.Mutex
	updates  [][]v1alpha1.EgressRuleSet
	times    []time.Time
	failures []error
}

func (r *recorder) Update(sets []v1alpha1.EgressRuleSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, sets)
	r.times = append(r.times, time.Now())
}

func (r *recorder) Failed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, err)
}

// last returns the latest update, when it came, and how many updates there were.
func (r *recorder) last() ([]v1alpha1.EgressRuleSet, time.Time, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		return nil, time.Time{}, 0
	}
	return r.updates[len(r.updates)-1], r.times[len(r.times)-1], len(r.updates)
}

func (r *recorder) firstFailure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) == 0 {
		return nil
	}
	return r.failures[0]
}

func (r *recorder) failureCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.failures)
}

func setNames(sets []v1alpha1.EgressRuleSet) string {
	var names []string
	for _, s := range sets {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	return strings.Join(names, ",")
}

// TestKubeSource runs the sidecar's Kubernetes source as a pod's service account (token from the
// TokenRequest API, RBAC from manifests/ and the webhook's bindings) on a control plane of its own, whose
// API server it then stops.
func TestKubeSource(t *testing.T) {
	c := controlplane.StartT(t, controlplane.Options{})
	if err := applyManifests(t, c); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"team", "other"} {
		if err := c.EnsureNamespace(ctx, ns, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.EnsureServiceAccount(ctx, "team", "app"); err != nil {
		t.Fatal(err)
	}
	// No webhook runs here: create the bindings its controller keeps for "team" as an injected namespace.
	access := webhook.RuleSetAccess{GlobalNamespace: policy.DefaultGlobalNamespace}
	for _, rb := range []*rbacv1.RoleBinding{access.NamespaceBinding("team"), access.GlobalBinding([]string{"team"})} {
		if _, err := c.Clientset().RbacV1().RoleBindings(rb.Namespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	kubectl(t, c, strings.Join([]string{
		ruleSetYAML("checkout", "team", "  podSelector: {matchLabels: {app: checkout}}\n  targets: ['api.stripe.com:443']\n"),
		ruleSetYAML("everyone", "team", "  targets: ['api.github.com:443']\n"),
		ruleSetYAML("global", "egress-system", "  targets: ['time.example.com:123']\n"),
		ruleSetYAML("foreign", "other", "  targets: ['other.example.com:443']\n"),
	}, "---\n"), "apply", "-f", "-")

	saCfg, err := c.ServiceAccountConfig(ctx, "team", "app")
	if err != nil {
		t.Fatal(err)
	}
	src, err := kubesource.New(kubesource.Options{Config: saCfg, Namespace: "team", Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sink := &recorder{}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(runCtx, sink) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	want := "egress-system/global,team/checkout,team/everyone"
	eventually(t, 10*time.Second, "first update", func() (bool, string) {
		sets, _, _ := sink.last()
		return setNames(sets) == want, setNames(sets)
	})
	if !src.Synced() {
		t.Error("Synced() = false after the first update")
	}
	if n := sink.failureCount(); n != 0 {
		t.Errorf("%d failures reported with the API server up, first: %v", n, sink.firstFailure())
	}

	// Selection happens in the sidecar, with policy.Select on the delivered list.
	sets, _, _ := sink.last()
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"app": "checkout"}, "egress-system/global,team/checkout,team/everyone"},
		{map[string]string{"app": "search"}, "egress-system/global,team/everyone"},
	} {
		selected, errs := policy.Select(sets, policy.Pod{Namespace: "team", Labels: tc.labels}, policy.DefaultGlobalNamespace)
		if got := setNames(selected); got != tc.want || len(errs) > 0 {
			t.Errorf("Select(%v) = %s, %v; want %s", tc.labels, got, errs, tc.want)
		}
	}

	// A new rule set arrives within a second.
	created := time.Now()
	kubectl(t, c, ruleSetYAML("new", "team", "  targets: ['api.new.example.com:443']\n"), "apply", "-f", "-")
	eventually(t, 5*time.Second, "update with team/new", func() (bool, string) {
		sets, _, _ := sink.last()
		return strings.Contains(setNames(sets), "team/new"), setNames(sets)
	})
	_, at, _ := sink.last()
	if lag := at.Sub(created); lag > time.Second {
		t.Errorf("team/new arrived %s after kubectl apply started; want under 1s", lag)
	} else {
		t.Logf("team/new arrived %s after kubectl apply started", lag.Round(time.Millisecond))
	}
	want = "egress-system/global,team/checkout,team/everyone,team/new"

	// The API server goes away: failures are reported, Synced turns false, nothing replaces the last set.
	_, _, updatesBefore := sink.last()
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "Failed called and Synced false", func() (bool, string) {
		return sink.failureCount() > 0 && !src.Synced(), fmt.Sprintf("failures %d, synced %v", sink.failureCount(), src.Synced())
	})
	time.Sleep(2 * time.Second)
	sets, _, updatesDuring := sink.last()
	if setNames(sets) != want || updatesDuring != updatesBefore {
		t.Errorf("while the API server was down: %d updates (was %d), last %s", updatesDuring, updatesBefore, setNames(sets))
	}
	t.Logf("failures reported while down: %d, first: %v", sink.failureCount(), sink.firstFailure())

	// It comes back: Synced again and the list redelivered.
	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 45*time.Second, "Synced again with a fresh update", func() (bool, string) {
		sets, _, n := sink.last()
		return src.Synced() && n > updatesDuring && setNames(sets) == want, fmt.Sprintf("synced %v, updates %d", src.Synced(), n)
	})
	if slices.ContainsFunc(sets, func(s v1alpha1.EgressRuleSet) bool { return s.Namespace == "other" }) {
		t.Error("a rule set of another namespace was delivered")
	}
}
