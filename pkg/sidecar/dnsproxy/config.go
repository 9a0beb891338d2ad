package dnsproxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/miekg/dns"

	"egress.io/egress/pkg/redirect"
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	// DefaultPort is the sidecar's DNS port, the target of egress-init's DNS redirect.
	DefaultPort = redirect.DefaultDNSPort
	// DefaultResolvConf is where the pod's real resolvers are read from when Upstreams is empty.
	DefaultResolvConf = "/etc/resolv.conf"
	// DefaultTimeout bounds one attempt at one upstream (a TCP retry after truncation gets its own).
	DefaultTimeout = 2 * time.Second
	// DefaultLocalTTL is the TTL of the sentinel answers for the local suffix.
	DefaultLocalTTL = 5 * time.Second
	// DefaultMinTTL is the floor applied to answers recorded in the Cache, so that a TTL 0 answer still
	// covers the connection the app opens right after resolving.
	DefaultMinTTL = 5 * time.Second
	// DefaultMaxTTL is the ceiling applied to answers recorded in the Cache, so that a long TTL does not
	// tie an address to a name long after the name has moved.
	DefaultMaxTTL = time.Hour
)

// DefaultListenAddrs are the addresses the proxy listens on (UDP and TCP) by default.
func DefaultListenAddrs() []string {
	port := strconv.Itoa(DefaultPort)
	return []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)}
}

// Default sentinel addresses, the answers for *.egress.local. Neither is ever routed, so only the sidecar's
// redirect can make a connection to them work.
const (
	// DefaultSentinelV4 is in the reserved class E range 240.0.0.0/4.
	DefaultSentinelV4 = "240.0.0.1"
	// DefaultSentinelV6 is in the discard-only prefix 100::/64 (RFC 6666).
	DefaultSentinelV6 = "100::1"
)

// Config configures a Server. Zero fields take the documented defaults (see WithDefaults).
type Config struct {
	// ListenAddrs are the host:port addresses (IP literals) served on both UDP and TCP.
	// Default: 127.0.0.1:15053 and [::1]:15053. An IPv6 address that cannot be bound because the pod has
	// no IPv6 is skipped with a warning as long as another address is bound.
	ListenAddrs []string
	// Upstreams are the host:port addresses (IP literals) of the real resolvers, tried in order.
	// Default: the nameserver lines of ResolvConf.
	Upstreams []string
	// ResolvConf is the file Upstreams are read from when Upstreams is empty. Default: /etc/resolv.conf.
	ResolvConf string
	// LocalSuffix is the zone answered locally with the sentinel addresses, the suffix included.
	// Default: egress.local.
	LocalSuffix string
	// SentinelV4 is the A answer for local names. Default: 240.0.0.1.
	SentinelV4 netip.Addr
	// SentinelV6 is the AAAA answer for local names. Default: 100::1.
	SentinelV6 netip.Addr
	// LocalTTL is the TTL of local answers. Default: 5s.
	LocalTTL time.Duration
	// Timeout bounds one attempt at one upstream. Default: 2s.
	Timeout time.Duration
	// MinTTL is the floor on how long a forwarded answer is remembered in the Cache. Default: 5s.
	MinTTL time.Duration
	// MaxTTL is the ceiling on how long a forwarded answer is remembered in the Cache. Default: 1h.
	MaxTTL time.Duration
}

// WithDefaults returns a copy of c with every zero field set to its default. Upstreams stays empty (it
// is read from ResolvConf by New).
func (c Config) WithDefaults() Config {
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = DefaultListenAddrs()
	}
	if c.ResolvConf == "" {
		c.ResolvConf = DefaultResolvConf
	}
	if c.LocalSuffix == "" {
		c.LocalSuffix = DefaultLocalSuffix
	}
	if !c.SentinelV4.IsValid() {
		c.SentinelV4 = netip.MustParseAddr(DefaultSentinelV4)
	}
	if !c.SentinelV6.IsValid() {
		c.SentinelV6 = netip.MustParseAddr(DefaultSentinelV6)
	}
	if c.LocalTTL == 0 {
		c.LocalTTL = DefaultLocalTTL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MinTTL == 0 {
		c.MinTTL = DefaultMinTTL
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	return c
}

// Validate checks a configuration with its defaults applied and its upstreams known, naming the field at
// fault.
func (c Config) Validate() error {
	var errs []error
	if len(c.ListenAddrs) == 0 {
		errs = append(errs, errors.New("Config.ListenAddrs: at least one address is required"))
	}
	for i, a := range c.ListenAddrs {
		if _, err := parseHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("Config.ListenAddrs[%d] %q: %w", i, a, err))
		}
	}
	if len(c.Upstreams) == 0 {
		errs = append(errs, fmt.Errorf("Config.Upstreams: at least one upstream is required (none given and none in Config.ResolvConf %q)", c.ResolvConf))
	}
	for i, u := range c.Upstreams {
		ap, err := parseHostPort(u)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("Config.Upstreams[%d] %q: %w", i, u, err))
		case ap.Port() == 0:
			errs = append(errs, fmt.Errorf("Config.Upstreams[%d] %q: port 0 is not a resolver", i, u))
		case c.listensOn(ap):
			errs = append(errs, fmt.Errorf("Config.Upstreams[%d] %q: is one of Config.ListenAddrs (the proxy would forward to itself)", i, u))
		}
	}
	suffix := normalizeSuffix(c.LocalSuffix)
	if _, ok := dns.IsDomainName(suffix); suffix == "" || !ok {
		errs = append(errs, fmt.Errorf("Config.LocalSuffix %q: not a domain name", c.LocalSuffix))
	}
	if !c.SentinelV4.Is4() {
		errs = append(errs, fmt.Errorf("Config.SentinelV4 %v: must be an IPv4 address", c.SentinelV4))
	}
	if !c.SentinelV6.Is6() || c.SentinelV6.Is4In6() || c.SentinelV6.Zone() != "" {
		errs = append(errs, fmt.Errorf("Config.SentinelV6 %v: must be an IPv6 address without zone, not IPv4-mapped", c.SentinelV6))
	}
	if c.LocalTTL < time.Second || c.LocalTTL > time.Hour {
		errs = append(errs, fmt.Errorf("Config.LocalTTL %v: must be between 1s and 1h", c.LocalTTL))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("Config.Timeout %v: must be positive", c.Timeout))
	}
	if c.MinTTL < 0 {
		errs = append(errs, fmt.Errorf("Config.MinTTL %v: must not be negative", c.MinTTL))
	}
	if c.MaxTTL < c.MinTTL || c.MaxTTL <= 0 {
		errs = append(errs, fmt.Errorf("Config.MaxTTL %v: must be positive and at least Config.MinTTL %v", c.MaxTTL, c.MinTTL))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid DNS proxy configuration: %w", errors.Join(errs...))
	}
	return nil
}

// listensOn reports whether ap is one of the configured listen addresses.
func (c Config) listensOn(ap netip.AddrPort) bool {
	for _, a := range c.ListenAddrs {
		if l, err := parseHostPort(a); err == nil && l.Port() != 0 && l == ap {
			return true
		}
	}
	return false
}

// parseHostPort parses host:port where host is an IP literal (IPv6 in brackets, zone allowed).
func parseHostPort(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host must be an IP address: %w", err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("invalid port %q", port)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(p)), nil
}

// clampTTL applies the floor and ceiling to a TTL.
func clampTTL(ttl, floor, ceiling time.Duration) time.Duration {
	return min(max(ttl, floor), ceiling)
}
