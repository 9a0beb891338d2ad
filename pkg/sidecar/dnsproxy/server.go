package dnsproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"

	"egress.io/egress/internal/dnslisten"
)

const (
	// maxInflightForwards bounds the queries being forwarded at once; beyond it queries get SERVFAIL
	// at once instead of piling up goroutines waiting for slow upstreams.
	maxInflightForwards = 1024
	// shutdownGrace bounds how long Run waits for in-flight queries when its context ends.
	shutdownGrace = 2 * time.Second
)

// Server is the DNS proxy: it answers the local suffix itself and forwards everything else to the
// upstreams, remembering their answers in a Cache. Create it with New, then Run it.
type Server struct {
	cfg     Config
	suffix  string // normalised cfg.LocalSuffix
	cache   *Cache
	log     *slog.Logger
	observe func(result string)
	// exchange forwards one query; tests replace it to feed the handler without sockets.
	exchange func(ctx context.Context, req *dns.Msg, network string) (*dns.Msg, string, error)
	inflight chan struct{}
	ready    chan struct{}
	// ctx is the context of forwarded queries: Run's once it runs. It is written before any listener
	// starts, so handlers read it without a lock.
	ctx context.Context

	mu      sync.Mutex
	bound   []socketPair
	running bool
	closed  bool
}

// socketPair is the UDP and TCP socket of one listen address, on the same port.
type socketPair struct {
	pc net.PacketConn
	ln net.Listener
}

// New returns a Server for cfg (zero fields take their defaults; empty Upstreams are read from
// cfg.ResolvConf). cache may be nil (nothing is remembered), logger may be nil (nothing is logged), and
// observe, when not nil, is called once per query with one of the Result labels.
func New(cfg Config, cache *Cache, logger *slog.Logger, observe func(result string)) (*Server, error) {
	cfg = cfg.WithDefaults()
	cfg.ListenAddrs = slices.Clone(cfg.ListenAddrs)
	cfg.Upstreams = slices.Clone(cfg.Upstreams)
	if len(cfg.Upstreams) == 0 {
		ups, err := ReadResolvConf(cfg.ResolvConf)
		if err != nil {
			return nil, fmt.Errorf("no Config.Upstreams, and Config.ResolvConf: %w", err)
		}
		cfg.Upstreams = ups
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if observe == nil {
		observe = func(string) {}
	}
	s := &Server{
		cfg:      cfg,
		suffix:   normalizeSuffix(cfg.LocalSuffix),
		cache:    cache,
		log:      logger,
		observe:  observe,
		inflight: make(chan struct{}, maxInflightForwards),
		ready:    make(chan struct{}),
		ctx:      context.Background(),
	}
	s.exchange = newUpstreams(cfg.Upstreams, cfg.Timeout, logger).exchange
	return s, nil
}

// Config returns the configuration in effect: defaults applied and upstreams read.
func (s *Server) Config() Config {
	c := s.cfg
	c.ListenAddrs = slices.Clone(c.ListenAddrs)
	c.Upstreams = slices.Clone(c.Upstreams)
	return c
}

// Listen binds a UDP and a TCP socket on every listen address, the same port for both (with port 0 the
// kernel picks one for UDP and TCP takes the same). Run calls it when it has not been called; calling it
// first lets the caller fail early on a busy port and learn the ports (Addrs) before Run. The sockets are
// closed when Run returns, or by Close if Run is not called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("DNS proxy: Listen called after Close")
	}
	if s.bound != nil {
		return nil
	}
	var bound []socketPair
	for _, addr := range s.cfg.ListenAddrs {
		pc, ln, err := dnslisten.Pair(addr)
		if err != nil {
			if ap, perr := parseHostPort(addr); perr == nil && ap.Addr().Is6() && ipv6Unavailable(err) {
				s.log.Warn("IPv6 is not available, not listening on this address", "addr", addr, "err", err)
				continue
			}
			closeAll(bound)
			return fmt.Errorf("Config.ListenAddrs %s: %w", addr, err)
		}
		bound = append(bound, socketPair{pc: pc, ln: ln})
	}
	if len(bound) == 0 {
		return fmt.Errorf("Config.ListenAddrs %v: no address could be bound", s.cfg.ListenAddrs)
	}
	s.bound = bound
	return nil
}

// Addrs returns the bound addresses, one per listen address, each served on UDP and TCP; nil before
// Listen (or Run) has bound them.
func (s *Server) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(s.bound))
	for _, b := range s.bound {
		ap := b.pc.LocalAddr().(*net.UDPAddr).AddrPort()
		out = append(out, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Close releases the sockets bound by Listen when Run is not going to be called (another part of the
// start failed, say). Once Run has been called it does nothing: Run closes the sockets when its context
// ends. After Close, Listen and Run fail.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running || s.closed {
		return nil
	}
	s.closed = true
	closeAll(s.bound)
	s.bound = nil
	return nil
}

// Ready returns a channel closed once every socket is serving.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run binds the sockets if Listen has not, serves until ctx is done, then shuts down, waiting a bounded
// time for queries in flight, and closes the sockets. It returns nil after a shutdown caused by ctx, and an
// error if binding or serving fails. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return errors.New("DNS proxy: Run called after Close")
	case s.running:
		s.mu.Unlock()
		return errors.New("DNS proxy: Run called more than once")
	}
	s.running = true
	s.mu.Unlock()
	if err := s.Listen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx // before any listener starts: handlers read it without a lock

	s.mu.Lock()
	bound := s.bound
	s.mu.Unlock()
	defer closeAll(bound)

	started := make(chan struct{}, 2*len(bound))
	var servers []*dns.Server
	for _, b := range bound {
		servers = append(servers, s.dnsServer(b.pc, nil, started), s.dnsServer(nil, b.ln, started))
	}
	exited := make(chan error, len(servers))
	for _, srv := range servers {
		go func() {
			err := srv.ActivateAndServe()
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			exited <- err
		}()
	}

	running := len(servers)
	var runErr error
	for n := 0; n < len(servers) && runErr == nil; {
		select {
		case <-started:
			n++
		case err := <-exited:
			running--
			runErr = fmt.Errorf("DNS proxy: a listener stopped while starting: %w", err)
		}
	}
	if runErr == nil {
		close(s.ready)
		s.log.Info("DNS proxy serving", "addrs", s.Addrs(), "upstreams", s.cfg.Upstreams, "local_suffix", s.suffix)
		select {
		case <-ctx.Done():
		case err := <-exited:
			running--
			runErr = fmt.Errorf("DNS proxy: a listener stopped: %w", err)
		}
	}

	cancel() // forwarded queries in flight give up
	shutdownCtx, stop := context.WithTimeout(context.Background(), shutdownGrace)
	defer stop()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() { _ = srv.ShutdownContext(shutdownCtx) })
	}
	wg.Wait()
	closeAll(bound) // stops a listener that had not started yet, too
	for ; running > 0; running-- {
		<-exited
	}
	s.log.Info("DNS proxy stopped")
	return runErr
}

// dnsServer returns a miekg/dns server for one socket that reports its start on started.
func (s *Server) dnsServer(pc net.PacketConn, ln net.Listener, started chan<- struct{}) *dns.Server {
	return &dns.Server{
		PacketConn:        pc,
		Listener:          ln,
		Handler:           dns.HandlerFunc(s.serveDNS),
		UDPSize:           dns.DefaultMsgSize,
		NotifyStartedFunc: func() { started <- struct{}{} },
		MsgAcceptFunc:     s.acceptMsg,
		MsgInvalidFunc:    s.invalidMsg,
	}
}

// closeAll closes every socket.
func closeAll(pairs []socketPair) {
	for _, p := range pairs {
		_ = p.pc.Close()
		_ = p.ln.Close()
	}
}
