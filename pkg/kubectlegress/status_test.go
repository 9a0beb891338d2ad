package kubectlegress

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/sidecar/record"
)

func TestStatus(t *testing.T) {
	f := shopCluster()
	// checkout-1's sidecar built its policy from the live rule sets; checkout-2's from an older generation.
	live := []record.RuleSetVersion{{Name: "egress-system/global", UID: "uid-global", Generation: 1}, {Name: "shop/observe", UID: "uid-observe", Generation: 1}, {Name: "shop/payments", UID: "uid-payments", Generation: 1}}
	s1 := f.summaries["checkout-1"]
	s1.Policy = &record.PolicyVersion{Version: record.VersionOf(live), RuleSets: live, LoadedAt: minute(1)}
	f.summaries["checkout-1"] = s1
	old := append([]record.RuleSetVersion{}, live...)
	old[2].Generation = 0
	s2 := f.summaries["checkout-2"]
	s2.Policy = &record.PolicyVersion{Version: record.VersionOf(old), RuleSets: old, LoadedAt: minute(1)}
	f.summaries["checkout-2"] = s2
	f.sets[1].Status.ValidTargets = 1
	f.sets[1].Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: "Valid", ObservedGeneration: 1}}
	f.sets = append(f.sets, ruleSet("egress-system", "global", nil, "", "*.global.test:443"))

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"status", "-n", "shop"}, env(nil), &out, &errOut, fakeDial(f)); err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/status.golden", out.String())
	if !strings.Contains(errOut.String(), "checkout-4") {
		t.Errorf("stderr: %s", errOut.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"status", "-n", "shop", "-o", "json", "--top", "2"}, env(nil), &out, &errOut, fakeDial(f)); err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Pods) != 5 || !st.Pods[0].InSync || st.Pods[1].InSync || st.Pods[0].Mode != "Audit" || len(st.Top) != 2 ||
		st.Top[0].Target != "api.example.test:80" || len(st.RuleSets) != 3 || st.RuleSets[2].Accepted != "True" || st.RuleSets[2].SelectedPods != 4 {
		t.Errorf("%+v", st)
	}
}

// TestStatusAllNamespaces lists every namespace's pods (named with their namespace), rule sets and denials.
func TestStatusAllNamespaces(t *testing.T) {
	f := shopCluster()
	f.pods = append(f.pods, injectedPod("billing", "invoices-1", map[string]string{"app": "invoices"}, true))
	f.sets = append(f.sets, ruleSet("billing", "ledger", nil, "", "ledger.example.test:443"))
	f.summaries["invoices-1"] = summaryOf("deny tls ledger-v2.example.test:443 4 2 8")

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"status", "-A"}, env(nil), &out, &errOut, fakeDial(f)); err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/status-all.golden", out.String())
	for _, want := range []string{"billing/invoices-1", "shop/checkout-1", "billing/ledger", "shop/payments", "ledger-v2.example.test:443"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status -A does not show %s:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"status", "--all-namespaces", "-o", "json"}, env(nil), &out, &errOut, fakeDial(f)); err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	namespaces := map[string]int{}
	for _, p := range st.Pods {
		namespaces[p.Namespace]++
	}
	if namespaces["billing"] != 1 || namespaces["shop"] != 5 || len(st.RuleSets) != 3 {
		t.Errorf("pods by namespace %v, %d rule sets; want billing 1, shop 5, 3 rule sets", namespaces, len(st.RuleSets))
	}
}
