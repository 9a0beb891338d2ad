// Package dnslisten binds the UDP and TCP sockets of a DNS server on one port, for the sidecar's DNS proxy
// and the tests' DNS server alike.
package dnslisten

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// maxPortAttempts bounds how often Pair retries when the TCP side of a kernel-chosen port is taken.
const maxPortAttempts = 10

// Pair binds UDP and TCP on addr (host:port, host an IP literal), as a DNS server does. With port 0 the kernel chooses the
// UDP port and TCP binds the same one, retrying with a new port if another socket holds it.
func Pair(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	ctx := context.Background()
	for attempt := 1; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listening on UDP: %w", err)
		}
		tcpAddr := addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := lc.Listen(ctx, "tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if port != "0" || attempt == maxPortAttempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("listening on TCP %s: %w", tcpAddr, err)
		}
	}
}
