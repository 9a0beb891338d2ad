// Package policystream is the wire protocol between the policy service (pkg/policyservice) and the
// sidecar's service source (pkg/servicesource): one HTTP/1.1 GET over TLS whose response body is a stream
// of frames, one JSON object per line.
//
//	GET /v1/policy?namespace=shop&version=sha256:3f2a... HTTP/1.1
//	Authorization: Bearer <the pod's projected service-account token, audience egress.io/policy>
//
//	HTTP/1.1 200 OK
//	Content-Type: application/x-ndjson
//	Connection: close
//
//	{"type":"snapshot","version":"sha256:...","namespace":"shop","globalNamespace":"egress-system","ruleSets":[...]}
//	{"type":"heartbeat"}
//	{"type":"snapshot",...}
//	{"type":"reconnect","reason":"token expires"}
//
// The namespace comes from the token; the namespace parameter only lets a misconfigured client hear that
// it asked for another (403). version is the snapshot the client already has: when it is still current the
// first frame is "current" instead of the whole snapshot, so a reconnect after an outage or a replica's
// restart costs a line. A snapshot is complete (every rule set of the pod's namespace and of the global
// namespace), never a delta; its version is a digest of its content, so every replica gives the same
// content the same version. Heartbeats come every HeartbeatInterval; a client that hears nothing for
// IdleTimeout reconnects. "reconnect" asks the client to reconnect at once (with a little jitter): the
// token the stream was opened with expires, or the replica is shutting down.
//
// Errors before the stream are plain HTTP: 401 for a refused token (the body says why), 403 for another
// namespace, 503 while the service cannot serve (not synced, TokenReview unavailable, full), 404/405 for
// anything but GET /v1/policy.
//
// Why not gRPC or HTTP/2: google.golang.org/grpc is not among the project's dependencies, and net/http's
// HTTP/2 server holds about 60 KB per idle stream (three goroutines and their buffers), against the
// service's budget of 25 KB per connected sidecar; a stream over HTTP/1.1 served by an accept loop of our own
// costs one goroutine and the TLS state, about 10 KB (docs/policy-service.md, "Protocol").
package policystream
