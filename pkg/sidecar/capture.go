package sidecar

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/httppath"
	"egress.io/egress/pkg/sidecar/record"
	"egress.io/egress/pkg/sidecar/sniff"
	"egress.io/egress/pkg/sidecar/stream"
	"egress.io/egress/pkg/sidecar/telemetry"
)

// dispatcher takes each captured connection to its path: it reads the original destination, refuses
// loops, sniffs the protocol and hands the connection to the HTTP path or to the stream forwarder.
type dispatcher struct {
	origDst      func(*net.TCPConn) (netip.AddrPort, error)
	decider      *decide.Decider
	http         *httppath.Path
	streams      *stream.Forwarder
	reporter     *record.Reporter
	metrics      *telemetry.Metrics
	labels       *telemetry.Labels
	tracker      *connTracker
	log          *slog.Logger
	now          func() time.Time
	sentinels    []netip.Addr // what the DNS proxy answers for NAME.egress.local
	serverFirst  map[uint16]bool
	sniffTimeout time.Duration
	sniffBytes   int
	idleTimeout  time.Duration
	connTimeout  time.Duration
}

// serveCapture accepts redirected connections until the listener is closed.
func (d *dispatcher) serveCapture(ctx context.Context, ln *net.TCPListener) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Warn("accept failed", "error", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		go d.handle(ctx, c)
	}
}

// handle reads a captured connection's original destination, sniffs it and hands it to its path.
func (d *dispatcher) handle(ctx context.Context, c *net.TCPConn) {
	d.tracker.Add(c)
	defer d.tracker.Done(c)
	orig, err := d.origDst(c)
	if err != nil {
		d.log.Warn("connection without an original destination closed", "client", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	orig = netip.AddrPortFrom(orig.Addr().Unmap(), orig.Port())
	if v, loop := d.decider.Loop(orig); loop {
		d.reporter.Report(ctx, v.Event(d.now(), netip.Addr{}))
		d.metrics.Conn(v.Protocol.String(), v.Action, "", d.labels.Port(orig.Port()))
		c.Close()
		return
	}

	var res sniff.Result
	var peeked []byte
	switch {
	case d.isSentinel(orig.Addr()):
		// Only NAME.egress.local resolves to a sentinel, and it is only for plain HTTP: no need to wait
		// for the client's first bytes, which may come late (connection pools, browsers).
		res = sniff.Result{Protocol: sniff.HTTP}
	case d.serverFirst[orig.Port()]:
		res = sniff.Result{Protocol: sniff.TCP, Why: sniff.WhyServerFirst}
	default:
		if res, peeked, err = sniff.Read(c, d.sniffTimeout, d.sniffBytes); err != nil {
			d.log.Debug("connection failed while sniffing", "destination", orig.String(), "error", err)
			c.Close()
			return
		}
	}
	if res.Protocol == sniff.TCP && res.Why == sniff.WhyTimeout {
		d.lateClient(ctx, c, orig, peeked)
		return
	}
	d.route(ctx, c, orig, res, peeked)
}

// route hands a sniffed connection to the path of its protocol.
func (d *dispatcher) route(ctx context.Context, c *net.TCPConn, orig netip.AddrPort, res sniff.Result, peeked []byte) {
	switch res.Protocol {
	case sniff.HTTP:
		d.http.Serve(ctx, sniff.Replay(c, peeked), orig, res.H2)
	case sniff.TLS:
		d.streams.Forward(ctx, c, decide.Ask{Protocol: decide.TLS, Name: res.SNI, Port: orig.Port(), Dst: orig}, peeked)
	default:
		d.log.Debug("opaque connection", "destination", orig.String(), "why", res.Why)
		d.streams.Forward(ctx, c, decide.Ask{Protocol: decide.TCP, Port: orig.Port(), Dst: orig}, peeked)
	}
}

// isSentinel reports whether addr is an address the DNS proxy answers for NAME.egress.local.
func (d *dispatcher) isSentinel(addr netip.Addr) bool {
	for _, s := range d.sentinels {
		if s == addr {
			return true
		}
	}
	return false
}
