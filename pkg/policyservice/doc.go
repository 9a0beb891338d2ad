// Package policyservice is the policy service: it holds the cluster's EgressRuleSets as one watch delivers
// them (Hub, fed by EventHandler) and streams to each authenticated sidecar the rule sets of its pod's
// namespace and of the global namespace (Server, protocol in pkg/policystream).
//
// One Hub per replica. Each namespace that has sidecars connected has a view: its current snapshot, encoded
// once and written to every stream of that namespace. Changes are coalesced: the first change after a quiet
// period opens a window (Options.Coalesce, 20 ms by default) in which further changes join it; then every
// affected view is rebuilt once (a change in the global namespace affects them all) and its streams are
// told. A stream that is still writing an earlier snapshot when a newer one comes skips to the newest. A
// view whose content did not change (a status update, a relist) keeps its version and nobody is told.
//
// Replicas need no leader and share nothing: each has its own watch, and equal content has the same
// version everywhere, so a sidecar that moves to another replica with the version it has gets "current".
// Nothing is served before the watch has synced, so a replica that starts never hands out an empty policy.
package policyservice
