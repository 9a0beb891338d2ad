package webhook

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// NamespaceBindingReconciler keeps, in every namespace the webhook injects (RuleSetAccess.Grants), the
// RoleBinding that lets the namespace's service accounts read its EgressRuleSets, and deletes it when the
// namespace opts out or is deleted. A binding deleted or changed by hand is put back.
type NamespaceBindingReconciler struct {
	Client client.Client
	Access RuleSetAccess
	Log    logr.Logger
}

// SetupWithManager registers the controller: requests are namespace names, from namespace events and from
// events of the managed bindings (which the manager's cache is limited to, see ManagedBindingSelector).
func (r *NamespaceBindingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if obj.GetLabels()[LabelRuleSetAccess] != AccessNamespace {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: obj.GetNamespace()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("ruleset-access-namespace").
		For(&corev1.Namespace{}, builder.WithPredicates(r.Access.namespaceEvents())).
		Watches(&rbacv1.RoleBinding{}, toNamespace).
		Complete(r)
}

// Reconcile applies or deletes the namespace's binding.
func (r *NamespaceBindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	err := r.Client.Get(ctx, req.NamespacedName, ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading namespace %s: %w", req.Name, err)
	}
	grants := err == nil && r.Access.Grants(ns)

	current := &rbacv1.RoleBinding{}
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: req.Name, Name: NamespaceReaderBinding}, current)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading RoleBinding %s/%s: %w", req.Name, NamespaceReaderBinding, err)
	}
	// The cache holds only bindings labelled as the webhook's: one of that name without the labels is
	// someone else's and is never deleted.
	found := err == nil

	if !grants {
		if !found {
			return ctrl.Result{}, nil
		}
		if err := r.Client.Delete(ctx, current, client.Preconditions{UID: &current.UID}); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("deleting RoleBinding %s/%s: %w", req.Name, NamespaceReaderBinding, err)
		}
		r.Log.Info("removed rule-set read access", "namespace", req.Name)
		return ctrl.Result{}, nil
	}
	want := r.Access.NamespaceBinding(req.Name)
	if found && bindingUpToDate(current, want) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Apply(ctx, applyConfiguration(want), client.FieldOwner(RuleSetAccessFieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying RoleBinding %s/%s: %w", req.Name, NamespaceReaderBinding, err)
	}
	r.Log.Info("granted rule-set read access", "namespace", req.Name, "existed", found)
	return ctrl.Result{}, nil
}
