package policy

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
)

func TestSelect(t *testing.T) {
	checkout := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}
	sets := []v1alpha1.EgressRuleSet{
		ruleSet("shop", "all", "", nil, "a.example:443"),
		ruleSet("shop", "empty-selector", "", &metav1.LabelSelector{}, "b.example:443"),
		ruleSet("shop", "checkout", "", checkout, "c.example:443"),
		ruleSet("other", "elsewhere", "", nil, "d.example:443"),
		ruleSet("egress-system", "global", "", nil, "e.example:443"),
		ruleSet("egress-system", "global-checkout", "", checkout, "f.example:443"),
		ruleSet("", "from-file", "", nil, "g.example:443"),
		ruleSet("shop", "broken", "", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}, "h.example:443"),
	}
	tests := []struct {
		name string
		pod  Pod
		want []string
	}{
		{"checkout pod", Pod{"shop", map[string]string{"app": "checkout"}}, []string{"all", "empty-selector", "checkout", "global", "global-checkout", "from-file"}},
		{"other pod in shop", Pod{"shop", map[string]string{"app": "web"}}, []string{"all", "empty-selector", "global", "from-file"}},
		{"pod elsewhere", Pod{"other", nil}, []string{"elsewhere", "global", "from-file"}},
		{"pod in unrelated namespace", Pod{"unrelated", map[string]string{"app": "checkout"}}, []string{"global", "global-checkout", "from-file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Select(sets, tt.pod, "egress-system")
			var names []string
			for _, s := range got {
				names = append(names, s.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("selected %v, want %v", names, tt.want)
			}
			if tt.pod.Namespace == "shop" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), "shop/broken: spec.podSelector")) {
				t.Fatalf("errors = %v, want the broken selector reported", errs)
			}
		})
	}
}
