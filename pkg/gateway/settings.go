package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"time"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// Names of `egress-sidecar gateway`'s flags.
const (
	FlagName            = "name"
	FlagListenAddr      = "listen-addr"
	FlagAdminAddr       = "admin-addr"
	FlagCertFile        = "cert-file"
	FlagKeyFile         = "key-file"
	FlagGlobalNamespace = "global-namespace"
	FlagKubeconfig      = "kubeconfig"
	FlagUpstreamDNS     = "upstream-dns"
	FlagDNSTimeout      = "dns-timeout"
	FlagDenyCIDRs       = "deny-cidrs"
	FlagPublicCIDRs     = "public-cidrs"
	FlagNAT64Prefixes   = "nat64-prefixes"
	FlagConnectTimeout  = "connect-timeout"
	FlagHandshake       = "handshake-timeout"
	FlagMaxHostLabels   = "max-host-labels"
	FlagPodLabelsTTL    = "pod-labels-ttl"
	FlagDrainTimeout    = "drain-timeout"
	FlagLogLevel        = "log-level"
)

// Where a gateway pod has its certificate (the Secret egress-gateway-NAME, written by the webhook).
const (
	CertDir         = "/var/run/secrets/egress.io/gateway-tls"
	DefaultCertFile = CertDir + "/tls.crt"
	DefaultKeyFile  = CertDir + "/tls.key"
	// DefaultAdminPort serves /metrics, /ready and /live.
	DefaultAdminPort = 15021
)

// Settings are everything `egress-sidecar gateway` is told by its command line and environment. The
// webhook writes a gateway Deployment's arguments from it (Args).
type Settings struct {
	Name             string
	ListenAddr       string
	AdminAddr        string
	CertFile         string
	KeyFile          string
	GlobalNamespace  string
	Kubeconfig       string
	UpstreamDNS      []string
	DNSTimeout       time.Duration
	DenyCIDRs        []netip.Prefix
	PublicCIDRs      []netip.Prefix
	NAT64Prefixes    []netip.Prefix
	ConnectTimeout   time.Duration
	HandshakeTimeout time.Duration
	MaxHostLabels    int
	PodLabelsTTL     time.Duration
	DrainTimeout     time.Duration
	LogLevel         slog.Level
}

// DefaultSettings are the gateway's defaults.
func DefaultSettings() Settings {
	return Settings{
		ListenAddr:       net.JoinHostPort("0.0.0.0", fmt.Sprint(DefaultPort)),
		AdminAddr:        net.JoinHostPort("0.0.0.0", fmt.Sprint(DefaultAdminPort)),
		CertFile:         DefaultCertFile,
		KeyFile:          DefaultKeyFile,
		GlobalNamespace:  policy.DefaultGlobalNamespace,
		DNSTimeout:       dnsproxy.DefaultTimeout,
		NAT64Prefixes:    append([]netip.Prefix(nil), addrclass.DefaultNAT64Prefixes...),
		ConnectTimeout:   5 * time.Second,
		HandshakeTimeout: 10 * time.Second,
		MaxHostLabels:    100,
		PodLabelsTTL:     30 * time.Second,
		DrainTimeout:     5 * time.Second,
		LogLevel:         slog.LevelInfo,
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate reports every problem of s, each naming the flag at fault.
func (s Settings) Validate() error {
	var errs []error
	if !nameRE.MatchString(s.Name) || len(s.Name) > 40 {
		errs = append(errs, fmt.Errorf("--%s: %q: want the EgressGateway's name (a DNS label of at most 40 characters)", FlagName, s.Name))
	}
	for flag, addr := range map[string]string{FlagListenAddr: s.ListenAddr, FlagAdminAddr: s.AdminAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil && !(flag == FlagAdminAddr && addr == "") {
			errs = append(errs, fmt.Errorf("--%s: %q: want HOST:PORT", flag, addr))
		}
	}
	if s.CertFile == "" || s.KeyFile == "" {
		errs = append(errs, fmt.Errorf("--%s and --%s must not be empty", FlagCertFile, FlagKeyFile))
	}
	if s.GlobalNamespace == "" {
		errs = append(errs, fmt.Errorf("--%s must not be empty", FlagGlobalNamespace))
	}
	if s.ConnectTimeout <= 0 || s.HandshakeTimeout <= 0 || s.DNSTimeout <= 0 || s.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--%s, --%s, --%s and --%s must be positive", FlagConnectTimeout, FlagHandshake, FlagDNSTimeout, FlagDrainTimeout))
	}
	if s.MaxHostLabels < 0 {
		errs = append(errs, fmt.Errorf("--%s must not be negative", FlagMaxHostLabels))
	}
	return errors.Join(errs...)
}

// Args returns s as arguments of `egress-sidecar gateway`: the flags that differ from the defaults, and
// --name, --listen-addr and --global-namespace always.
func (s Settings) Args() []string {
	defaults := DefaultSettings()
	return settings.Args(s.Flags(), defaults.Flags())
}

// Flags is the gateway's table of flags, bound to s's fields.
func (s *Settings) Flags() []settings.Flag {
	return []settings.Flag{
		{Name: FlagName, Value: settings.String(&s.Name, "NAME"), Explicit: true, Aliases: []string{"GATEWAY_NAME"},
			Usage: "The EgressGateway this pod serves: only tunnels that the source pod's rule sets route through it are opened."},
		{Name: FlagListenAddr, Value: settings.String(&s.ListenAddr, "HOST:PORT"), Explicit: true,
			Usage: "Where sidecars' tunnels (TLS, then CONNECT) are accepted."},
		{Name: FlagAdminAddr, Value: settings.String(&s.AdminAddr, "HOST:PORT"),
			Usage: "Admin server (`/metrics`, `/ready`, `/live`). Empty disables it."},
		{Name: FlagCertFile, Value: settings.String(&s.CertFile, "FILE"),
			Usage: "PEM certificate for the gateway's Service name, re-read when it changes."},
		{Name: FlagKeyFile, Value: settings.String(&s.KeyFile, "FILE"),
			Usage: "PEM key of `--cert-file`."},
		{Name: FlagGlobalNamespace, Value: settings.String(&s.GlobalNamespace, "NAME"), Explicit: true,
			Usage: "Namespace whose rule sets apply to every pod."},
		{Name: FlagKubeconfig, Value: settings.String(&s.Kubeconfig, "FILE"), Aliases: []string{"KUBECONFIG"},
			DefaultText: "in-cluster credentials",
			Usage:       "Kubeconfig outside a cluster (TokenReviews, pods and EgressRuleSets of every namespace)."},
		{Name: FlagUpstreamDNS, Value: settings.Strings(&s.UpstreamDNS, "ADDRS"), DefaultText: "nameservers of `/etc/resolv.conf`",
			Usage: "Comma-separated `ip:port` of the resolvers the gateway resolves destinations with."},
		{Name: FlagDNSTimeout, Value: settings.Duration(&s.DNSTimeout),
			Usage: "One query to one resolver."},
		{Name: FlagDenyCIDRs, Value: settings.Prefixes(&s.DenyCIDRs), DefaultText: "none",
			Usage: "Ranges refused to resolved names besides the special-purpose ranges (as the sidecar's)."},
		{Name: FlagPublicCIDRs, Value: settings.Prefixes(&s.PublicCIDRs), DefaultText: "none",
			Usage: "Special-purpose ranges resolved names may reach like the internet (as the sidecar's)."},
		{Name: FlagNAT64Prefixes, Value: settings.Prefixes(&s.NAT64Prefixes),
			Usage: "NAT64 prefixes checked by the IPv4 address they embed. `\"\"` for none."},
		{Name: FlagConnectTimeout, Value: settings.Duration(&s.ConnectTimeout),
			Usage: "One TCP connection attempt to a destination."},
		{Name: FlagHandshake, Value: settings.Duration(&s.HandshakeTimeout),
			Usage: "TLS handshake and CONNECT request of a tunnel."},
		{Name: FlagMaxHostLabels, Value: settings.Int(&s.MaxHostLabels),
			Usage: "Distinct `host` label values for hosts no target names; later ones are `other`."},
		{Name: FlagPodLabelsTTL, Value: settings.Duration(&s.PodLabelsTTL),
			Usage: "How long a source pod's labels are cached (a relabelled pod is re-selected within it)."},
		{Name: FlagDrainTimeout, Value: settings.Duration(&s.DrainTimeout),
			Usage: "On SIGTERM, how long open tunnels may go on before they are closed (sidecars open new ones through the other replicas)."},
		{Name: FlagLogLevel, Value: settings.LogLevel(&s.LogLevel),
			Usage: "`debug`, `info`, `warn` or `error`."},
	}
}
