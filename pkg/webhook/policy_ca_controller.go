package webhook

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"egress.io/egress/pkg/inject"
)

// The policy CA ConfigMaps' label and field manager.
const (
	LabelPolicyCA         = "egress.io/policy-ca"
	PolicyCAFieldOwner    = "egress-policy-ca"
	policyCACheckInterval = 30 * time.Second
)

// PolicyCAReconciler keeps, in every namespace the webhook may inject (not excluded, not being deleted),
// the ConfigMap inject.PolicyCAConfigMap holding the CA that signs the policy service's certificate
// (ca.crt of --cert-dir), which injected pods mount next to their token: the way kube-root-ca.crt reaches
// every namespace. It is in every such namespace, not only enabled ones, because a single pod may opt in
// anywhere (its label) and its volume needs the ConfigMap before it starts. A ConfigMap changed or deleted
// by hand is put back; one in a namespace that becomes excluded is deleted; a renewed CA reaches every
// namespace within CACheckInterval.
type PolicyCAReconciler struct {
	Client client.Client
	// CAFile is the CA's PEM file (--cert-dir/ca.crt).
	CAFile string
	// ExcludedNamespaces are never injected, so they get no ConfigMap.
	ExcludedNamespaces []string
	Log                logr.Logger
	// CACheckInterval is how often CAFile is checked for a new CA. Default 30 s.
	CACheckInterval time.Duration
}

// PolicyCASelector selects the ConfigMaps the reconciler keeps; the manager's cache watches only those.
func PolicyCASelector() labels.Selector {
	managed, _ := labels.NewRequirement(LabelManagedBy, selection.Equals, []string{ManagedBy})
	ca, _ := labels.NewRequirement(LabelPolicyCA, selection.Equals, []string{"true"})
	return labels.NewSelector().Add(*managed, *ca)
}

// SetupWithManager registers the controller: requests are namespace names, from namespace events, from
// events of the managed ConfigMaps, and from every namespace when the CA file changes.
func (r *PolicyCAReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.CACheckInterval <= 0 {
		r.CACheckInterval = policyCACheckInterval
	}
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: obj.GetNamespace()}}}
	})
	caChanged := make(chan event.TypedGenericEvent[*corev1.Namespace])
	allNamespaces := handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, _ *corev1.Namespace) []reconcile.Request {
		var list corev1.NamespaceList
		if err := mgr.GetClient().List(ctx, &list); err != nil {
			r.Log.Error(err, "listing namespaces for a new policy CA")
			return nil
		}
		out := make([]reconcile.Request, len(list.Items))
		for i := range list.Items {
			out[i] = reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}}
		}
		return out
	})
	if err := mgr.Add(&caWatcher{file: r.CAFile, interval: r.CACheckInterval, changed: caChanged}); err != nil {
		return err
	}
	relevant := predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return true },
		DeleteFunc: func(event.DeleteEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return (e.ObjectOld.GetDeletionTimestamp() == nil) != (e.ObjectNew.GetDeletionTimestamp() == nil)
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("policy-ca").
		For(&corev1.Namespace{}, builder.WithPredicates(relevant)).
		Watches(&corev1.ConfigMap{}, toNamespace).
		WatchesRawSource(source.Channel(caChanged, allNamespaces)).
		Complete(r)
}

// Reconcile applies or deletes the namespace's ConfigMap.
func (r *PolicyCAReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	err := r.Client.Get(ctx, req.NamespacedName, ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading namespace %s: %w", req.Name, err)
	}
	want := err == nil && ns.DeletionTimestamp == nil && !slices.Contains(r.ExcludedNamespaces, req.Name)

	current := &corev1.ConfigMap{}
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: req.Name, Name: inject.PolicyCAConfigMap}, current)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading ConfigMap %s/%s: %w", req.Name, inject.PolicyCAConfigMap, err)
	}
	found := err == nil // the cache holds only ConfigMaps labelled as ours
	if !want {
		if found && ns.DeletionTimestamp == nil {
			if err := r.Client.Delete(ctx, current, client.Preconditions{UID: &current.UID}); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("deleting ConfigMap %s/%s: %w", req.Name, inject.PolicyCAConfigMap, err)
			}
			r.Log.Info("removed the policy CA", "namespace", req.Name)
		}
		return ctrl.Result{}, nil
	}
	ca, err := os.ReadFile(r.CAFile)
	if err != nil || len(bytes.TrimSpace(ca)) == 0 {
		// The rotator has not written the Secret yet, or the kubelet has not mounted it.
		r.Log.V(1).Info("no policy CA to publish yet", "file", r.CAFile, "error", err)
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	if found && current.Data[inject.PolicyCAKey] == string(ca) && current.Labels[LabelManagedBy] == ManagedBy && current.Labels[LabelPolicyCA] == "true" {
		return ctrl.Result{}, nil
	}
	ac := corev1ac.ConfigMap(inject.PolicyCAConfigMap, req.Name).
		WithLabels(map[string]string{LabelManagedBy: ManagedBy, LabelPolicyCA: "true"}).
		WithData(map[string]string{inject.PolicyCAKey: string(ca)})
	if err := r.Client.Apply(ctx, ac, client.FieldOwner(PolicyCAFieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying ConfigMap %s/%s: %w", req.Name, inject.PolicyCAConfigMap, err)
	}
	r.Log.V(1).Info("published the policy CA", "namespace", req.Name, "existed", found)
	return ctrl.Result{}, nil
}

// caWatcher sends an event when the CA file's content changes (the rotator renewed the CA and the kubelet
// updated the mounted Secret). It runs with the controller, on the leader.
type caWatcher struct {
	file     string
	interval time.Duration
	changed  chan<- event.TypedGenericEvent[*corev1.Namespace]
}

func (w *caWatcher) Start(ctx context.Context) error {
	last, _ := os.ReadFile(w.file)
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		now, err := os.ReadFile(w.file)
		if err != nil || bytes.Equal(now, last) {
			continue
		}
		last = now
		select {
		case w.changed <- event.TypedGenericEvent[*corev1.Namespace]{Object: &corev1.Namespace{}}:
		case <-ctx.Done():
			return nil
		}
	}
}
