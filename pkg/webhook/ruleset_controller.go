package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"egress.io/egress/api/v1alpha1"
)

// RuleSetReconciler validates every EgressRuleSet with policy.Compile and writes the result to its status
// subresource (see DesiredStatus).
type RuleSetReconciler struct {
	Client client.Client
	Log    logr.Logger
	// GlobalNamespace is where the EgressGateways that rule sets name (spec.gateway) live.
	GlobalNamespace string
	// Now returns the time for new conditions (time.Now when nil).
	Now func() time.Time
}

// SetupWithManager registers the controller; it reconciles on spec changes (generation) only.
// conflictRetry is how soon a status update that lost a race is tried again.
const conflictRetry = 100 * time.Millisecond

func (r *RuleSetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// A gateway created or deleted changes the Gateway condition of the rule sets that name it.
	gatewayChanged := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("egressruleset-status").
		For(&v1alpha1.EgressRuleSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.EgressGateway{}, handler.EnqueueRequestsFromMapFunc(r.ruleSetsNaming), builder.WithPredicates(gatewayChanged)).
		Complete(r)
}

// ruleSetsNaming returns the rule sets whose spec.gateway names gw.
func (r *RuleSetReconciler) ruleSetsNaming(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() != r.GlobalNamespace {
		return nil
	}
	var list v1alpha1.EgressRuleSetList
	if err := r.Client.List(ctx, &list); err != nil {
		r.Log.Error(err, "listing rule sets for a gateway change", "gateway", obj.GetName())
		return nil
	}
	var out []reconcile.Request
	for _, set := range list.Items {
		if set.Spec.Gateway == obj.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&set)})
		}
	}
	return out
}

// Reconcile writes the desired status when it differs from the stored one.
func (r *RuleSetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	set := &v1alpha1.EgressRuleSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, set); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	desired := DesiredStatus(set, metav1.NewTime(now()))
	if set.Spec.Gateway != "" {
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.GlobalNamespace, Name: set.Spec.Gateway}, &v1alpha1.EgressGateway{})
		if err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("looking up EgressGateway %s/%s: %w", r.GlobalNamespace, set.Spec.Gateway, err)
		}
		meta.SetStatusCondition(&desired.Conditions, GatewayCondition(set, r.GlobalNamespace, err == nil, metav1.NewTime(now())))
	} else {
		meta.RemoveStatusCondition(&desired.Conditions, v1alpha1.ConditionGateway)
	}
	if equality.Semantic.DeepEqual(desired, set.Status) {
		return ctrl.Result{}, nil
	}
	set.Status = desired
	if err := r.Client.Status().Update(ctx, set); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, fmt.Errorf("updating status of EgressRuleSet %s: %w", req.NamespacedName, err)
	}
	r.Log.V(1).Info("status updated", "ruleSet", req.NamespacedName, "validTargets", desired.ValidTargets)
	return ctrl.Result{}, nil
}
