package dnsproxy

import (
	"errors"
	"syscall"
)

// ipv6Unavailable reports whether a bind failed because the host has no IPv6 (disabled by sysctl or not
// built in), rather than for a reason an operator must fix.
func ipv6Unavailable(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT) ||
		errors.Is(err, syscall.EPROTONOSUPPORT)
}
