package sidecar

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"egress.io/egress/pkg/policy"
)

// serveCapture accepts redirected connections until the listener is closed.
func (e *engine) serveCapture(ctx context.Context, ln *net.TCPListener) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.log.Warn("accept failed", "error", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		go e.handleConn(ctx, c)
	}
}

// handleConn reads a captured connection's original destination, sniffs it and hands it to its path.
func (e *engine) handleConn(ctx context.Context, c *net.TCPConn) {
	e.tracker.Add(c)
	handedOver := false
	defer func() {
		if !handedOver {
			e.tracker.Done(c)
		}
	}()
	orig, err := e.origDst(c)
	if err != nil {
		e.log.Warn("connection without an original destination closed", "client", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	orig = netip.AddrPortFrom(orig.Addr().Unmap(), orig.Port())
	if e.isLoop(orig) {
		d := policy.Decision{IP: orig.Addr(), Port: orig.Port()}
		e.reportRefusal(ctx, ProtoTCP.String(), reasonLoop, d, orig.Addr(), "")
		e.countConn(ProtoTCP, policy.Deny, "", orig.Port())
		c.Close()
		return
	}

	var res SniffResult
	var peeked []byte
	switch {
	case e.isSentinel(orig.Addr()):
		// Only NAME.egress.local resolves to a sentinel, and it is only for plain HTTP: no need to wait
		// for the client's first bytes, which may come late (connection pools, browsers).
		res = SniffResult{Protocol: ProtoHTTP}
	case e.serverFirst[orig.Port()]:
		res = SniffResult{Protocol: ProtoTCP, Why: WhyServerFirst}
	default:
		if res, peeked, err = sniff(c, e.cfg.SniffTimeout, e.cfg.SniffBytes); err != nil {
			e.log.Debug("connection failed while sniffing", "destination", orig.String(), "error", err)
			c.Close()
			return
		}
	}
	if res.Protocol == ProtoTCP && res.Why == WhyTimeout {
		handedOver = e.lateClient(ctx, c, orig, peeked)
		return
	}
	handedOver = e.route(ctx, c, orig, res, peeked)
}

// route hands a sniffed connection to the path of its protocol, and reports whether the HTTP server took
// it over (then the connection is untracked when the server closes it).
func (e *engine) route(ctx context.Context, c *net.TCPConn, orig netip.AddrPort, res SniffResult, peeked []byte) bool {
	switch res.Protocol {
	case ProtoHTTP:
		cc := &capturedConn{TCPConn: c, orig: orig, peeked: peeked, tap: newHeadTap(), tracker: e.tracker}
		if err := e.httpListener.Put(cc); err != nil {
			c.Close()
			return false
		}
		return true
	case ProtoTLS:
		e.passthrough(ctx, c, orig, res.SNI, peeked)
	default:
		e.opaque(ctx, c, orig, res.Why, peeked)
	}
	return false
}

// isSentinel reports whether addr is an address the DNS proxy answers for NAME.egress.local.
func (e *engine) isSentinel(addr netip.Addr) bool {
	for _, s := range e.sentinels {
		if s == addr {
			return true
		}
	}
	return false
}

// isLoop reports whether a captured connection was headed for loopback or the sidecar itself: egress-init
// never redirects loopback, so such a connection reached the capture port directly, and forwarding it
// would connect the sidecar to itself.
func (e *engine) isLoop(orig netip.AddrPort) bool {
	addr := orig.Addr()
	return addr.IsLoopback() || addr.IsUnspecified() || e.isSelf(orig)
}

// countConn counts a TLS or TCP connection decision.
func (e *engine) countConn(p Protocol, action policy.Action, host string, port uint16) {
	e.metrics.connections.WithLabelValues(p.String(), action.String(), host, e.labels.Port(port)).Inc()
}

// dialFailed records a connection that was allowed but could not be forwarded.
func (e *engine) dialFailed(ctx context.Context, p Protocol, d policy.Decision, label string, orig netip.AddrPort, err error) {
	var refused *refusedAddrError
	if errors.As(err, &refused) {
		e.reportRefusal(ctx, p.String(), reasonPrivateAddress, d, refused.Addr, refused.Suggestion())
		e.countConn(p, policy.Deny, label, orig.Port())
		return
	}
	reason, _ := upstreamFailure(err)
	e.metrics.upstreamErrors.WithLabelValues(label, reason).Inc()
	e.countConn(p, d.Action, label, orig.Port())
	e.log.LogAttrs(ctx, slog.LevelWarn, "upstream error", slog.String("reason", reason),
		slog.String("protocol", p.String()), slog.String("host", d.Name), slog.String("destination", orig.String()),
		slog.String("error", err.Error()))
}

// forward tunnels app and upstream until both are done, tracking the upstream for draining.
func (e *engine) forward(app, up *net.TCPConn, peeked []byte, label string) {
	e.tracker.Add(up)
	defer e.tracker.Done(up)
	sent := e.metrics.bytes.WithLabelValues(directionSent, label)
	received := e.metrics.bytes.WithLabelValues(directionReceived, label)
	err := tunnel(e.pipes, app, up, peeked, func(n int64) { sent.Add(float64(n)) }, func(n int64) { received.Add(float64(n)) })
	if err != nil {
		e.log.Debug("tunnel ended with an error", "upstream", up.RemoteAddr().String(), "error", err)
	}
}

// addrOf returns the remote address of a connection.
func addrOf(c *net.TCPConn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
