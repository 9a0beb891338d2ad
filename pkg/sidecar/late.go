package sidecar

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// lateClient handles a connection whose client had not said enough to classify it when --sniff-timeout
// ran out: a client that connects ahead of time (pools, browsers), or a protocol whose server speaks
// first. The connection is decided by whoever speaks first. If opaque TCP to the original destination is
// allowed, the upstream is dialled now so that a server-first protocol can start; if the server speaks
// first, the connection is opaque TCP. If the client speaks first, its bytes are classified as if they had
// come at once: HTTP is decided per request, TLS by its SNI, and only what is neither is opaque TCP. A
// client that says nothing for --idle-timeout is closed. It reports whether the HTTP server took the
// connection over.
func (e *engine) lateClient(ctx context.Context, c *net.TCPConn, orig netip.AddrPort, peeked []byte) bool {
	v := e.decideOpaque(e.matcher(), orig)
	var up *net.TCPConn
	if v.forwards() {
		dialCtx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
		var err error
		up, err = e.dialer.DialAddr(dialCtx, orig)
		cancel()
		if err != nil {
			e.dialFailed(ctx, ProtoTCP, v.d, v.label, orig, err)
			c.Close()
			return false
		}
	}

	// The client's wait is bounded by the idle timeout; the server's first bytes cut it short.
	if err := c.SetReadDeadline(time.Now().Add(e.cfg.IdleTimeout)); err != nil {
		e.closeBoth(c, up)
		return false
	}
	var fromServer chan []byte
	if up != nil {
		fromServer = make(chan []byte, 1)
		go func() {
			buf := make([]byte, 4096)
			n, _ := up.Read(buf) // an error (the deadline below, or the server closing) leaves n == 0
			if n > 0 {
				c.SetReadDeadline(time.Now()) // the server spoke first: stop waiting for the client
			}
			fromServer <- buf[:n]
		}()
	}
	res, peeked, err := sniffMore(c, peeked, e.cfg.SniffBytes)
	c.SetReadDeadline(time.Time{})
	var serverFirst []byte
	if up != nil {
		up.SetReadDeadline(time.Now())
		serverFirst = <-fromServer
		up.SetReadDeadline(time.Time{})
	}
	switch {
	case err != nil:
		e.log.Debug("connection failed while sniffing", "destination", orig.String(), "error", err)
		e.closeBoth(c, up)
	case len(serverFirst) > 0 || res.Protocol == ProtoTCP:
		if up == nil {
			e.refuseOpaque(ctx, c, orig, v)
		} else {
			e.forwardOpaque(ctx, c, up, orig, v, peeked, serverFirst)
		}
	default:
		if up != nil {
			up.Close() // dialled for a protocol the client did not speak
		}
		return e.route(ctx, c, orig, res, peeked)
	}
	return false
}

// closeBoth closes the app's connection and, if there is one, the upstream.
func (e *engine) closeBoth(c, up *net.TCPConn) {
	c.Close()
	if up != nil {
		up.Close()
	}
}
