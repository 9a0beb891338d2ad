package inject

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// PolicySource says where injected sidecars get their rule sets.
type PolicySource string

const (
	// PolicyFromService streams them from the policy service, authenticated by a projected token of
	// audience sidecar.PolicyAudience: the pods need no RBAC on rule sets (the default).
	PolicyFromService PolicySource = "service"
	// PolicyFromKube watches them on the API server as the pod's service account, which the webhook's
	// RoleBindings let read its namespace's and the global namespace's rule sets.
	PolicyFromKube PolicySource = "kube"
)

// AnnotationPolicySource on a namespace chooses the policy source of its injected pods, overriding the
// webhook's --policy-source ("service" or "kube"). It is read when a pod is created; running pods keep theirs.
const AnnotationPolicySource = "egress.io/policy-source"

// PolicyCAConfigMap is the ConfigMap, in every namespace the webhook may inject, that holds the CA of the
// policy service's certificate (key PolicyCAKey); injected pods mount it next to their token.
const (
	PolicyCAConfigMap = "egress-policy-ca"
	PolicyCAKey       = "ca.crt"
)

// NamespacePolicySource returns the policy source of pods in ns: its AnnotationPolicySource, else def. An
// annotation that is neither value is an error naming it.
func NamespacePolicySource(ns *corev1.Namespace, def PolicySource) (PolicySource, error) {
	if ns == nil {
		return def, nil
	}
	v, ok := ns.Annotations[AnnotationPolicySource]
	if !ok {
		return def, nil
	}
	switch src := PolicySource(v); src {
	case PolicyFromService, PolicyFromKube:
		return src, nil
	default:
		return "", fmt.Errorf("namespace %s annotation %s: %q is not %q or %q", ns.Name, AnnotationPolicySource, v, PolicyFromService, PolicyFromKube)
	}
}
