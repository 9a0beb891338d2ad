package redirect

import (
	"errors"
	"regexp"
	"strings"
)

// MissingError reports a prerequisite of interception that the pod lacks: a binary, a capability or
// kernel support. The pod must not start without interception, so egress-init exits non-zero on it.
type MissingError struct {
	What string // e.g. "capability NET_ADMIN", "kernel support for iptables extension REDIRECT"
	Err  error
}

// Error returns "missing WHAT: cause".
func (e *MissingError) Error() string {
	if e.Err == nil {
		return "missing " + e.What
	}
	return "missing " + e.What + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *MissingError) Unwrap() error { return e.Err }

// Patterns of iptables' error output that name a missing kernel feature.
var (
	missingExtension = regexp.MustCompile(`Extension (\S+) revision \d+ not supported`)
	missingMatch     = regexp.MustCompile("Couldn't load (match|target) `([^']+)'")
	missingTable     = regexp.MustCompile("can't initialize ip6?tables table `([^']+)'")
)

// explain wraps an iptables failure in a *MissingError when its output names what is missing, so the
// one-line error starts with it; other errors come back unchanged.
func explain(err error) error {
	if err == nil {
		return nil
	}
	if already := (*MissingError)(nil); errors.As(err, &already) {
		return err
	}
	msg := err.Error()
	var what string
	switch {
	case strings.Contains(msg, "Permission denied") || strings.Contains(msg, "you must be root") ||
		strings.Contains(msg, "Operation not permitted"):
		what = "capability NET_ADMIN"
	case missingExtension.MatchString(msg):
		what = "kernel support for iptables extension " + missingExtension.FindStringSubmatch(msg)[1]
	case missingMatch.MatchString(msg):
		m := missingMatch.FindStringSubmatch(msg)
		what = "kernel support for iptables " + m[1] + " " + m[2]
	case missingTable.MatchString(msg):
		what = "kernel support for the " + missingTable.FindStringSubmatch(msg)[1] + " table"
	case strings.Contains(msg, "Address family not supported"):
		what = "kernel support for the address family"
	default:
		return err
	}
	return &MissingError{What: what, Err: err}
}
