package inject

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Reason says why Injectable decided as it did. Its value is a snake_case code used in logs and metrics.
type Reason string

// Reasons, in the order Injectable checks them.
const (
	// ReasonAlreadyInjected: the pod carries the egress containers or AnnotationInjected (re-invocation).
	ReasonAlreadyInjected Reason = "already_injected"
	// ReasonHostNetwork: the pod shares the node's network namespace; iptables rules there would hit the node.
	ReasonHostNetwork Reason = "host_network"
	// ReasonInvalidInjectValue: the pod's egress.io/inject annotation or label is neither enabled nor disabled.
	ReasonInvalidInjectValue Reason = "invalid_inject_value"
	// ReasonExcludedNamespace: the namespace is in Config.ExcludedNamespaces.
	ReasonExcludedNamespace Reason = "excluded_namespace"
	// ReasonPodOptedOut: the pod says egress.io/inject: disabled.
	ReasonPodOptedOut Reason = "pod_opted_out"
	// ReasonPodOptedIn: the pod says egress.io/inject: enabled.
	ReasonPodOptedIn Reason = "pod_opted_in"
	// ReasonNamespaceEnabled: the namespace's annotation (or label) is egress.io/inject=enabled.
	ReasonNamespaceEnabled Reason = "namespace_enabled"
	// ReasonNamespaceNotEnabled: neither the pod nor its namespace asks for injection.
	ReasonNamespaceNotEnabled Reason = "namespace_not_enabled"
)

// Injectable reports whether pod, in namespace ns, should be injected, and why. A pod annotation (or label)
// egress.io/inject overrides the namespace's; host-network pods, excluded namespaces and pods already
// injected are never injected. ns may be nil (treated as a namespace without annotations).
func Injectable(pod *corev1.Pod, ns *corev1.Namespace, cfg Config) (bool, Reason) {
	if IsInjected(pod) {
		return false, ReasonAlreadyInjected
	}
	if pod.Spec.HostNetwork {
		return false, ReasonHostNetwork
	}
	podValue, ok := injectValue(pod.Annotations, pod.Labels)
	if ok && podValue != ValueEnabled && podValue != ValueDisabled {
		return false, ReasonInvalidInjectValue
	}
	namespace := pod.Namespace
	if ns != nil {
		namespace = ns.Name
	}
	if slices.Contains(cfg.ExcludedNamespaces, namespace) {
		return false, ReasonExcludedNamespace
	}
	switch podValue {
	case ValueDisabled:
		return false, ReasonPodOptedOut
	case ValueEnabled:
		return true, ReasonPodOptedIn
	}
	if ns != nil {
		if v, _ := injectValue(ns.Annotations, ns.Labels); v == ValueEnabled {
			return true, ReasonNamespaceEnabled
		}
	}
	return false, ReasonNamespaceNotEnabled
}

// IsInjected reports whether pod already carries what Inject adds: AnnotationInjected or a container named
// like the egress init container or sidecar.
func IsInjected(pod *corev1.Pod) bool {
	if _, ok := pod.Annotations[AnnotationInjected]; ok {
		return true
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == InitContainerName || c.Name == SidecarContainerName {
				return true
			}
		}
	}
	return false
}

// NamespaceEnabled reports whether a namespace's annotation (or, without one, its label) enables injection.
func NamespaceEnabled(ns *corev1.Namespace) bool {
	v, _ := injectValue(ns.Annotations, ns.Labels)
	return v == ValueEnabled
}

// injectValue returns the egress.io/inject annotation or, when there is none, the label.
func injectValue(annotations, labels map[string]string) (string, bool) {
	if v, ok := annotations[AnnotationInject]; ok {
		return v, true
	}
	v, ok := labels[LabelInject]
	return v, ok
}
