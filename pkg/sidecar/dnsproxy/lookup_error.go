package dnsproxy

import (
	"context"
	"errors"
	"net"
)

// ErrNotFound is wrapped by the errors of lookups of names that do not exist (NXDOMAIN) or have no A or
// AAAA record. Test with IsNotFound or errors.Is.
var ErrNotFound = errors.New("no such host")

// LookupError is the error of a failed Resolver lookup. Its message starts with "DNS lookup of", so that
// it can be shown as is (e.g. in a 502 body). Err wraps ErrNotFound when the name does not resolve, and
// the upstreams' failures (timeouts, unreachable resolvers, SERVFAIL) otherwise.
type LookupError struct {
	// Name is the name looked up, as given.
	Name string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *LookupError) Error() string { return "DNS lookup of " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *LookupError) Unwrap() error { return e.Err }

// NotFound reports whether the name does not resolve, as opposed to the resolvers failing.
func (e *LookupError) NotFound() bool { return errors.Is(e.Err, ErrNotFound) }

// Timeout reports whether the lookup failed because the resolvers did not answer in time.
func (e *LookupError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &ne) && ne.Timeout())
}

// IsNotFound reports whether err says that a name does not resolve (it wraps ErrNotFound).
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
