package netnstest

import "egress.io/egress/internal/testenv"

// T is testenv.T, named here because most of this package's wrappers take one.
type T = testenv.T
