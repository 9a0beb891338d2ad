package webhook

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
)

// Reasons of the Accepted condition.
const (
	ReasonAccepted           = "Accepted"
	ReasonInvalidTargets     = "InvalidTargets"
	ReasonInvalidPodSelector = "InvalidPodSelector"
)

// maxConditionMessage keeps the message under metav1.Condition's 32768-character limit.
const maxConditionMessage = 16 * 1024

// DesiredStatus computes what the controller writes to a rule set's status: Accepted True, or False with
// every invalid target (as policy.Compile reports it) or the podSelector's error in the message;
// observedGeneration; and the number of valid targets. Conditions keep their LastTransitionTime unless
// their status changes (now is used when it does). It is pure.
func DesiredStatus(set *v1alpha1.EgressRuleSet, now metav1.Time) v1alpha1.EgressRuleSetStatus {
	_, problems := policy.Compile([]v1alpha1.EgressRuleSet{*set})
	valid := int32(len(set.Spec.Targets) - len(problems))

	cond := metav1.Condition{
		Type:               v1alpha1.ConditionAccepted,
		Status:             metav1.ConditionTrue,
		Reason:             ReasonAccepted,
		Message:            fmt.Sprintf("all %d targets are valid", len(set.Spec.Targets)),
		ObservedGeneration: set.Generation,
		LastTransitionTime: now,
	}
	var selectorErr error
	if set.Spec.PodSelector != nil {
		_, selectorErr = metav1.LabelSelectorAsSelector(set.Spec.PodSelector)
	}
	switch {
	case selectorErr != nil:
		// A rule set whose selector cannot be parsed selects no pod (policy.Select leaves it out).
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalidPodSelector
		cond.Message = "spec.podSelector: " + selectorErr.Error() + "; the rule set applies to no pod"
	case len(problems) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalidTargets
		cond.Message = invalidTargetsMessage(problems, len(set.Spec.Targets))
	}

	status := set.Status.DeepCopy()
	status.ObservedGeneration = set.Generation
	status.ValidTargets = valid
	meta.SetStatusCondition(&status.Conditions, cond)
	return *status
}

// invalidTargetsMessage lists each problem as `target 3 "*.:443": empty suffix`, truncated to fit.
func invalidTargetsMessage(problems []policy.Problem, total int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d targets are invalid and skipped: ", len(problems), total)
	for n, p := range problems {
		item := fmt.Sprintf("target %d %q: %v", p.Index, p.Target, p.Err)
		if b.Len()+len(item) > maxConditionMessage {
			fmt.Fprintf(&b, "; and %d more", len(problems)-n)
			break
		}
		if n > 0 {
			b.WriteString("; ")
		}
		b.WriteString(item)
	}
	return b.String()
}
