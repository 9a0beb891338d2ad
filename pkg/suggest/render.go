package suggest

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"egress.io/egress/api/v1alpha1"
)

// RuleSet is the EgressRuleSet allowing targets for the pods selector selects (nil: every pod of the
// namespace), in Enforce mode.
func RuleSet(name, namespace string, selector *metav1.LabelSelector, targets []Observation) v1alpha1.EgressRuleSet {
	set := v1alpha1.EgressRuleSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "EgressRuleSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       v1alpha1.EgressRuleSetSpec{PodSelector: selector, Targets: []v1alpha1.Target{}},
	}
	for _, o := range targets {
		set.Spec.Targets = append(set.Spec.Targets, v1alpha1.Target(o.Target.String()))
	}
	return set
}

// YAML writes set as YAML for `kubectl apply -f -`: header lines as comments first, then the rule set with
// the comment Describe gives above each target (targets are the observations set was made from, in order).
func YAML(set v1alpha1.EgressRuleSet, targets []Observation, header []string) (string, error) {
	var b strings.Builder
	for _, h := range header {
		b.WriteString("# " + h + "\n")
	}
	fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n", set.APIVersion, set.Kind, scalar(set.Name))
	if set.Namespace != "" {
		fmt.Fprintf(&b, "  namespace: %s\n", scalar(set.Namespace))
	}
	b.WriteString("spec:\n")
	if set.Spec.PodSelector != nil {
		sel, err := yaml.Marshal(map[string]any{"podSelector": set.Spec.PodSelector})
		if err != nil {
			return "", err
		}
		for _, line := range strings.Split(strings.TrimRight(string(sel), "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	if set.Spec.Mode != "" {
		fmt.Fprintf(&b, "  mode: %s\n", set.Spec.Mode)
	}
	if len(set.Spec.Targets) == 0 {
		b.WriteString("  targets: []\n")
		return b.String(), nil
	}
	b.WriteString("  targets:\n")
	for i, t := range set.Spec.Targets {
		if i < len(targets) {
			b.WriteString("  # " + targets[i].Describe() + "\n")
		}
		b.WriteString("  - " + scalar(string(t)) + "\n")
	}
	return b.String(), nil
}

// scalar is s as a YAML scalar, quoted when YAML needs it ("*.example.test:443" must be).
func scalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimRight(string(out), "\n")
}
