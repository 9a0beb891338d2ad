// Package servicesource is the sidecar's policy source for the policy service (--policy-service): it
// streams the rule sets of the pod's namespace and of the global namespace from the service
// (pkg/policystream's protocol), authenticated by the pod's projected service-account token, and hands each
// snapshot to a policy.Sink. Next to pkg/kubesource (the direct watch) and pkg/filesource (a rules file).
//
// Resilience: the sink keeps the last snapshot while the stream is down, so what the sidecar enforces does
// not change when a replica restarts or the whole service is unavailable; Source reports how stale it is
// (Stale, Detail, egress_policy_stale_seconds). It reconnects with exponential backoff and full jitter
// (200 ms doubling to 5 s), sending the version it has so an unchanged policy costs one short line; when
// the service asks it to reconnect (its token expires, the replica shuts down) or an established stream
// breaks, it reconnects within a random second. Until the first snapshot the sink has nothing, which
// denies everything and keeps the sidecar unready.
package servicesource
