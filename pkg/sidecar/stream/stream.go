// Package stream forwards the connections the sidecar does not read: TLS passed through on its SNI and
// opaque TCP. Both take the same steps: decide (package decide), then connect to exactly the addresses
// decided on, record the one event, and join the two connections with splice(2) (package tunnel).
package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/record"
	"egress.io/egress/pkg/sidecar/telemetry"
	"egress.io/egress/pkg/sidecar/tunnel"
)

// Tracker knows the connections in progress, for draining.
type Tracker interface {
	Add(c io.Closer)
	Done(c io.Closer)
}

// Options are a Forwarder's dependencies and settings.
type Options struct {
	Decider  *decide.Decider
	Reporter *record.Reporter
	Metrics  *telemetry.Metrics
	Labels   *telemetry.Labels
	Log      *slog.Logger
	Tracker  Tracker // optional
	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Forwarder forwards TLS and opaque TCP connections.
type Forwarder struct {
	opts   Options
	joiner *tunnel.Joiner
}

// New returns a Forwarder.
func New(opts Options) (*Forwarder, error) {
	if opts.Decider == nil || opts.Reporter == nil || opts.Metrics == nil || opts.Labels == nil {
		return nil, errors.New("stream: Decider, Reporter, Metrics and Labels are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	joiner, err := tunnel.NewJoiner()
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	return &Forwarder{opts: opts, joiner: joiner}, nil
}

// Decided is a connection's verdict and its host's metric label.
type Decided struct {
	Verdict decide.Verdict
	Label   string
}

// Decide decides a TLS (ask.Name is the SNI) or TCP connection.
func (f *Forwarder) Decide(ctx context.Context, ask decide.Ask) Decided {
	m := f.opts.Decider.Policy()
	v := f.opts.Decider.DecideWith(ctx, m, ask)
	return Decided{Verdict: v, Label: f.opts.Labels.Host(m, v.Name, v.IP)}
}

// Forward decides c and forwards or refuses it. peeked are the bytes the sniffer already read from it.
func (f *Forwarder) Forward(ctx context.Context, c *net.TCPConn, ask decide.Ask, peeked []byte) {
	f.Finish(ctx, c, f.Decide(ctx, ask), nil, peeked, nil)
}

// Finish forwards c as decided, or refuses it. up, when not nil, is a connection to one of the verdict's
// addresses made already; fromServer are bytes the server sent on it before the app said anything.
func (f *Forwarder) Finish(ctx context.Context, c *net.TCPConn, dec Decided, up net.Conn, peeked, fromServer []byte) {
	v, label := dec.Verdict, dec.Label
	protocol, port := v.Protocol.String(), f.opts.Labels.Port(v.Port)
	if !v.Forwards() {
		if v.Err != nil {
			f.upstreamFailed(ctx, v, label, v.Err)
		} else {
			f.opts.Reporter.Report(ctx, v.Event(f.opts.Now(), netip.Addr{}))
			f.opts.Metrics.Conn(protocol, v.Action, label, port)
		}
		c.Close()
		return
	}
	if up == nil {
		dialCtx, cancel := context.WithTimeout(ctx, f.opts.ConnectTimeout*time.Duration(v.Attempts()))
		var err error
		up, err = decide.Connect(dialCtx, v, f.opts.ConnectTimeout)
		cancel()
		if err != nil {
			f.upstreamFailed(ctx, v, label, err)
			c.Close()
			return
		}
	}
	f.opts.Reporter.Report(ctx, v.Event(f.opts.Now(), addrOf(up)))
	f.opts.Metrics.Conn(protocol, v.Action, label, port)
	if v.Gateway != "" {
		f.opts.Metrics.Gateway(v.Gateway, protocol, telemetry.GatewayOK)
	}
	if len(fromServer) > 0 {
		n, err := c.Write(fromServer)
		f.opts.Metrics.Bytes(telemetry.DirectionReceived, label).Add(float64(n))
		if err != nil {
			c.Close()
			up.Close()
			return
		}
	}
	f.join(c, up, peeked, label)
}

// upstreamFailed records a connection that was allowed but could not be forwarded.
func (f *Forwarder) upstreamFailed(ctx context.Context, v decide.Verdict, label string, err error) {
	reason := decide.FailureReason(err)
	if v.Gateway != "" {
		f.opts.Metrics.Gateway(v.Gateway, v.Protocol.String(), telemetry.GatewayResult(reason))
	}
	f.opts.Reporter.Report(ctx, v.Event(f.opts.Now(), netip.Addr{}))
	f.opts.Metrics.UpstreamError(label, reason)
	f.opts.Metrics.Conn(v.Protocol.String(), v.Action, label, f.opts.Labels.Port(v.Port))
	f.opts.Log.LogAttrs(ctx, slog.LevelWarn, "upstream error", slog.String("reason", reason),
		slog.String("protocol", v.Protocol.String()), slog.String("host", v.Name),
		slog.String("port", strconv.Itoa(int(v.Port))), slog.String("gateway", v.Gateway), slog.String("error", err.Error()))
}

// join tunnels app and upstream, tracking the tunnel for draining. Two TCP sockets are joined by splice(2)
// and the call returns at once: an idle tunnel holds no goroutine. Anything else (a tunnel through a
// gateway) is copied through user space until it ends.
func (f *Forwarder) join(app *net.TCPConn, up net.Conn, peeked []byte, label string) {
	sentC := f.opts.Metrics.Bytes(telemetry.DirectionSent, label)
	receivedC := f.opts.Metrics.Bytes(telemetry.DirectionReceived, label)
	sent, received := func(n int64) { sentC.Add(float64(n)) }, func(n int64) { receivedC.Add(float64(n)) }
	ended := func(err error) {
		if err != nil {
			f.opts.Log.Debug("tunnel ended with an error", "upstream", up.RemoteAddr().String(), "error", err)
		}
	}
	upTCP, ok := up.(*net.TCPConn)
	if !ok {
		if f.opts.Tracker != nil {
			f.opts.Tracker.Add(up)
			defer f.opts.Tracker.Done(up)
		}
		ended(f.joiner.JoinConns(app, up, peeked, sent, received))
		return
	}
	var t *tunnel.Tunnel
	t = f.joiner.Tunnel(app, upTCP, sent, received, func(err error) {
		if f.opts.Tracker != nil {
			f.opts.Tracker.Done(t)
		}
		ended(err)
	})
	if f.opts.Tracker != nil {
		f.opts.Tracker.Add(t)
	}
	t.Start(peeked)
}

// addrOf returns the remote address of a connection: for a tunnel through a gateway, the gateway's.
func addrOf(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
