package policy

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"egress.io/egress/api/v1alpha1"
)

// Pod identifies the pod whose allow-list is being built.
type Pod struct {
	Namespace string
	Labels    map[string]string
}

// Select returns the rule sets that apply to pod: those in the pod's own namespace or in globalNamespace whose
// podSelector matches the pod's labels (an absent or empty selector matches every pod). A rule set without a
// namespace (as in a standalone rules file) counts as the pod's own. A rule set whose selector cannot be parsed
// is left out (so it never widens access) and reported in the returned errors.
func Select(sets []v1alpha1.EgressRuleSet, pod Pod, globalNamespace string) ([]v1alpha1.EgressRuleSet, []error) {
	var selected []v1alpha1.EgressRuleSet
	var errs []error
	podLabels := labels.Set(pod.Labels)
	for i := range sets {
		set := &sets[i]
		ns := set.Namespace
		if ns != "" && ns != pod.Namespace && ns != globalNamespace {
			continue
		}
		matches, err := selectorMatches(set.Spec.PodSelector, podLabels)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: spec.podSelector: %w", ruleSetName(set), err))
			continue
		}
		if matches {
			selected = append(selected, *set)
		}
	}
	return selected, errs
}

func selectorMatches(selector *metav1.LabelSelector, podLabels labels.Set) (bool, error) {
	if selector == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return false, err
	}
	return s.Matches(podLabels), nil
}

// ruleSetName returns "namespace/name", or just the name when the rule set has no namespace.
func ruleSetName(set *v1alpha1.EgressRuleSet) string {
	if set.Namespace == "" {
		return set.Name
	}
	return set.Namespace + "/" + set.Name
}
