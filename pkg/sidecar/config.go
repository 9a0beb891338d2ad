package sidecar

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// Names of egress-sidecar's flags (without dashes): Validate names them, and Settings.Flags defines them,
// each also read from EGRESS_<NAME> (upper case, '-' as '_').
const (
	FlagCapturePort           = "capture-port"
	FlagDNSPort               = "dns-port"
	FlagListenAddrs           = "listen-addrs"
	FlagAdminAddr             = "admin-addr"
	FlagSniffTimeout          = "sniff-timeout"
	FlagSniffBytes            = "sniff-bytes"
	FlagServerFirstPorts      = "server-first-ports"
	FlagConnectTimeout        = "connect-timeout"
	FlagTLSHandshakeTimeout   = "tls-handshake-timeout"
	FlagResponseHeaderTimeout = "response-header-timeout"
	FlagIdleTimeout           = "idle-timeout"
	FlagCABundle              = "ca-bundle"
	FlagUpstreamDNS           = "upstream-dns"
	FlagDNSTimeout            = "dns-timeout"
	FlagLocalSuffix           = "local-suffix"
	FlagClusterDomain         = "cluster-domain"
	FlagDenyCIDRs             = "deny-cidrs"
	FlagPublicCIDRs           = "public-cidrs"
	FlagNAT64Prefixes         = "nat64-prefixes"
	FlagMaxHostLabels         = "max-host-labels"
	FlagLogAllowed            = "log-allowed"
	FlagDecisionsBuffer       = "decisions-buffer"
	FlagDrainTimeout          = "drain-timeout"
	FlagGlobalNamespace       = "global-namespace"
	FlagPodNamespace          = "pod-namespace"
	FlagPodLabelsFile         = "pod-labels-file"
	FlagRulesFile             = "rules-file"
	FlagKube                  = "kube"
	FlagKubeconfig            = "kubeconfig"
	FlagPodName               = "pod-name"
	FlagLogLevel              = "log-level"
	FlagGatewayTokenFile      = "gateway-token-file"
	FlagGatewayCAFile         = "gateway-ca-file"
	FlagGatewayPort           = "gateway-port"
	FlagGatewayAddresses      = "gateway-addresses"
)

// GatewayAudience is the audience of the token a sidecar presents to EgressGateways (gateway.Audience).
const GatewayAudience = "egress.io/gateway"

// DefaultGatewayTokenFile is where an injected pod has its token for the gateways, next to the policy
// service's token and CA (the gateways' certificates are signed by the same CA, DefaultPolicyCAFile).
const DefaultGatewayTokenFile = PolicyCredentialsDir + "/gateway-token"

// DefaultAdminPort is the port of the admin server (/metrics, /ready, /live), on all addresses.
const DefaultAdminPort = 15020

// DefaultServerFirstPorts are the ports of protocols where the server speaks first, so waiting for the
// client's first bytes would only delay them: FTP 21, SSH 22, SMTP 25, POP3 110, IMAP 143, SMTP
// submission 587 and MySQL 3306. (PostgreSQL, 5432, is client-first.)
var DefaultServerFirstPorts = []uint16{21, 22, 25, 110, 143, 587, 3306}

// Config is the data path's configuration. It names no UID: which traffic reaches the sidecar is decided by
// egress-init's rules. Start from DefaultConfig.
type Config struct {
	// CapturePort is where redirected TCP is accepted (--capture-port).
	CapturePort uint16
	// DNSPort is where the DNS proxy serves UDP and TCP (--dns-port).
	DNSPort uint16
	// ListenAddrs are the addresses the capture listener and the DNS proxy bind (--listen-addrs). An IPv6
	// address that cannot be bound because the pod has no IPv6 is skipped with a warning.
	ListenAddrs []netip.Addr
	// AdminAddr is host:port of the admin server: /metrics, /ready, /live, /debug/decisions (--admin-addr).
	AdminAddr string
	// SniffTimeout bounds the wait for the client's first bytes; a client that sends too little in time is
	// decided by whoever speaks first, the client or the server (--sniff-timeout).
	SniffTimeout time.Duration
	// SniffBytes bounds what is read before deciding the protocol (--sniff-bytes).
	SniffBytes int
	// ServerFirstPorts are destination ports that are not sniffed: they go straight to opaque TCP
	// (--server-first-ports).
	ServerFirstPorts []uint16
	// ConnectTimeout bounds one TCP connection attempt to an upstream (--connect-timeout).
	ConnectTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake of TLS origination (--tls-handshake-timeout).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an upstream's response headers once the request is sent;
	// 0 waits as long as the client does (--response-header-timeout).
	ResponseHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections, from apps and to upstreams (--idle-timeout).
	IdleTimeout time.Duration
	// CABundle is a PEM file of extra roots trusted for TLS origination, besides the system roots
	// (--ca-bundle).
	CABundle string
	// UpstreamDNS are host:port addresses of the real resolvers; empty reads /etc/resolv.conf
	// (--upstream-dns).
	UpstreamDNS []string
	// DNSTimeout bounds one query to one upstream resolver (--dns-timeout).
	DNSTimeout time.Duration
	// LocalSuffix is the suffix that asks for TLS origination: http://NAME.<suffix>/ (--local-suffix).
	LocalSuffix string
	// ClusterDomain is the cluster's DNS domain, for denied-request backends (--cluster-domain).
	ClusterDomain string
	// DenyCIDRs are refused for resolved names whatever the special-purpose registries say, e.g. the
	// cluster's pod and service CIDRs (--deny-cidrs). See package addrclass.
	DenyCIDRs []netip.Prefix
	// PublicCIDRs are not refused for resolved names although a special-purpose registry reserves them:
	// an internal network numbered from such a range that rule sets should treat like the internet
	// (--public-cidrs). DenyCIDRs win over them.
	PublicCIDRs []netip.Prefix
	// NAT64Prefixes are the prefixes DNS64 synthesises; their addresses are as safe as the IPv4 address
	// they embed (--nat64-prefixes; default 64:ff9b::/96).
	NAT64Prefixes []netip.Prefix
	// MaxHostLabels bounds the host label values of metrics beyond the hosts named in targets
	// (--max-host-labels).
	MaxHostLabels int
	// LogAllowed logs allowed decisions too, not just denials and audits (--log-allowed).
	LogAllowed bool
	// DecisionsBuffer is how many recent decisions /debug/decisions keeps (--decisions-buffer).
	DecisionsBuffer int
	// DrainTimeout bounds how long open connections may finish after a shutdown starts (--drain-timeout).
	DrainTimeout time.Duration
	// Pod is the pod whose rule sets apply (its namespace from --pod-namespace, labels from
	// --pod-labels-file). Rule sets without a namespace (as in a rules file) always count as the pod's.
	Pod policy.Pod
	// GlobalNamespace holds rule sets that apply to pods of every namespace (--global-namespace).
	GlobalNamespace string
	// PodLabelsFile, when set, is the downward-API labels file Pod.Labels were read from; the sidecar
	// follows it, so relabelling a running pod changes which rule sets select it (--pod-labels-file).
	PodLabelsFile string
	// GatewayTokenFile is the pod's projected token presented to EgressGateways (--gateway-token-file);
	// GatewayCAFile the CA their certificates are checked with (--gateway-ca-file); GatewayPort their
	// Services' port (--gateway-port). The gateways are reached at egress-gateway-NAME.GLOBAL_NAMESPACE.svc.
	// CLUSTER_DOMAIN, unless GatewayAddresses (NAME=HOST:PORT) says otherwise (--gateway-addresses).
	GatewayTokenFile string
	GatewayCAFile    string
	GatewayPort      uint16
	GatewayAddresses []string
}

// gatewayAddresses parses --gateway-addresses into NAME → HOST:PORT.
func (c Config) gatewayAddresses() (map[string]string, error) {
	out := map[string]string{}
	for _, entry := range c.GatewayAddresses {
		name, addr, ok := strings.Cut(entry, "=")
		if _, _, err := net.SplitHostPort(addr); !ok || name == "" || err != nil {
			return nil, fmt.Errorf("--%s: %q: want NAME=HOST:PORT", FlagGatewayAddresses, entry)
		}
		out[name] = addr
	}
	return out, nil
}

// DefaultConfig returns the configuration the sidecar runs with when no flag is given.
func DefaultConfig() Config {
	return Config{
		CapturePort:           redirect.DefaultCapturePort,
		DNSPort:               redirect.DefaultDNSPort,
		ListenAddrs:           []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		AdminAddr:             net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultAdminPort)),
		SniffTimeout:          500 * time.Millisecond,
		SniffBytes:            16 << 10,
		ServerFirstPorts:      append([]uint16(nil), DefaultServerFirstPorts...),
		ConnectTimeout:        5 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0,
		IdleTimeout:           90 * time.Second,
		DNSTimeout:            dnsproxy.DefaultTimeout,
		LocalSuffix:           dnsproxy.DefaultLocalSuffix,
		ClusterDomain:         "cluster.local",
		MaxHostLabels:         100,
		DecisionsBuffer:       256,
		DrainTimeout:          10 * time.Second,
		GlobalNamespace:       policy.DefaultGlobalNamespace,
		NAT64Prefixes:         append([]netip.Prefix(nil), addrclass.DefaultNAT64Prefixes...),
		GatewayTokenFile:      DefaultGatewayTokenFile,
		GatewayCAFile:         DefaultPolicyCAFile,
		GatewayPort:           15443,
	}
}

// AddrClassConfig is the address guard's part of the configuration (kubectl egress why builds the same
// guard from a pod's settings).
func (c Config) AddrClassConfig() addrclass.Config {
	nat64 := c.NAT64Prefixes
	if nat64 == nil {
		nat64 = []netip.Prefix{} // none, rather than addrclass's default
	}
	return addrclass.Config{Deny: c.DenyCIDRs, Public: c.PublicCIDRs, NAT64: nat64}
}

// Validate reports every problem of c, each naming the flag at fault.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if _, err := c.gatewayAddresses(); err != nil {
		errs = append(errs, err)
	}
	if c.CapturePort == 0 {
		bad(FlagCapturePort, "must be from 1 to 65535")
	}
	switch {
	case c.DNSPort == 0:
		bad(FlagDNSPort, "must be from 1 to 65535")
	case c.DNSPort == c.CapturePort:
		bad(FlagDNSPort, "%d is also --%s", c.DNSPort, FlagCapturePort)
	}
	if len(c.ListenAddrs) == 0 {
		bad(FlagListenAddrs, "at least one address is required")
	}
	for _, a := range c.ListenAddrs {
		if !a.IsValid() {
			bad(FlagListenAddrs, "invalid address")
		}
	}
	if c.AdminAddr != "" {
		if _, port, err := net.SplitHostPort(c.AdminAddr); err != nil {
			bad(FlagAdminAddr, "%q: %v (want host:port, e.g. 0.0.0.0:15020)", c.AdminAddr, err)
		} else if port == fmt.Sprint(c.CapturePort) || port == fmt.Sprint(c.DNSPort) {
			bad(FlagAdminAddr, "port %s is also the capture or DNS port", port)
		}
	}
	if c.SniffTimeout <= 0 {
		bad(FlagSniffTimeout, "%v: must be positive", c.SniffTimeout)
	}
	if c.SniffBytes < 512 || c.SniffBytes > 1<<20 {
		bad(FlagSniffBytes, "%d: must be from 512 to 1048576", c.SniffBytes)
	}
	for _, p := range c.ServerFirstPorts {
		if p == 0 {
			bad(FlagServerFirstPorts, "port 0 is not a port")
		}
	}
	if c.ConnectTimeout <= 0 {
		bad(FlagConnectTimeout, "%v: must be positive", c.ConnectTimeout)
	}
	if c.TLSHandshakeTimeout <= 0 {
		bad(FlagTLSHandshakeTimeout, "%v: must be positive", c.TLSHandshakeTimeout)
	}
	if c.ResponseHeaderTimeout < 0 {
		bad(FlagResponseHeaderTimeout, "%v: must not be negative", c.ResponseHeaderTimeout)
	}
	if c.IdleTimeout <= 0 {
		bad(FlagIdleTimeout, "%v: must be positive", c.IdleTimeout)
	}
	for _, u := range c.UpstreamDNS {
		host, _, err := net.SplitHostPort(u)
		if err == nil {
			_, err = netip.ParseAddr(host)
		}
		if err != nil {
			bad(FlagUpstreamDNS, "%q: %v (want ip:port, e.g. 10.96.0.10:53)", u, err)
		}
	}
	if c.DNSTimeout <= 0 {
		bad(FlagDNSTimeout, "%v: must be positive", c.DNSTimeout)
	}
	if _, ok := dnsproxy.IsLocalName("x."+c.LocalSuffix, c.LocalSuffix); !ok {
		bad(FlagLocalSuffix, "%q: not a domain suffix", c.LocalSuffix)
	}
	if _, ok := dnsproxy.IsLocalName("x."+c.ClusterDomain, c.ClusterDomain); !ok {
		bad(FlagClusterDomain, "%q: not a domain", c.ClusterDomain)
	}
	for _, list := range []struct {
		flag     string
		prefixes []netip.Prefix
	}{{FlagDenyCIDRs, c.DenyCIDRs}, {FlagPublicCIDRs, c.PublicCIDRs}, {FlagNAT64Prefixes, c.NAT64Prefixes}} {
		for _, p := range list.prefixes {
			if !p.IsValid() || p.Masked() != p {
				bad(list.flag, "%v: invalid or has host bits set", p)
			}
		}
	}
	for _, p := range c.PublicCIDRs {
		if _, err := addrclass.New(addrclass.Config{Public: []netip.Prefix{p}}); err != nil {
			bad(FlagPublicCIDRs, "%v", err)
		}
	}
	for _, p := range c.NAT64Prefixes {
		if _, err := addrclass.New(addrclass.Config{NAT64: []netip.Prefix{p}}); err != nil {
			bad(FlagNAT64Prefixes, "%v", err)
		}
	}
	if c.MaxHostLabels < 0 {
		bad(FlagMaxHostLabels, "%d: must not be negative", c.MaxHostLabels)
	}
	if c.DecisionsBuffer < 0 {
		bad(FlagDecisionsBuffer, "%d: must not be negative", c.DecisionsBuffer)
	}
	if c.DrainTimeout < 0 {
		bad(FlagDrainTimeout, "%v: must not be negative", c.DrainTimeout)
	}
	if c.GlobalNamespace == "" {
		bad(FlagGlobalNamespace, "must not be empty")
	}
	return errors.Join(errs...)
}
