// Package sidecar is the egress data path: it accepts the connections egress-init redirects to it, reads
// their original destination, sniffs the protocol (TLS ClientHello, HTTP/1.x, or opaque TCP), decides each
// connection or request with pkg/policy, and then forwards it (HTTP through a pooled reverse proxy, with TLS
// origination for NAME.egress.local; TLS passed through untouched to the allowed name; opaque TCP to the
// original destination) or refuses it with an explanation. It also runs the DNS proxy (package dnsproxy),
// the admin server (metrics, readiness, recent decisions) and the policy sink that compiles rule sets.
//
// Pure logic (sniffing, Host handling, address ranges, label bounding, denial texts) lives in files apart
// from the socket code so it is tested without privileges. Loggers and metric registries are passed in.
package sidecar
