//go:build linux

package redirect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST
// (linux/netfilter_ipv6/ip6_tables.h); golang.org/x/sys/unix defines neither.
const soOriginalDst = 80

// OriginalDestination returns where conn was going before nat redirected it to the capture port:
// the destination conntrack recorded for the connection (SO_ORIGINAL_DST at SOL_IP for IPv4, including
// IPv4 connections on a dual-stack socket, IP6T_SO_ORIGINAL_DST at SOL_IPV6 for IPv6). For a connection
// nat did not rewrite it returns conn's own local address; without a conntrack entry it fails with
// ENOENT. The sidecar calls it on every accepted connection.
func OriginalDestination(conn *net.TCPConn) (netip.AddrPort, error) {
	local, ok := conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, errors.New("original destination: connection has no TCP local address")
	}
	level, size := unix.SOL_IPV6, unix.SizeofSockaddrInet6
	if local.IP.To4() != nil {
		level, size = unix.SOL_IP, unix.SizeofSockaddrInet4
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination: %w", err)
	}
	var (
		buf    [unix.SizeofSockaddrInet6]byte
		length = uint32(size)
		errno  unix.Errno
	)
	err = raw.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), soOriginalDst,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&length)), 0)
	})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination: %w", err)
	}
	if errno != 0 {
		return netip.AddrPort{}, fmt.Errorf("original destination: getsockopt SO_ORIGINAL_DST: %w", errno)
	}
	return parseSockaddr(buf[:length])
}

// parseSockaddr decodes a struct sockaddr_in or sockaddr_in6: family in host order, port and address in
// network order.
func parseSockaddr(b []byte) (netip.AddrPort, error) {
	if len(b) < 8 {
		return netip.AddrPort{}, fmt.Errorf("original destination: short sockaddr (%d bytes)", len(b))
	}
	family := *(*uint16)(unsafe.Pointer(&b[0]))
	port := binary.BigEndian.Uint16(b[2:4])
	switch {
	case family == unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), nil
	case family == unix.AF_INET6 && len(b) >= unix.SizeofSockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), port), nil
	}
	return netip.AddrPort{}, fmt.Errorf("original destination: unexpected address family %d", family)
}
