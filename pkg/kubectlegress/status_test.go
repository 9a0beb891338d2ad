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
