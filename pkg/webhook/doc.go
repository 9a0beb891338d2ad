// Package webhook wires the egress webhook process: flags into a Config, and a controller-runtime manager
// serving the pod-injection webhook (pkg/inject) at /mutate-pods with in-process certificate rotation
// (cert-controller) or static certificates, health endpoints, metrics, and controllers: the namespace
// controller mirroring the egress.io/inject annotation to the label the MutatingWebhookConfiguration selects
// on, the rule-set access controllers keeping the RoleBindings that let injected namespaces read their own
// and the global namespace's rule sets (RuleSetAccess), and the EgressRuleSet controller writing
// status.conditions from policy.Compile.
package webhook
