//go:build !linux

package redirect

import (
	"errors"
	"net"
	"net/netip"
)

// OriginalDestination needs Linux conntrack; elsewhere it always fails.
func OriginalDestination(conn *net.TCPConn) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.New("original destination: only supported on Linux")
}
