// Package kubesource is the sidecar's Kubernetes policy source: it watches EgressRuleSets in the pod's own
// namespace and in the global namespace, as the pod's service account, and hands the complete list of both
// to a policy.Sink on the first sync and after every change. While the API server is unreachable the
// informers keep their last lists, the sink is told (Failed) and Synced reports false; client-go's reflector
// retries with a bounded exponential backoff (0.8s doubling to 30s) and the next successful list or watch
// marks the source synced again and redelivers.
package kubesource
