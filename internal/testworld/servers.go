package testworld

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"egress.io/egress/internal/dnstest"
	"egress.io/egress/internal/netnstest"
)

// StartDNS serves records (A/AAAA, NXDOMAIN otherwise) at addr on UDP and TCP inside namespace ns.
func StartDNS(t T, ns string, addr netip.AddrPort, records map[string][]netip.Addr, ttl time.Duration) *dnstest.Server {
	t.Helper()
	var srv *dnstest.Server
	if err := netnstest.Do(ns, func() error {
		srv = dnstest.Start(t, addr.String(), records, ttl)
		return nil
	}); err != nil {
		t.Fatalf("starting DNS at %s in %s: %v", addr, ns, err)
	}
	return srv
}

// ServeEcho answers every TCP connection at addr in namespace ns with "echo DATA from IP", where DATA is what
// it read until the client closed its sending side.
func ServeEcho(t T, ns string, addr netip.AddrPort) {
	t.Helper()
	ln := netnstest.Listen(t, ns, "tcp", addr.String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				data, _ := io.ReadAll(c)
				fmt.Fprintf(c, "echo %s from %s", data, addr.Addr())
			}()
		}
	}()
}

// Forward joins every connection accepted on ln to a new TCP connection to addr, both ways (a half-close
// is passed on), until ln is closed. It is how a namespace reaches a server outside it, such as the API
// server.
func Forward(ln net.Listener, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			go func() {
				io.Copy(up, c)
				up.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, up)
		}()
	}
}
