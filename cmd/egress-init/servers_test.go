package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"egress.io/egress/internal/netnstest"
	"egress.io/egress/pkg/redirect"
)

// tcpServer counts and answers the connections of a listener inside a namespace.
type tcpServer struct {
	accepted atomic.Int32
}

// serveTCP listens at addr inside ns. Each connection is read to its end (so closing it sends FIN, not
// RST) and answered with name.
func serveTCP(t *testing.T, ns string, addr netip.AddrPort, name string) *tcpServer {
	t.Helper()
	return listenTCP(t, ns, addr, func(*net.TCPConn) string { return name })
}

// serveRedirected is serveTCP for a listener that redirected connections reach, as the sidecar's: it
// answers name, a space, and the connection's original destination (redirect.OriginalDestination).
func serveRedirected(t *testing.T, ns string, addr netip.AddrPort, name string) *tcpServer {
	t.Helper()
	return listenTCP(t, ns, addr, func(conn *net.TCPConn) string {
		original, err := redirect.OriginalDestination(conn)
		if err != nil {
			return name + " " + err.Error()
		}
		return name + " " + original.String()
	})
}

func listenTCP(t *testing.T, ns string, addr netip.AddrPort, answer func(*net.TCPConn) string) *tcpServer {
	t.Helper()
	ln := netnstest.Listen(t, ns, "tcp", addr.String())
	s := &tcpServer{}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(2 * time.Second))
				io.Copy(io.Discard, conn)
				io.WriteString(conn, answer(conn.(*net.TCPConn)))
			}()
		}
	}()
	return s
}

// udpServer counts and answers the datagrams sent to a socket inside a namespace.
type udpServer struct {
	received atomic.Int32
}

// serveUDP listens at addr inside ns and answers each datagram with name.
func serveUDP(t *testing.T, ns string, addr netip.AddrPort, name string) *udpServer {
	t.Helper()
	conn := netnstest.ListenPacket(t, ns, "udp", addr.String())
	s := &udpServer{}
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			s.received.Add(1)
			conn.WriteTo([]byte(name), from)
		}
	}()
	return s
}

// settle gives packets that should not arrive the time they would need to, before counting them.
func settle() { time.Sleep(200 * time.Millisecond) }

// dial runs the "tcp" helper in ns as uid:gid against addr and returns the server's answer.
func dial(ns string, uid, gid int, addr netip.AddrPort) (string, error) {
	return netnstest.Helper(ns, uid, gid, "tcp", addr.String(), fmt.Sprintf("hello from %d", uid))
}

// send runs the "udp" helper in ns as uid:gid against addr and returns the answer.
func send(ns string, uid, gid int, addr netip.AddrPort) (string, error) {
	return netnstest.Helper(ns, uid, gid, "udp", addr.String(), fmt.Sprintf("hello from %d", uid))
}
