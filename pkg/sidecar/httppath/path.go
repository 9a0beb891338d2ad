// Package httppath is the sidecar's HTTP path. Every request on a connection is decided on its own Host (or
// absolute-form authority) by package decide, then forwarded to exactly the addresses decided on: plain
// HTTP to the named host, or, for NAME.egress.local, over TLS the sidecar originates and verifies.
//
// HTTP/1.x is served by the path's own connection loop (front.go) over its own pool of HTTP/1.1 upstream
// connections (pool.go): one goroutine per connection reads a request, writes it upstream, reads the
// response and writes it back, flushing whenever the upstream has nothing more buffered, so nothing is held
// back and a response that arrives whole leaves in one write. HTTP/2 with prior knowledge (h2c) is served
// by net/http's server and decided per stream (h2.go).
package httppath

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/record"
	"egress.io/egress/pkg/sidecar/telemetry"
)

// Options are the HTTP path's dependencies and settings.
type Options struct {
	Decider  *decide.Decider
	Reporter *record.Reporter
	Metrics  *telemetry.Metrics
	Labels   *telemetry.Labels
	Log      *slog.Logger
	// LocalSuffix asks for TLS origination: http://NAME.<suffix>/.
	LocalSuffix string
	// Roots verify the upstreams of TLS origination.
	Roots *x509.CertPool
	// ConnectTimeout bounds one TCP connection attempt; TLSHandshakeTimeout the origination handshake.
	ConnectTimeout      time.Duration
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an upstream's response headers; 0 waits as long as the app.
	ResponseHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections, from apps and to upstreams.
	IdleTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Timeouts of the app's side.
const (
	readHeaderTimeout = 30 * time.Second
	maxHeaderBytes    = 1 << 20
)

// Path serves the HTTP connections handed to it.
type Path struct {
	opts    Options
	pool    *pool
	workers *workers
	budget  *retryBudget
	h2      *h2Front
	mu      sync.Mutex
	conns   map[*clientConn]struct{}
	closed  bool          // Shutdown began: idle connections close, new requests are not read
	closing atomic.Bool   // closed, for reading without mu on every request
	empty   chan struct{} // closed once Shutdown began and no connection is left
}

// New returns a Path.
func New(opts Options) (*Path, error) {
	if opts.Decider == nil || opts.Reporter == nil || opts.Metrics == nil || opts.Labels == nil {
		return nil, errors.New("httppath: Decider, Reporter, Metrics and Labels are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tlsConfig := &tls.Config{
		RootCAs:            opts.Roots,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(tlsSessionCacheSize),
	}
	p := &Path{opts: opts, conns: map[*clientConn]struct{}{}, empty: make(chan struct{}), workers: newWorkers(), budget: newRetryBudget(opts.Now)}
	p.pool = newPool(tlsConfig, opts.ConnectTimeout, opts.TLSHandshakeTimeout, opts.IdleTimeout, opts.Now)
	p.h2 = newH2Front(p, tlsConfig)
	return p, nil
}

// Serve serves one connection whose original destination was orig until it closes. h2 says the client
// starts with the HTTP/2 preface. c's first bytes may be replayed by c itself (the sniffer's).
func (p *Path) Serve(ctx context.Context, c net.Conn, orig netip.AddrPort, h2 bool) {
	if h2 {
		p.h2.serve(c, orig)
		return
	}
	p.serveHTTP1(ctx, c, orig)
}

// CloseIdle drops the idle upstream connections, e.g. after a policy change: the next requests connect to
// what they are decided to.
func (p *Path) CloseIdle() {
	p.pool.closeIdle()
	p.h2.closeIdle()
}

// Run sweeps the upstream connections idle too long until ctx is done.
func (p *Path) Run(ctx context.Context) { p.pool.run(ctx) }

// Shutdown stops reading new requests: idle app connections are closed now, busy ones after their current
// response. It returns when none is left or ctx is done, then closes the rest and the pool.
func (p *Path) Shutdown(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	p.closing.Store(true)
	for cc := range p.conns {
		if cc.idle.Load() {
			cc.conn.Close()
		}
	}
	p.closeIfEmpty()
	p.mu.Unlock()
	p.h2.shutdown(ctx)
	select {
	case <-p.empty:
	case <-ctx.Done():
		p.mu.Lock()
		for cc := range p.conns {
			cc.conn.Close()
		}
		p.mu.Unlock()
	}
	p.pool.closeAll()
}

// closeIfEmpty signals Shutdown when it waits for nothing more; p.mu is held.
func (p *Path) closeIfEmpty() {
	if p.closed && len(p.conns) == 0 {
		select {
		case <-p.empty:
		default:
			close(p.empty)
		}
	}
}

// track registers a client connection; false when shutting down.
func (p *Path) track(cc *clientConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[cc] = struct{}{}
	return true
}

func (p *Path) untrack(cc *clientConn) {
	p.mu.Lock()
	delete(p.conns, cc)
	p.closeIfEmpty()
	p.mu.Unlock()
}

// shuttingDown reports whether Shutdown began.
func (p *Path) shuttingDown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// matcher returns the policy in force.
func (p *Path) matcher() *policy.Matcher { return p.opts.Decider.Policy() }
