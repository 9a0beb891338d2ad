package sidecar

import (
	"context"
	"net"
	"net/netip"
	"time"

	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/sniff"
)

// lateClient handles a connection whose client had not said enough to classify it when --sniff-timeout
// ran out: a client that connects ahead of time (pools, browsers), or a protocol whose server speaks
// first. The connection is decided by whoever speaks first. If opaque TCP to the original destination is
// allowed, the upstream is connected now so that a server-first protocol can start; if the server speaks
// first, the connection is opaque TCP. If the client speaks first, its bytes are classified as if they had
// come at once: HTTP is decided per request, TLS by its SNI, and only what is neither is opaque TCP. A
// client that says nothing for --idle-timeout is closed.
func (d *dispatcher) lateClient(ctx context.Context, c *net.TCPConn, orig netip.AddrPort, peeked []byte) {
	opaque := d.streams.Decide(ctx, decide.Ask{Protocol: decide.TCP, Port: orig.Port(), Dst: orig})
	var up net.Conn
	if opaque.Verdict.Forwards() {
		dialCtx, cancel := context.WithTimeout(ctx, d.connTimeout*time.Duration(opaque.Verdict.Attempts()))
		var err error
		up, err = decide.Connect(dialCtx, opaque.Verdict, d.connTimeout)
		cancel()
		if err != nil {
			up = nil // decided again below, once the client speaks
		}
	}

	// The client's wait is bounded by the idle timeout; the server's first bytes cut it short.
	if err := c.SetReadDeadline(time.Now().Add(d.idleTimeout)); err != nil {
		closeBoth(c, up)
		return
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
	res, peeked, err := sniff.More(c, peeked, d.sniffBytes)
	c.SetReadDeadline(time.Time{})
	var serverFirst []byte
	if up != nil {
		up.SetReadDeadline(time.Now())
		serverFirst = <-fromServer
		up.SetReadDeadline(time.Time{})
	}
	switch {
	case err != nil:
		d.log.Debug("connection failed while sniffing", "destination", orig.String(), "error", err)
		closeBoth(c, up)
	case len(serverFirst) > 0 || res.Protocol == sniff.TCP:
		// Opaque TCP, as decided above (and, when the upstream could not be reached, connected again).
		d.streams.Finish(ctx, c, opaque, up, peeked, serverFirst)
	default:
		if up != nil {
			up.Close() // connected for a protocol the client does not speak
		}
		d.route(ctx, c, orig, res, peeked)
	}
}

// closeBoth closes the app's connection and, if there is one, the upstream.
func closeBoth(c *net.TCPConn, up net.Conn) {
	c.Close()
	if up != nil {
		up.Close()
	}
}
