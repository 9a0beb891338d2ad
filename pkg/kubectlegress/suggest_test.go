package kubectlegress

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/record"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}

// shopCluster: deployment checkout (two pods), a web pod, an uninjected pod, a pod whose sidecar does not
// answer; an audit rule set for the namespace and one allowing api.example.test:443 to checkout.
func shopCluster() *fakeCluster {
	checkout := map[string]string{"app": "checkout"}
	web := map[string]string{"app": "web"}
	plain := injectedPod("shop", "plain", checkout, true)
	plain.Spec.InitContainers = nil
	pending := injectedPod("shop", "checkout-3", checkout, false)
	pending.Status.Phase = corev1.PodPending
	overflow := summaryOf("audit tcp 203.0.113.7:5432 1 6 6", "audit http api.example.test:80 1 7 9", "allow tls api.example.test:443 5 1 9")
	overflow.Other = record.SummaryOther{Count: 3, ByDecision: map[string]uint64{"audit": 3}}
	return &fakeCluster{
		pods: []corev1.Pod{
			injectedPod("shop", "checkout-1", checkout, true), injectedPod("shop", "checkout-2", checkout, true),
			injectedPod("shop", "web-1", web, true), plain, pending, injectedPod("shop", "checkout-4", checkout, false),
		},
		workloads: map[string]*metav1.LabelSelector{"deployment/checkout": {MatchLabels: checkout}},
		sets: []v1alpha1.EgressRuleSet{
			ruleSet("shop", "observe", nil, v1alpha1.ModeAudit, "audit.example.test:443"),
			ruleSet("shop", "payments", checkout, "", "api.example.test:443"),
		},
		summaries: map[string]record.SummaryReport{
			"checkout-1": summaryOf("audit http api.example.test:80 3 2 5", "audit tls api.example.test:443 2 1 1",
				"audit tls a.cdn.example.test:443 1 3 3", "deny http - 2 4 4"),
			"checkout-2": overflow,
			"web-1":      summaryOf("audit tls web-only.example.test:443 4 1 2"),
		},
	}
}

func suggestRun(t *testing.T, f *fakeCluster, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"suggest"}, args...), env(nil), &out, &errOut, fakeDial(f))
	return out.String(), errOut.String(), err
}

func TestSuggestDeployment(t *testing.T) {
	f := shopCluster()
	f.summaries["checkout-1"].Entries[3].Target = "" // "-" in summaryOf: a refusal with no target
	out, errOut, err := suggestRun(t, f, "deployment/checkout", "-n", "shop")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/suggest-checkout.golden.yaml", out)
	for _, want := range []string{
		"warning: pod checkout-3 is Pending: its summary is not read",
		"warning: pod shop/checkout-4: GET :15020/summary through pods/proxy: 503",
		"warning: pod checkout-2's summary was full: 3 denied or audited events",
		`warning: deny http "" seen 2 times by checkout-1: no target would allow it`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	sets, err := policy.LoadRuleSets(strings.NewReader(out), "suggested")
	if err != nil || len(sets) != 1 {
		t.Fatalf("the output does not load as a rule set: %v", err)
	}
	got := sets[0]
	if got.Name != "checkout-egress" || got.Namespace != "shop" || got.Spec.PodSelector.MatchLabels["app"] != "checkout" ||
		strings.Join(targetsOf(got), " ") != "api.example.test:80 a.cdn.example.test:443 203.0.113.7:5432" {
		t.Errorf("rule set %s/%s %v %v", got.Namespace, got.Name, got.Spec.PodSelector, got.Spec.Targets)
	}
	for _, p := range f.ports {
		if p != "15020" {
			t.Errorf("asked port %s, want the sidecar's --admin-addr port", p)
		}
	}
}

func targetsOf(s v1alpha1.EgressRuleSet) []string {
	var out []string
	for _, t := range s.Spec.Targets {
		out = append(out, string(t))
	}
	return out
}

func TestSuggestOutputs(t *testing.T) {
	f := shopCluster()
	out, _, err := suggestRun(t, f, "deploy/checkout", "-n", "shop", "-o", "json", "--name", "deps")
	var set v1alpha1.EgressRuleSet
	if err != nil || json.Unmarshal([]byte(out), &set) != nil || set.Name != "deps" || set.Kind != "EgressRuleSet" || len(set.Spec.Targets) != 3 {
		t.Errorf("-o json: %v %s", err, out)
	}
	out, _, err = suggestRun(t, f, "deployment/checkout", "-nshop", "-otable")
	if err != nil || !strings.HasPrefix(out, "TARGET                   SEEN    COUNT   PODS   FIRST SEEN             LAST SEEN\napi.example.test:80      audit   4       2      2026-11-30T12:02:00Z   2026-11-30T12:09:00Z\n") {
		t.Errorf("-o table: %v\n%s", err, out)
	}
	// -l: the selector is the podSelector; the namespace's web pod is included without one.
	out, _, err = suggestRun(t, f, "-l", "app=web", "-n", "shop")
	if err != nil || !strings.Contains(out, "name: egress-suggested") || !strings.Contains(out, "app: web") || !strings.Contains(out, "- web-only.example.test:443") {
		t.Errorf("-l app=web: %v\n%s", err, out)
	}
	out, _, err = suggestRun(t, f, "-n", "shop")
	if err != nil || strings.Contains(out, "podSelector") || !strings.Contains(out, "- web-only.example.test:443") {
		t.Errorf("the whole namespace: %v\n%s", err, out)
	}
}

func TestSuggestEmptySaysSo(t *testing.T) {
	f := shopCluster()
	f.summaries["web-1"] = summaryOf("allow tls api.example.test:443 4 1 2")
	out, errOut, err := suggestRun(t, f, "-l", "app=web", "-n", "shop")
	if err != nil || out != "" || !strings.Contains(errOut, "nothing to suggest: the 1 pods' sidecars saw no denied or audited traffic") {
		t.Errorf("%v, stdout %q, stderr %q", err, out, errOut)
	}
	f.summaries["checkout-1"] = summaryOf("audit tls api.example.test:443 2 1 1")
	f.summaries["checkout-2"] = summaryOf("deny tls api.example.test:443 2 1 1")
	out, errOut, err = suggestRun(t, f, "deployment/checkout", "-n", "shop")
	if err != nil || out != "" || !strings.Contains(errOut, "(1 already allowed)") {
		t.Errorf("all already allowed: %v, stdout %q, stderr %q", err, out, errOut)
	}
}

func TestSuggestErrors(t *testing.T) {
	f := shopCluster()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deployment/checkout", "-l", "app=x", "-n", "shop"}, "give a workload or --selector, not both"},
		{[]string{"checkout", "-n", "shop"}, "write KIND/NAME"},
		{[]string{"pods/checkout", "-n", "shop"}, "write KIND/NAME"},
		{[]string{"deployment/nope", "-n", "shop"}, "deployment shop/nope not found"},
		{[]string{"-l", "app in (", "-n", "shop"}, "--selector"},
		{[]string{"-l", "app=none", "-n", "shop"}, "no summary could be read from an injected, running pod of pods app=none in namespace shop"},
		{[]string{"a/b", "c/d"}, "one workload at most"},
		{[]string{"--bogus"}, "unknown flag --bogus"},
	} {
		_, _, err := suggestRun(t, f, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
