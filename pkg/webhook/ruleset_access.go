package webhook

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"egress.io/egress/pkg/inject"
)

// The RoleBindings that let injected pods read EgressRuleSets, and how they are marked.
const (
	// RuleSetReaderRole is the ClusterRole the bindings grant (manifests/rbac/rulesets.yaml).
	RuleSetReaderRole = "egress-ruleset-reader"
	// NamespaceReaderBinding is the RoleBinding, in each injected namespace, for its service accounts.
	NamespaceReaderBinding = "egress-ruleset-reader"
	// GlobalReaderBinding is the RoleBinding, in the global namespace, for the service accounts of every
	// injected namespace.
	GlobalReaderBinding = "egress-ruleset-reader-global"
	// RuleSetAccessFieldOwner is the server-side-apply field manager of both.
	RuleSetAccessFieldOwner = "egress-ruleset-access"
	// LabelManagedBy and ManagedBy mark the bindings as the webhook's.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "egress-webhook"
	// LabelRuleSetAccess says which of the two a binding is: AccessNamespace or AccessGlobal.
	LabelRuleSetAccess = "egress.io/ruleset-access"
	AccessNamespace    = "namespace"
	AccessGlobal       = "global"
)

// RuleSetAccess decides who may read which rule sets. With the direct watch (inject.PolicyFromKube) a
// sidecar reads, as its pod's service account, the rule sets of its own namespace and of the global
// namespace (pkg/kubesource), so the service accounts of a namespace the webhook injects with that source
// get exactly that. With the policy service (the default) pods read nothing themselves: the service
// serves each pod its namespace's rule sets on the strength of its token, and their namespaces get no
// binding. No one else gets anything from the webhook.
type RuleSetAccess struct {
	// GlobalNamespace is the webhook's --global-namespace.
	GlobalNamespace string
	// ExcludedNamespaces are never injected (--excluded-namespaces), so they get no access.
	ExcludedNamespaces []string
	// DefaultSource is the webhook's --policy-source, which a namespace's egress.io/policy-source overrides.
	DefaultSource inject.PolicySource
}

// Grants reports whether ns's service accounts may read rule sets: the webhook injects the namespace's pods
// (its egress.io/inject annotation or, without one, its label is enabled, as for inject.Injectable, and it is
// not excluded), their sidecars watch the API server themselves (the namespace's policy source is kube; an
// invalid egress.io/policy-source grants nothing), and the namespace is not being deleted.
func (a RuleSetAccess) Grants(ns *corev1.Namespace) bool {
	if ns.DeletionTimestamp != nil || !inject.NamespaceEnabled(ns) || slices.Contains(a.ExcludedNamespaces, ns.Name) {
		return false
	}
	src, err := inject.NamespacePolicySource(ns, a.DefaultSource)
	return err == nil && src == inject.PolicyFromKube
}

// NamespaceBinding is the RoleBinding in namespace ns that lets its service accounts read its rule sets.
func (a RuleSetAccess) NamespaceBinding(ns string) *rbacv1.RoleBinding {
	return readerBinding(NamespaceReaderBinding, ns, AccessNamespace, []string{ns})
}

// GlobalBinding is the RoleBinding in the global namespace that lets the service accounts of namespaces
// read its rule sets; subjects are sorted, so equal sets give equal bindings.
func (a RuleSetAccess) GlobalBinding(namespaces []string) *rbacv1.RoleBinding {
	return readerBinding(GlobalReaderBinding, a.GlobalNamespace, AccessGlobal, namespaces)
}

// namespaceEvents passes namespace events that may change what Grants says: creations (so that every
// namespace is reconciled when the controller starts), deletions, and updates that change it.
func (a RuleSetAccess) namespaceEvents() predicate.Funcs {
	grants := func(obj client.Object) bool {
		ns, ok := obj.(*corev1.Namespace)
		return ok && a.Grants(ns)
	}
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		UpdateFunc:  func(e event.UpdateEvent) bool { return grants(e.ObjectOld) != grants(e.ObjectNew) },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// ManagedBindingSelector selects the bindings the webhook keeps; its cache watches only those.
func ManagedBindingSelector() labels.Selector {
	managed, _ := labels.NewRequirement(LabelManagedBy, selection.Equals, []string{ManagedBy})
	access, _ := labels.NewRequirement(LabelRuleSetAccess, selection.In, []string{AccessNamespace, AccessGlobal})
	return labels.NewSelector().Add(*managed, *access)
}

func readerBinding(name, namespace, access string, subjectNamespaces []string) *rbacv1.RoleBinding {
	rb := &rbacv1.RoleBinding{}
	rb.Name, rb.Namespace = name, namespace
	rb.Labels = map[string]string{LabelManagedBy: ManagedBy, LabelRuleSetAccess: access}
	rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: RuleSetReaderRole}
	for _, ns := range slices.Sorted(slices.Values(subjectNamespaces)) {
		// The group every service account of the namespace is in: no per-account bindings to keep.
		rb.Subjects = append(rb.Subjects, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:serviceaccounts:" + ns})
	}
	return rb
}

// bindingUpToDate reports whether current already has want's labels, role and subjects (labels others added
// are left alone).
func bindingUpToDate(current, want *rbacv1.RoleBinding) bool {
	for k, v := range want.Labels {
		if current.Labels[k] != v {
			return false
		}
	}
	return current.RoleRef == want.RoleRef && equality.Semantic.DeepEqual(current.Subjects, want.Subjects)
}

// applyConfiguration is rb as a server-side apply request: everything the webhook owns in it.
func applyConfiguration(rb *rbacv1.RoleBinding) *rbacv1ac.RoleBindingApplyConfiguration {
	ac := rbacv1ac.RoleBinding(rb.Name, rb.Namespace).
		WithLabels(maps.Clone(rb.Labels)).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rb.RoleRef.APIGroup).WithKind(rb.RoleRef.Kind).WithName(rb.RoleRef.Name))
	for _, s := range rb.Subjects {
		ac.WithSubjects(rbacv1ac.Subject().WithAPIGroup(s.APIGroup).WithKind(s.Kind).WithName(s.Name))
	}
	return ac
}
