package policy

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
)

func ruleSet(namespace, name string, mode v1alpha1.Mode, selector *metav1.LabelSelector, targets ...string) v1alpha1.EgressRuleSet {
	set := v1alpha1.EgressRuleSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       v1alpha1.EgressRuleSetSpec{Mode: mode, PodSelector: selector},
	}
	for _, t := range targets {
		set.Spec.Targets = append(set.Spec.Targets, v1alpha1.Target(t))
	}
	return set
}
