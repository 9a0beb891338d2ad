package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"

	"egress.io/egress/pkg/kubesource"
	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/dnsproxy"
	"egress.io/egress/pkg/sidecar/telemetry"
)

// RunOptions are Run's dependencies.
type RunOptions struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// RESTConfig reaches the API server; default: --kubeconfig or the in-cluster credentials.
	RESTConfig *rest.Config
	// Resolver resolves destinations; default: the --upstream-dns resolvers (or /etc/resolv.conf's).
	Resolver decide.Resolver
	// Ready, when set, receives the tunnel listener's address once the gateway accepts tunnels (tests).
	Ready chan<- net.Addr
}

// Run runs a gateway until ctx is done: the tunnel listener, the admin server, the cluster-wide
// EgressRuleSet watch. /ready answers 503 until the rule sets are loaded and the certificate is read.
func Run(ctx context.Context, s Settings, opts RunOptions) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if opts.Registry == nil {
		return errors.New("gateway: RunOptions.Registry is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	restCfg := opts.RESTConfig
	if restCfg == nil {
		var err error
		if restCfg, err = kubesource.RESTConfig(s.Kubeconfig); err != nil {
			return fmt.Errorf("--%s: %w", FlagKubeconfig, err)
		}
	}
	restCfg = rest.CopyConfig(restCfg)
	restCfg.UserAgent = "egress-gateway/" + s.Name
	kube, err := newKubeClients(restCfg)
	if err != nil {
		return err
	}
	reviewer, err := podauth.NewReviewer(podauth.ReviewerOptions{TokenReviews: kube, Audience: Audience})
	if err != nil {
		return err
	}
	ruleSets := &RuleSets{GlobalNamespace: s.GlobalNamespace}
	src, err := kubesource.New(kubesource.Options{Config: restCfg, AllNamespaces: true, GlobalNamespace: s.GlobalNamespace,
		Log: logr.FromSlogHandler(log.With("component", "rulesets").Handler())})
	if err != nil {
		return err
	}
	resolver := opts.Resolver
	if resolver == nil {
		upstreams := s.UpstreamDNS
		if len(upstreams) == 0 {
			if upstreams, err = dnsproxy.ReadResolvConf("/etc/resolv.conf"); err != nil {
				return fmt.Errorf("--%s: %w", FlagUpstreamDNS, err)
			}
		}
		resolver = dnsproxy.NewResolver(upstreams, s.DNSTimeout, nil)
	}
	nat64 := s.NAT64Prefixes
	if nat64 == nil {
		nat64 = []netip.Prefix{}
	}
	guard, err := addrclass.New(addrclass.Config{Deny: s.DenyCIDRs, Public: s.PublicCIDRs, NAT64: nat64})
	if err != nil {
		return err
	}
	metrics, err := NewMetrics(opts.Registry)
	if err != nil {
		return err
	}
	certs := &certFiles{cert: s.CertFile, key: s.KeyFile}
	if _, err := certs.load(); err != nil {
		return fmt.Errorf("--%s: %w", FlagCertFile, err)
	}

	ln, err := net.Listen("tcp", s.ListenAddr)
	if err != nil {
		return fmt.Errorf("--%s: %w", FlagListenAddr, err)
	}
	var admin net.Listener
	if s.AdminAddr != "" {
		if admin, err = net.Listen("tcp", s.AdminAddr); err != nil {
			ln.Close()
			return fmt.Errorf("--%s: %w", FlagAdminAddr, err)
		}
	}
	self := []netip.AddrPort{addrPortOf(ln.Addr())}
	if admin != nil {
		self = append(self, addrPortOf(admin.Addr()))
	}
	server, err := NewServer(Options{
		Name:     s.Name,
		TLS:      &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: certs.get, NextProtos: []string{alpn}},
		Reviewer: reviewer, Pods: &PodLabels{Pods: kube, TTL: s.PodLabelsTTL}, RuleSets: ruleSets,
		Decider: &decide.Decider{
			Policy: func() *policy.Matcher { return nil }, Resolver: resolver, Guard: guard, InGateway: s.Name,
			IsSelf: func(ap netip.AddrPort) bool { return isSelf(ap, self) },
		},
		Metrics: metrics, Labels: telemetry.NewLabels(s.MaxHostLabels), Log: log,
		HandshakeTimeout: s.HandshakeTimeout, ConnectTimeout: s.ConnectTimeout, DrainTimeout: s.DrainTimeout,
	})
	if err != nil {
		ln.Close()
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		if err := src.Run(ctx, ruleSets); err != nil {
			errs <- fmt.Errorf("EgressRuleSet watch: %w", err)
		}
	})
	if admin != nil {
		srv := &http.Server{Handler: adminHandler(opts.Registry, ruleSets), ReadHeaderTimeout: 5 * time.Second}
		context.AfterFunc(ctx, func() { srv.Close() })
		wg.Go(func() {
			if err := srv.Serve(admin); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("admin server: %w", err)
			}
		})
	}
	wg.Go(func() {
		if err := server.Serve(ctx, ln); err != nil {
			errs <- err
		}
	})
	log.Info("gateway serving", "gateway", s.Name, "listen", ln.Addr().String(), "global_namespace", s.GlobalNamespace)
	if opts.Ready != nil {
		opts.Ready <- ln.Addr()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	cancel()
	wg.Wait()
	return first
}

func isSelf(ap netip.AddrPort, self []netip.AddrPort) bool {
	for _, s := range self {
		if s.Port() == ap.Port() && (s.Addr() == ap.Addr() || s.Addr().IsUnspecified()) {
			return true
		}
	}
	return false
}

// adminHandler serves /metrics, /ready (503 until the rule sets are loaded) and /live.
func adminHandler(reg *prometheus.Registry, ruleSets *RuleSets) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ruleSets.Loaded() {
			http.Error(w, "not ready: EgressRuleSets not loaded yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/live", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "live") })
	return mux
}

// certFiles is the gateway's certificate, read again when its files change (the Secret's rotation).
type certFiles struct {
	cert, key string
	mu        sync.Mutex
	stamp     string
	current   *tls.Certificate
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.load() }

func (c *certFiles) load() (*tls.Certificate, error) {
	fi, err := os.Stat(c.cert)
	if err != nil {
		return nil, err
	}
	stamp := fi.ModTime().String() + fmt.Sprint(fi.Size())
	c.mu.Lock()
	defer c.mu.Unlock()
	if stamp == c.stamp && c.current != nil {
		return c.current, nil
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		if c.current != nil {
			return c.current, nil // mid-rotation: keep the last good one
		}
		return nil, err
	}
	c.stamp, c.current = stamp, &pair
	return c.current, nil
}
