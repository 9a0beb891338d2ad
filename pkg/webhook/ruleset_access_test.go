package webhook

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"egress.io/egress/pkg/inject"
)

// TestRuleSetAccessGrants checks that, with the direct watch, access follows injection: a namespace's
// service accounts may read rule sets exactly when Injectable injects an ordinary pod there, and not while
// it is being deleted.
func TestRuleSetAccessGrants(t *testing.T) {
	cfg := inject.DefaultConfig()
	cfg.PolicySource = inject.PolicyFromKube
	access := RuleSetAccess{GlobalNamespace: cfg.Sidecar.GlobalNamespace, ExcludedNamespaces: cfg.ExcludedNamespaces, DefaultSource: cfg.PolicySource}
	ns := func(name string, lbls, annotations map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls, Annotations: annotations}}
	}
	on := map[string]string{inject.AnnotationInject: inject.ValueEnabled}
	off := map[string]string{inject.AnnotationInject: inject.ValueDisabled}
	terminating := ns("going", nil, on)
	terminating.DeletionTimestamp = &metav1.Time{}
	for _, tc := range []struct {
		ns   *corev1.Namespace
		want bool
	}{
		{ns("annotated", nil, on), true},
		{ns("labelled", on, nil), true},
		{ns("annotation-wins", on, off), false},
		{ns("disabled", nil, off), false},
		{ns("invalid", on, map[string]string{inject.AnnotationInject: "yes"}), false},
		{ns("plain", nil, nil), false},
		{ns("kube-system", nil, on), false},
		{ns(cfg.Sidecar.GlobalNamespace, on, nil), false},
		{terminating, false},
	} {
		if got := access.Grants(tc.ns); got != tc.want {
			t.Errorf("Grants(%s) = %v; want %v", tc.ns.Name, got, tc.want)
		}
		if tc.ns.DeletionTimestamp != nil {
			continue
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: tc.ns.Name}}
		if injected, reason := inject.Injectable(pod, tc.ns, cfg); injected != tc.want {
			t.Errorf("Injectable in %s = %v (%s), Grants %v: access must follow injection", tc.ns.Name, injected, reason, tc.want)
		}
	}
}

// TestRuleSetAccessOnlyWhereTheDirectWatchIsUsed: with the policy service no namespace gets access, unless
// it chooses the direct watch by annotation; a namespace that chooses the service gets none either way.
func TestRuleSetAccessOnlyWhereTheDirectWatchIsUsed(t *testing.T) {
	ns := func(name string, annotations map[string]string) *corev1.Namespace {
		a := map[string]string{inject.AnnotationInject: inject.ValueEnabled}
		for k, v := range annotations {
			a[k] = v
		}
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: a}}
	}
	kube := map[string]string{inject.AnnotationPolicySource: "kube"}
	service := map[string]string{inject.AnnotationPolicySource: "service"}
	invalid := map[string]string{inject.AnnotationPolicySource: "both"}
	for _, tc := range []struct {
		def  inject.PolicySource
		ns   *corev1.Namespace
		want bool
	}{
		{inject.PolicyFromService, ns("default-service", nil), false},
		{inject.PolicyFromService, ns("chooses-kube", kube), true},
		{inject.PolicyFromService, ns("invalid", invalid), false},
		{inject.PolicyFromKube, ns("default-kube", nil), true},
		{inject.PolicyFromKube, ns("chooses-service", service), false},
		{inject.PolicyFromKube, ns("invalid", invalid), false},
	} {
		access := RuleSetAccess{GlobalNamespace: "egress-system", DefaultSource: tc.def}
		if got := access.Grants(tc.ns); got != tc.want {
			t.Errorf("--policy-source=%s: Grants(%s) = %v; want %v", tc.def, tc.ns.Name, got, tc.want)
		}
	}
}

func TestRuleSetAccessBindings(t *testing.T) {
	access := RuleSetAccess{GlobalNamespace: "egress-system"}
	global := access.GlobalBinding([]string{"shop", "billing"})
	if global.Namespace != "egress-system" || global.Name != GlobalReaderBinding {
		t.Errorf("global binding is %s/%s", global.Namespace, global.Name)
	}
	var subjects []string
	for _, s := range global.Subjects {
		if s.Kind != rbacv1.GroupKind || s.APIGroup != rbacv1.GroupName {
			t.Errorf("subject %+v is not an RBAC group", s)
		}
		subjects = append(subjects, s.Name)
	}
	if got := subjects; len(got) != 2 || got[0] != "system:serviceaccounts:billing" || got[1] != "system:serviceaccounts:shop" {
		t.Errorf("subjects = %v; want the two namespaces' service-account groups, sorted", got)
	}
	shop := access.NamespaceBinding("shop")
	if shop.Namespace != "shop" || shop.RoleRef.Name != RuleSetReaderRole || shop.RoleRef.Kind != "ClusterRole" ||
		len(shop.Subjects) != 1 || shop.Subjects[0].Name != "system:serviceaccounts:shop" {
		t.Errorf("namespace binding = %+v", shop)
	}
	for _, rb := range []*rbacv1.RoleBinding{global, shop} {
		if !ManagedBindingSelector().Matches(labels.Set(rb.Labels)) {
			t.Errorf("%s/%s is not selected by the cache's selector", rb.Namespace, rb.Name)
		}
	}

	current := shop.DeepCopy()
	current.Labels["added-by-hand"] = "x"
	if !bindingUpToDate(current, shop) {
		t.Error("a label added by someone else made the binding out of date")
	}
	current.Subjects = append(current.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "system:serviceaccounts"})
	if bindingUpToDate(current, shop) {
		t.Error("an added subject went unnoticed")
	}
	current = shop.DeepCopy()
	delete(current.Labels, LabelRuleSetAccess)
	if bindingUpToDate(current, shop) {
		t.Error("a removed label went unnoticed")
	}
	if ac := applyConfiguration(shop); *ac.RoleRef.Name != RuleSetReaderRole || len(ac.Subjects) != 1 || ac.Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("apply configuration = %+v", ac)
	}
}
