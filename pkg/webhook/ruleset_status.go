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
	ReasonInvalidRoutes      = "InvalidRoutes"
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
	var targetProblems, routeProblems []policy.Problem
	for _, p := range problems {
		if p.Route == "" {
			targetProblems = append(targetProblems, p)
		} else {
			routeProblems = append(routeProblems, p)
		}
	}
	valid := int32(len(set.Spec.Targets) - len(targetProblems))
	validRoutes := int32(len(set.Spec.Routes))
	for _, p := range routeProblems {
		if p.Index >= 0 {
			validRoutes--
		}
	}

	message := fmt.Sprintf("all %d targets are valid", len(set.Spec.Targets))
	if len(set.Spec.Routes) > 0 {
		message = fmt.Sprintf("all %d targets and %d routes are valid", len(set.Spec.Targets), len(set.Spec.Routes))
	}
	cond := metav1.Condition{
		Type:               v1alpha1.ConditionAccepted,
		Status:             metav1.ConditionTrue,
		Reason:             ReasonAccepted,
		Message:            message,
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
	case len(targetProblems) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalidTargets
		cond.Message = invalidTargetsMessage(targetProblems, len(set.Spec.Targets))
		if len(routeProblems) > 0 {
			cond.Message += "; " + invalidRoutesMessage(routeProblems)
		}
	case len(routeProblems) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalidRoutes
		cond.Message = invalidRoutesMessage(routeProblems)
	}

	status := set.Status.DeepCopy()
	status.ObservedGeneration = set.Generation
	status.ValidTargets = valid
	status.ValidRoutes = validRoutes
	meta.SetStatusCondition(&status.Conditions, cond)
	return *status
}

// invalidTargetsMessage lists each problem as `target 3 "*.:443": empty suffix`, truncated to fit.
func invalidTargetsMessage(problems []policy.Problem, total int) string {
	return listProblems(fmt.Sprintf("%d of %d targets are invalid and skipped: ", len(problems), total), problems, maxConditionMessage,
		func(p policy.Problem) string { return fmt.Sprintf("target %d %q: %v", p.Index, p.Target, p.Err) })
}

// invalidRoutesMessage lists each invalid route (skipped: its hosts stay restricted to the other routes)
// as `route 0 "read": host 0 "10.0.0.1:80": ...`, truncated to fit in half a message.
func invalidRoutesMessage(problems []policy.Problem) string {
	return listProblems("invalid and skipped (the hosts of a skipped route stay restricted to the other routes): ", problems, maxConditionMessage/2,
		func(p policy.Problem) string {
			if p.Index < 0 {
				return fmt.Sprintf("%s: %v", p.Route, p.Err)
			}
			return fmt.Sprintf("route %d %q: %v", p.Index, p.Route, p.Err)
		})
}

// listProblems writes prefix and the problems as item renders them, "; "-separated, ending with "; and N
// more" where the next one would pass limit.
func listProblems(prefix string, problems []policy.Problem, limit int, item func(policy.Problem) string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for n, p := range problems {
		text := item(p)
		if b.Len()+len(text) > limit {
			fmt.Fprintf(&b, "; and %d more", len(problems)-n)
			break
		}
		if n > 0 {
			b.WriteString("; ")
		}
		b.WriteString(text)
	}
	return b.String()
}

// Reasons of the Gateway condition.
const (
	ReasonGatewayFound    = "GatewayFound"
	ReasonGatewayNotFound = "GatewayNotFound"
)

// GatewayCondition is the Gateway condition of a rule set with spec.gateway: whether that EgressGateway
// exists in the global namespace. The LastTransitionTime is kept unless the status changes.
func GatewayCondition(set *v1alpha1.EgressRuleSet, globalNamespace string, exists bool, now metav1.Time) metav1.Condition {
	c := metav1.Condition{
		Type: v1alpha1.ConditionGateway, Status: metav1.ConditionTrue, Reason: ReasonGatewayFound,
		Message:            fmt.Sprintf("the targets leave through EgressGateway %s/%s", globalNamespace, set.Spec.Gateway),
		ObservedGeneration: set.Generation, LastTransitionTime: now,
	}
	if !exists {
		c.Status, c.Reason = metav1.ConditionFalse, ReasonGatewayNotFound
		c.Message = fmt.Sprintf("EgressGateway %s/%s does not exist: the targets' traffic is denied (never sent directly) until it does",
			globalNamespace, set.Spec.Gateway)
	}
	if old := meta.FindStatusCondition(set.Status.Conditions, v1alpha1.ConditionGateway); old != nil && old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	return c
}
