package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"egress.io/egress/api/v1alpha1"
)

// RuleSetReconciler validates every EgressRuleSet with policy.Compile and writes the result to its status
// subresource (see DesiredStatus).
type RuleSetReconciler struct {
	Client client.Client
	Log    logr.Logger
	// Now returns the time for new conditions (time.Now when nil).
	Now func() time.Time
}

// SetupWithManager registers the controller; it reconciles on spec changes (generation) only.
// conflictRetry is how soon a status update that lost a race is tried again.
const conflictRetry = 100 * time.Millisecond

func (r *RuleSetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("egressruleset-status").
		For(&v1alpha1.EgressRuleSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
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
