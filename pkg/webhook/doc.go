// Package webhook wires the egress webhook process: flags into a Config, and a controller-runtime manager
// serving the pod-injection webhook (pkg/inject) at /mutate-pods with in-process certificate rotation
// (cert-controller) or static certificates, health endpoints, metrics, and controllers: the namespace
// controller mirroring the egress.io/inject annotation to the label the MutatingWebhookConfiguration selects
// on, the rule-set access controllers keeping the RoleBindings that let namespaces using the direct watch
// read their own and the global namespace's rule sets (RuleSetAccess), the policy CA controller publishing
// the CA of the policy service's certificate to every namespace (PolicyCAReconciler), and the EgressRuleSet
// controller writing status.conditions from policy.Compile. Every replica also runs the policy service
// (pkg/policyservice) on its own port, fed by the manager's EgressRuleSet informer.
package webhook
