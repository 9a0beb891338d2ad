// Package testworld populates the "world" side of network-namespace tests and the demo: a test CA and server
// certificates, an nginx origin, a DNS server and TCP echo servers, all inside namespaces the caller created
// (see internal/netnstest) at 198.18.0.0/15 addresses. Every helper registers its own cleanup with t.
package testworld

import "egress.io/egress/internal/netnstest"

// T is what the helpers need of a test (or of the demo, which implements it with its own cleanup stack).
type T interface {
	netnstest.T
	Logf(format string, args ...any)
	Failed() bool
}
