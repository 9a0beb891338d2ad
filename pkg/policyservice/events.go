package policyservice

import (
	"k8s.io/client-go/tools/cache"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policystream"
)

// EventHandler feeds the hub from an EgressRuleSet informer (the webhook manager's cache shares one watch
// with the rule-set status controller). Call h.MarkSynced once the informer has synced.
func (h *Hub) EventHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    h.onSet,
		UpdateFunc: func(_, obj any) { h.onSet(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if rs, ok := obj.(*v1alpha1.EgressRuleSet); ok {
				h.Delete(rs.Namespace, rs.Name)
			}
		},
	}
}

func (h *Hub) onSet(obj any) {
	if rs, ok := obj.(*v1alpha1.EgressRuleSet); ok {
		h.Set(policystream.FromObject(rs))
	}
}
