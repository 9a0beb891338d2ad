package webhook

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// GlobalBindingReconciler keeps the one RoleBinding in the global namespace whose subjects are the service
// accounts of every namespace the webhook injects, recomputed from the set of such namespaces; with none, it
// deletes it. A binding deleted or changed by hand is put back, and one left in another namespace by an
// earlier --global-namespace is deleted.
type GlobalBindingReconciler struct {
	Client client.Client
	Access RuleSetAccess
	Log    logr.Logger
}

// SetupWithManager registers the controller. Every relevant event, of any namespace or of a global binding,
// enqueues the same request, so that a burst of them (the cache's initial list) is one recomputation.
func (r *GlobalBindingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	key := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: r.Access.GlobalNamespace, Name: GlobalReaderBinding}}
	toKey := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{key}
	})
	global := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetLabels()[LabelRuleSetAccess] == AccessGlobal
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("ruleset-access-global").
		Watches(&corev1.Namespace{}, toKey, builder.WithPredicates(r.Access.namespaceEvents())).
		Watches(&rbacv1.RoleBinding{}, toKey, builder.WithPredicates(global)).
		Complete(r)
}

// Reconcile recomputes the global binding; the request is always the same.
func (r *GlobalBindingReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var namespaces corev1.NamespaceList
	if err := r.Client.List(ctx, &namespaces); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing namespaces: %w", err)
	}
	var granted []string
	for n := range namespaces.Items {
		if r.Access.Grants(&namespaces.Items[n]) {
			granted = append(granted, namespaces.Items[n].Name)
		}
	}

	var bindings rbacv1.RoleBindingList
	if err := r.Client.List(ctx, &bindings, client.MatchingLabels{LabelManagedBy: ManagedBy, LabelRuleSetAccess: AccessGlobal}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing global RoleBindings: %w", err)
	}
	var current *rbacv1.RoleBinding
	for n := range bindings.Items {
		rb := &bindings.Items[n]
		if rb.Namespace == r.Access.GlobalNamespace && rb.Name == GlobalReaderBinding && len(granted) > 0 {
			current = rb
			continue
		}
		if err := r.Client.Delete(ctx, rb, client.Preconditions{UID: &rb.UID}); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("deleting RoleBinding %s/%s: %w", rb.Namespace, rb.Name, err)
		}
		r.Log.Info("removed global rule-set read access", "binding", rb.Namespace+"/"+rb.Name)
	}
	if len(granted) == 0 {
		return ctrl.Result{}, nil
	}

	want := r.Access.GlobalBinding(granted)
	if current != nil && bindingUpToDate(current, want) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Apply(ctx, applyConfiguration(want), client.FieldOwner(RuleSetAccessFieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying RoleBinding %s/%s: %w", want.Namespace, want.Name, err)
	}
	r.Log.Info("granted global rule-set read access", "namespace", r.Access.GlobalNamespace, "namespaces", len(granted))
	return ctrl.Result{}, nil
}
