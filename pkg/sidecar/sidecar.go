package sidecar

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/pkg/gateway"
	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/dnsproxy"
	"egress.io/egress/pkg/sidecar/httppath"
	"egress.io/egress/pkg/sidecar/record"
	"egress.io/egress/pkg/sidecar/stream"
	"egress.io/egress/pkg/sidecar/telemetry"
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
	Resolver decide.Resolver
	// ResolvConf is read for the upstream resolvers when Config.UpstreamDNS is empty. Default: /etc/resolv.conf.
	ResolvConf string
	// PolicyDetail, when set, says how current the policy source is (the policy service's staleness); it is
	// the second line of /ready. Default: nothing.
	PolicyDetail func() string
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
	if opts.PolicyDetail == nil {
		opts.PolicyDetail = func() string { return "" }
	}
	metrics, err := telemetry.New(opts.Registry)
	if err != nil {
		return err
	}
	cache := dnsproxy.NewCache(0, nil)
	dnsServer, err := newDNSServer(cfg, opts, cache, metrics)
	if err != nil {
		return err
	}
	if opts.Resolver == nil {
		opts.Resolver = dnsproxy.NewResolver(dnsServer.Config().Upstreams, cfg.DNSTimeout, cache)
	}
	// Bind everything first, so a busy port fails the start instead of half a sidecar running.
	lns, err := bind(cfg, dnsServer, opts.Logger)
	if err != nil {
		return err
	}
	state := newPolicyState(cfg.Pod, cfg.GlobalNamespace, opts.Logger, metrics)
	parts, err := build(cfg, opts, state, cache, metrics, lns.selfAddrs())
	if err != nil {
		lns.close()
		return err
	}
	return serve(ctx, cfg, opts, src, state, dnsServer, lns, parts)
}

// listeners are the sidecar's bound sockets.
type listeners struct {
	captures []*net.TCPListener
	admin    net.Listener // nil without --admin-addr
}

func bind(cfg Config, dnsServer *dnsproxy.Server, log *slog.Logger) (*listeners, error) {
	if err := dnsServer.Listen(); err != nil {
		return nil, fmt.Errorf("--%s: %w", FlagDNSPort, err)
	}
	captures, err := listenCapture(cfg, log)
	if err != nil {
		return nil, err
	}
	lns := &listeners{captures: captures}
	if cfg.AdminAddr != "" {
		if lns.admin, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			closeListeners(captures)
			return nil, fmt.Errorf("--%s: %w", FlagAdminAddr, err)
		}
	}
	return lns, nil
}

func (l *listeners) selfAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, ln := range l.captures {
		out = append(out, ln.Addr().(*net.TCPAddr).AddrPort())
	}
	return out
}

func (l *listeners) close() {
	closeListeners(l.captures)
	if l.admin != nil {
		l.admin.Close()
	}
}

// parts are the data path's components, built complete once the listeners are bound.
type parts struct {
	reporter   *record.Reporter
	http       *httppath.Path
	dispatcher *dispatcher
	tracker    *connTracker
}

func build(cfg Config, opts Options, state *policyState, names decide.NameCache, metrics *telemetry.Metrics, self []netip.AddrPort) (*parts, error) {
	roots, err := loadRoots(cfg.CABundle)
	if err != nil {
		return nil, err
	}
	guard, err := addrclass.New(cfg.AddrClassConfig())
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	gateways, err := newGatewayDialer(cfg, opts.Resolver)
	if err != nil {
		return nil, err
	}
	decider := &decide.Decider{
		Gateways: gateways,
		Policy:   state.Matcher,
		Resolver: opts.Resolver,
		Guard:    guard,
		Names:    names,
		IsSelf:   func(ap netip.AddrPort) bool { return isSelf(ap, cfg.CapturePort, self) },

		ClusterDomain: cfg.ClusterDomain,
		LocalSuffix:   cfg.LocalSuffix,
	}
	reporter := record.NewReporter(log, cfg.DecisionsBuffer, cfg.LogAllowed)
	labels := telemetry.NewLabels(cfg.MaxHostLabels)
	tracker := newConnTracker()
	httpPath, err := httppath.New(httppath.Options{
		Decider: decider, Reporter: reporter, Metrics: metrics, Labels: labels, Log: log,
		LocalSuffix: cfg.LocalSuffix, Roots: roots,
		ConnectTimeout: cfg.ConnectTimeout, TLSHandshakeTimeout: cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout, IdleTimeout: cfg.IdleTimeout,
	})
	if err != nil {
		return nil, err
	}
	streams, err := stream.New(stream.Options{
		Decider: decider, Reporter: reporter, Metrics: metrics, Labels: labels, Log: log, Tracker: tracker,
		ConnectTimeout: cfg.ConnectTimeout,
	})
	if err != nil {
		return nil, err
	}
	serverFirst := map[uint16]bool{}
	for _, p := range cfg.ServerFirstPorts {
		serverFirst[p] = true
	}
	d := &dispatcher{
		origDst: opts.OriginalDst, decider: decider, http: httpPath, streams: streams, reporter: reporter,
		metrics: metrics, labels: labels, tracker: tracker, log: log, now: time.Now,
		sentinels:   []netip.Addr{netip.MustParseAddr(dnsproxy.DefaultSentinelV4), netip.MustParseAddr(dnsproxy.DefaultSentinelV6)},
		serverFirst: serverFirst, sniffTimeout: cfg.SniffTimeout, sniffBytes: cfg.SniffBytes,
		idleTimeout: cfg.IdleTimeout, connTimeout: cfg.ConnectTimeout,
	}
	return &parts{reporter: reporter, http: httpPath, dispatcher: d, tracker: tracker}, nil
}

// serve runs everything until ctx is done (or a component fails), then drains.
func serve(ctx context.Context, cfg Config, opts Options, src policy.Source, state *policyState,
	dnsServer *dnsproxy.Server, lns *listeners, p *parts) error {
	log := opts.Logger
	var draining atomic.Bool
	ready := func() string {
		select {
		case <-state.Loaded():
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
	if err := registerReadiness(opts.Registry, ready); err != nil {
		lns.close()
		return fmt.Errorf("registering sidecar metrics: %w", err)
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
	goRun(func() {
		sink := versionRecorder{Sink: state, summary: p.reporter.Summary(), now: time.Now}
		if err := src.Run(connCtx, sink); err != nil {
			errs <- fmt.Errorf("policy source: %w", err)
		}
	})
	if cfg.PodLabelsFile != "" {
		goRun(func() {
			// Without the watch the labels read at start stay in force: selection goes on, only relabels
			// are missed, so this is logged rather than fatal.
			if err := watchPodLabels(connCtx, cfg.PodLabelsFile, cfg.Pod.Labels, log, state.SetLabels); err != nil {
				log.Error("not following pod label changes", "file", cfg.PodLabelsFile, "error", err)
			}
		})
	}
	goRun(func() {
		// After a policy change the idle upstream connections go: the next requests connect to what they
		// are decided to.
		for {
			select {
			case <-state.Updates():
				p.http.CloseIdle()
			case <-connCtx.Done():
				return
			}
		}
	})
	goRun(func() {
		if err := dnsServer.Run(connCtx); err != nil {
			errs <- fmt.Errorf("DNS proxy: %w", err)
		}
	})
	goRun(func() { p.http.Run(connCtx) })
	for _, ln := range lns.captures {
		goRun(func() { p.dispatcher.serveCapture(connCtx, ln) })
	}
	var adminServer *http.Server
	if lns.admin != nil {
		adminServer = &http.Server{
			Handler:           adminHandler(opts.Registry, p.reporter, ready, opts.PolicyDetail, log),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		goRun(func() { adminServer.Serve(lns.admin) })
	}
	log.Info("egress sidecar started", "capture", addrStrings(lns.selfAddrs()), "dns", addrStrings(dnsServer.Addrs()),
		"admin", cfg.AdminAddr)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
		log.Error("sidecar stopping", "error", runErr)
	}

	// Drain: refuse new connections, let the open ones finish within the drain timeout, then close them.
	draining.Store(true)
	closeListeners(lns.captures)
	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancelDrain()
	log.Info("draining", "connections", p.tracker.Len(), "timeout", cfg.DrainTimeout)
	shutdownDone := make(chan struct{})
	go func() {
		p.http.Shutdown(drainCtx)
		close(shutdownDone)
	}()
	left := p.tracker.Drain(drainCtx)
	<-shutdownDone
	stopConns()
	if adminServer != nil {
		adminServer.Close()
	}
	wg.Wait()
	log.Info("egress sidecar stopped", "connections_closed_at_deadline", left)
	return runErr
}

// isSelf reports whether ap is one of the sidecar's own capture addresses, or the capture port on a
// loopback or unspecified address: connecting there would loop.
func isSelf(ap netip.AddrPort, capturePort uint16, self []netip.AddrPort) bool {
	addr := ap.Addr().Unmap()
	if ap.Port() == capturePort && (addr.IsLoopback() || addr.IsUnspecified()) {
		return true
	}
	for _, s := range self {
		if s == netip.AddrPortFrom(addr, ap.Port()) {
			return true
		}
	}
	return false
}

// newDNSServer configures the DNS proxy on the listen addresses and the DNS port.
func newDNSServer(cfg Config, opts Options, cache *dnsproxy.Cache, m *telemetry.Metrics) (*dnsproxy.Server, error) {
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
	s, err := dnsproxy.New(dcfg, cache, opts.Logger.With("component", "dns"), m.DNSQuery)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", FlagUpstreamDNS, err)
	}
	return s, nil
}

// newGatewayDialer returns the tunnels to EgressGateways; nil (every decision routed through a gateway
// fails, nothing is dialled directly) without --gateway-token-file.
func newGatewayDialer(cfg Config, resolver decide.Resolver) (decide.Tunneler, error) {
	if cfg.GatewayTokenFile == "" {
		return nil, nil
	}
	addrs, err := cfg.gatewayAddresses()
	if err != nil {
		return nil, err
	}
	d, err := gateway.NewDialer(gateway.DialerOptions{
		Token: &podauth.TokenFile{Path: cfg.GatewayTokenFile}, CAFile: cfg.GatewayCAFile,
		Namespace: cfg.GlobalNamespace, ClusterDomain: cfg.ClusterDomain, Port: cfg.GatewayPort,
		Addresses: addrs, Resolver: resolver,
		ConnectTimeout: cfg.ConnectTimeout, HandshakeTimeout: cfg.TLSHandshakeTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", FlagGatewayTokenFile, err)
	}
	return d, nil
}

// loadRoots returns the system roots plus the certificates of the PEM file bundle (if not empty).
func loadRoots(bundle string) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if bundle == "" {
		return roots, nil
	}
	pem, err := os.ReadFile(bundle)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", FlagCABundle, err)
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--%s %s: no PEM certificate found", FlagCABundle, bundle)
	}
	return roots, nil
}

func addrStrings(addrs []netip.AddrPort) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}
