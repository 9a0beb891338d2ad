// Package testworld populates the "world" side of network-namespace tests and the demo: a test CA and server
// certificates, an nginx origin, a DNS server and TCP echo servers, all inside namespaces the caller created
// (see internal/netnstest) at 198.18.0.0/15 addresses. Every helper registers its own cleanup with t.
package testworld

import "egress.io/egress/internal/testenv"

// T is testenv.T, named here because most of this package's wrappers take one.
type T = testenv.T
