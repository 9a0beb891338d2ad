// Package dnsproxy is the sidecar's DNS side: a proxy that answers *.egress.local with a never-routed
// sentinel address and forwards every other query to the pod's real resolvers, a bounded memory of the
// name→IP answers it has seen (so an opaque TCP connection to an IP can be tied to the name the app
// resolved, within that answer's TTL), and the resolver the sidecar itself uses to dial allowed names.
//
// Nothing here keeps global state: loggers, clocks and the metric hook are passed in.
package dnsproxy
