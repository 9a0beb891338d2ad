package webhook

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"egress.io/egress/pkg/inject"
)

// NamespaceFieldOwner is the server-side-apply field manager that owns the mirrored label.
const NamespaceFieldOwner = "egress-namespace-controller"

// NamespaceReconciler mirrors a namespace's egress.io/inject annotation to the egress.io/inject label the
// MutatingWebhookConfiguration selects on, so the API server calls the webhook (and fails closed) for every
// pod of an enabled namespace. It owns the label through server-side apply: when the annotation goes away or
// holds a value other than enabled/disabled, the label it set goes too, while a label an operator set
// directly (without the annotation) is left alone.
type NamespaceReconciler struct {
	Client client.Client
	Log    logr.Logger
}

// SetupWithManager registers the controller; it reconciles when the annotation, the label or the
// controller's ownership of the label may have changed.
func (r *NamespaceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	relevant := predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return relevantNamespace(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return relevantNamespace(e.ObjectOld) || relevantNamespace(e.ObjectNew)
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("namespace-inject-label").
		For(&corev1.Namespace{}, builder.WithPredicates(relevant)).
		Complete(r)
}

// Reconcile applies the desired label (or the absence of the controller's label).
func (r *NamespaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	desired, mirror := DesiredInjectLabel(ns)
	owned := ownsInjectLabel(ns)
	current, hasLabel := ns.Labels[inject.LabelInject]
	switch {
	case mirror && hasLabel && current == desired && owned:
		return ctrl.Result{}, nil
	case !mirror && !owned:
		return ctrl.Result{}, nil
	}
	apply := corev1ac.Namespace(ns.Name)
	if mirror {
		apply.WithLabels(map[string]string{inject.LabelInject: desired})
	}
	if err := r.Client.Apply(ctx, apply, client.FieldOwner(NamespaceFieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying label %s to namespace %s: %w", inject.LabelInject, ns.Name, err)
	}
	if mirror {
		r.Log.Info("mirrored annotation to label", "namespace", ns.Name, "value", desired)
	} else {
		r.Log.Info("removed mirrored label", "namespace", ns.Name)
	}
	return ctrl.Result{}, nil
}

// DesiredInjectLabel returns the label value a namespace should carry and whether the annotation asks for
// one: only "enabled" and "disabled" are mirrored. It is pure.
func DesiredInjectLabel(ns *corev1.Namespace) (string, bool) {
	v, ok := ns.Annotations[inject.AnnotationInject]
	if !ok || (v != inject.ValueEnabled && v != inject.ValueDisabled) {
		return "", false
	}
	return v, true
}

// ownsInjectLabel reports whether the controller's field manager owns the label.
func ownsInjectLabel(ns *corev1.Namespace) bool {
	for _, mf := range ns.ManagedFields {
		if mf.Manager == NamespaceFieldOwner && mf.FieldsV1 != nil &&
			strings.Contains(mf.FieldsV1.GetRawString(), `"f:`+inject.LabelInject+`"`) {
			return true
		}
	}
	return false
}

func relevantNamespace(obj client.Object) bool {
	_, a := obj.GetAnnotations()[inject.AnnotationInject]
	_, l := obj.GetLabels()[inject.LabelInject]
	return a || l
}
