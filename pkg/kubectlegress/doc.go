// Package kubectlegress is the kubectl plugin `kubectl egress`: suggest (a rule set from what a workload's
// sidecars denied or audited), why (which rule set and target allow a destination for a pod, or what
// would) and status (injected pods, their sidecars' readiness and policy versions, rule sets, top denied
// targets). It talks only to the API server: the sidecars' /summary through the pods/proxy subresource,
// everything else through the API. Decisions are made with the sidecar's own code (policy.Select,
// policy.Compile, Matcher.Decide, package decide and addrclass) over the pod's labels, the sidecar's own
// arguments as the pod spec gives them, and the live rule sets.
package kubectlegress
