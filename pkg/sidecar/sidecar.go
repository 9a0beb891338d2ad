package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// Options are Run's dependencies: what it logs to and registers metrics on, and hooks tests replace.
type Options struct {
	// Logger receives operational logs and the JSON decision log. Default: discard.
	Logger *slog.Logger
	// Registry receives the egress_ metrics and is served on /metrics. Required (never the global one).
	Registry *prometheus.Registry
	// OriginalDst reads a captured connection's original destination. Default: redirect.OriginalDestination.
	OriginalDst func(*net.TCPConn) (netip.AddrPort, error)
	// Resolver resolves names for the sidecar's own connections. Default: a dnsproxy.Resolver asking the
	// upstream resolvers and recording into the DNS proxy's cache.
	Resolver Resolver
	// ResolvConf is read for the upstream resolvers when Config.UpstreamDNS is empty. Default: /etc/resolv.conf.
	ResolvConf string
}

// Run runs the data path until ctx is done: the DNS proxy, the capture listener with its HTTP, TLS and
// TCP paths, the admin server, and src, whose rule sets are selected for cfg.Pod, compiled and published
// atomically (any policy.Source plugs in here: the rules file, the Kubernetes watch). Until src's first
// successful load everything is denied and /ready answers 503. When ctx is done Run stops accepting,
// lets open connections finish for at most cfg.DrainTimeout, closes the rest and returns nil. It returns
// an error when the configuration is invalid, a listener cannot be bound, or src fails.
func Run(ctx context.Context, cfg Config, src policy.Source, opts Options) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if opts.Registry == nil {
		return errors.New("sidecar: Options.Registry is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OriginalDst == nil {
		opts.OriginalDst = redirect.OriginalDestination
	}
	log := opts.Logger

	m, err := newMetrics(opts.Registry)
	if err != nil {
		return err
	}
	cache := dnsproxy.NewCache(0, nil)
	dnsServer, err := newDNSServer(cfg, opts, cache, log, m)
	if err != nil {
		return err
	}
	if opts.Resolver == nil {
		opts.Resolver = dnsproxy.NewResolver(dnsServer.Config().Upstreams, cfg.DNSTimeout, cache)
	}
	e, err := newEngine(cfg, opts, m, cache)
	if err != nil {
		return err
	}

	// Bind everything first, so a busy port fails the start instead of half a sidecar running.
	if err := dnsServer.Listen(); err != nil {
		return fmt.Errorf("--%s: %w", FlagDNSPort, err)
	}
	captures, err := listenCapture(cfg, log)
	if err != nil {
		return err
	}
	for _, ln := range captures {
		e.selfAddrs = append(e.selfAddrs, ln.Addr().(*net.TCPAddr).AddrPort())
	}
	var admin net.Listener
	if cfg.AdminAddr != "" {
		if admin, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			closeListeners(captures)
			return fmt.Errorf("--%s: %w", FlagAdminAddr, err)
		}
	}

	var draining atomic.Bool
	ready := func() string {
		select {
		case <-e.policy.Loaded():
		default:
			return "policy not loaded yet"
		}
		select {
		case <-dnsServer.Ready():
		default:
			return "DNS proxy not serving yet"
		}
		if draining.Load() {
			return "shutting down"
		}
		return ""
	}

	// connCtx outlives ctx by the drain period: connections in progress keep their dials and tunnels.
	connCtx, stopConns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConns()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}

	srcCtx, stopSource := context.WithCancel(connCtx)
	defer stopSource()
	goRun(func() {
		if err := src.Run(srcCtx, e.policy); err != nil {
			errs <- fmt.Errorf("policy source: %w", err)
		}
	})
	if cfg.PodLabelsFile != "" {
		goRun(func() {
			// Without the watch the labels read at start stay in force: selection goes on, only relabels
			// are missed, so this is logged rather than fatal.
			if err := watchPodLabels(srcCtx, cfg.PodLabelsFile, cfg.Pod.Labels, log, e.policy.SetLabels); err != nil {
				log.Error("not following pod label changes", "file", cfg.PodLabelsFile, "error", err)
			}
		})
	}
	dnsCtx, stopDNS := context.WithCancel(connCtx)
	defer stopDNS()
	goRun(func() {
		if err := dnsServer.Run(dnsCtx); err != nil {
			errs <- fmt.Errorf("DNS proxy: %w", err)
		}
	})

	httpServer := e.newHTTPServer()
	goRun(func() { httpServer.Serve(e.httpListener) })
	for _, ln := range captures {
		goRun(func() { e.serveCapture(connCtx, ln) })
	}
	var adminServer *http.Server
	if admin != nil {
		adminServer = &http.Server{
			Handler:           adminHandler(opts.Registry, e.reporter.ring, ready, log),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		goRun(func() { adminServer.Serve(admin) })
	}
	log.Info("egress sidecar started", "capture", addrStrings(e.selfAddrs), "dns", addrStrings(dnsServer.Addrs()),
		"admin", cfg.AdminAddr)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
		log.Error("sidecar stopping", "error", runErr)
	}

	// Drain: refuse new connections, let the open ones finish within the drain timeout, then close them.
	draining.Store(true)
	closeListeners(captures)
	e.httpListener.Close()
	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancelDrain()
	log.Info("draining", "connections", e.tracker.Len(), "timeout", cfg.DrainTimeout)
	shutdownDone := make(chan struct{})
	go func() {
		httpServer.Shutdown(drainCtx)
		close(shutdownDone)
	}()
	left := e.tracker.Drain(drainCtx)
	<-shutdownDone
	httpServer.Close()
	stopConns()
	if adminServer != nil {
		adminServer.Close()
	}
	wg.Wait()
	log.Info("egress sidecar stopped", "connections_closed_at_deadline", left)
	return runErr
}

// newEngine builds the data path's shared state.
func newEngine(cfg Config, opts Options, m *metrics, names nameCache) (*engine, error) {
	roots, err := loadRoots(cfg.CABundle)
	if err != nil {
		return nil, err
	}
	guard, err := newAddrGuard(cfg.addrClassConfig())
	if err != nil {
		return nil, err
	}
	e := &engine{
		cfg:         cfg,
		log:         opts.Logger,
		metrics:     m,
		labels:      newHostLabeler(cfg.MaxHostLabels),
		reporter:    &reporter{log: opts.Logger, ring: newDecisionRing(cfg.DecisionsBuffer), logAllowed: cfg.LogAllowed},
		names:       names,
		guard:       guard,
		serverFirst: map[uint16]bool{},
		origDst:     opts.OriginalDst,
		now:         time.Now,
		tracker:     newConnTracker(),
		sentinels:   []netip.Addr{netip.MustParseAddr(dnsproxy.DefaultSentinelV4), netip.MustParseAddr(dnsproxy.DefaultSentinelV6)},
		pipes:       newPipePool(),
	}
	for _, p := range cfg.ServerFirstPorts {
		e.serverFirst[p] = true
	}
	e.policy = newPolicyState(cfg.Pod, cfg.GlobalNamespace, opts.Logger, m)
	e.dialer = &upstreamDialer{
		resolver:       opts.Resolver,
		notFound:       dnsproxy.IsNotFound,
		guard:          e.guard,
		matcher:        e.matcher,
		connectTimeout: cfg.ConnectTimeout,
		isSelf:         e.isSelf,
		onAudit:        e.auditAddr,
	}
	plain, origin := newTransports(cfg, e.dialer, roots)
	e.http = newHTTPProxy(e, plain, origin)
	e.policy.onUpdate = e.http.CloseIdleConnections
	e.httpListener = newConnListener(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(cfg.CapturePort)})
	return e, nil
}

// newHTTPServer returns the server of the HTTP path, fed by httpListener. It accepts HTTP/1.x and HTTP/2
// with prior knowledge (h2c), and decides every request (see httpProxy).
func (e *engine) newHTTPServer() *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           e.http,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       e.cfg.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		Protocols:         &protocols,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
}

// newDNSServer configures the DNS proxy on the listen addresses and the DNS port.
func newDNSServer(cfg Config, opts Options, cache *dnsproxy.Cache, log *slog.Logger, m *metrics) (*dnsproxy.Server, error) {
	var listen []string
	for _, a := range cfg.ListenAddrs {
		listen = append(listen, net.JoinHostPort(a.String(), strconv.Itoa(int(cfg.DNSPort))))
	}
	dcfg := dnsproxy.Config{
		ListenAddrs: listen,
		Upstreams:   cfg.UpstreamDNS,
		ResolvConf:  opts.ResolvConf,
		LocalSuffix: cfg.LocalSuffix,
		Timeout:     cfg.DNSTimeout,
	}
	observe := func(result string) { m.dnsQueries.WithLabelValues(result).Inc() }
	s, err := dnsproxy.New(dcfg, cache, log.With("component", "dns"), observe)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", FlagUpstreamDNS, err)
	}
	return s, nil
}

func addrStrings(addrs []netip.AddrPort) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}
