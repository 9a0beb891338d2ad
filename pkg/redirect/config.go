package redirect

import (
	"errors"
	"fmt"
	"net/netip"

	"egress.io/egress/pkg/netrange"
)

// IPv6Mode says whether ip6tables mirrors the IPv4 interception.
type IPv6Mode string

const (
	// IPv6Auto intercepts IPv6 when the pod has a routable IPv6 address and refuses IPv6 egress otherwise.
	IPv6Auto IPv6Mode = "auto"
	// IPv6On intercepts IPv6 whatever addresses the pod has.
	IPv6On IPv6Mode = "on"
	// IPv6Off refuses IPv6 egress for every process but the sidecar's (loopback still works).
	IPv6Off IPv6Mode = "off"
)

func (m IPv6Mode) check() error {
	switch m {
	case IPv6Auto, IPv6On, IPv6Off:
		return nil
	}
	return fmt.Errorf("%q is not %s, %s or %s", string(m), IPv6Auto, IPv6On, IPv6Off)
}

// Config is what egress-init intercepts and what it leaves alone. Start from DefaultConfig: the zero
// value does not validate.
type Config struct {
	// CapturePort is where the sidecar accepts redirected TCP, on 127.0.0.1 and ::1.
	CapturePort uint16
	// DNSPort is where the sidecar's DNS proxy accepts redirected DNS (UDP and TCP), on 127.0.0.1 and ::1.
	DNSPort uint16
	// SidecarUID and SidecarGID identify the sidecar's traffic, which leaves the pod untouched.
	SidecarUID, SidecarGID uint32
	// ExcludeOutboundCIDRs are destinations reached directly by every process (e.g. pod and service CIDRs).
	ExcludeOutboundCIDRs []netip.Prefix
	// ExcludeOutboundPorts are destination ports (TCP and UDP) reached directly by every process.
	ExcludeOutboundPorts []netrange.PortRange
	// IncludeOutboundCIDRs limits interception to these destinations; empty means every destination.
	// An address family without an entry is intercepted entirely, so a list of IPv4 prefixes never
	// opens IPv6.
	IncludeOutboundCIDRs []netip.Prefix
	// IPv6 says whether IPv6 is intercepted like IPv4 or refused.
	IPv6 IPv6Mode
	// DropUDP refuses UDP other than DNS (QUIC included) from every process but the sidecar's.
	DropUDP bool
}

// Defaults of Config: the one place for them, shared with the sidecar and the webhook.
const (
	DefaultCapturePort = 15001
	DefaultDNSPort     = 15053
	DefaultSidecarUID  = 2555
	DefaultSidecarGID  = 2555
)

// DefaultConfig returns the configuration egress-init uses when no flag is given.
func DefaultConfig() Config {
	return Config{
		CapturePort: DefaultCapturePort,
		DNSPort:     DefaultDNSPort,
		SidecarUID:  DefaultSidecarUID,
		SidecarGID:  DefaultSidecarGID,
		IPv6:        IPv6Auto,
		DropUDP:     true,
	}
}

// Validate reports every problem of c, one per line, each naming the flag at fault, e.g.
// `--exclude-outbound-cidrs: "10.0.0.1/8": invalid prefix: host bits set (did you mean 10.0.0.0/8?)`.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag string, err error) { errs = append(errs, fmt.Errorf("--%s: %w", flag, err)) }

	if c.CapturePort == 0 {
		bad(FlagCapturePort, errors.New("0: must be from 1 to 65535"))
	}
	switch {
	case c.DNSPort == 0:
		bad(FlagDNSPort, errors.New("0: must be from 1 to 65535"))
	case c.DNSPort == c.CapturePort:
		bad(FlagDNSPort, fmt.Errorf("%d is also --%s, so DNS over TCP could not be told from other TCP", c.DNSPort, FlagCapturePort))
	}
	// Owner 0 would exempt every root process in the pod from interception.
	if c.SidecarUID == 0 {
		bad(FlagSidecarUID, errors.New("0 (root) would let every root process bypass interception"))
	}
	if c.SidecarGID == 0 {
		bad(FlagSidecarGID, errors.New("0 (root) would let every root-group process bypass interception"))
	}
	for _, p := range c.ExcludeOutboundCIDRs {
		if err := netrange.CheckPrefix(p); err != nil {
			bad(FlagExcludeOutboundCIDRs, fmt.Errorf("%q: %w", p, err))
		}
	}
	for _, p := range c.IncludeOutboundCIDRs {
		if err := netrange.CheckPrefix(p); err != nil {
			bad(FlagIncludeOutboundCIDRs, fmt.Errorf("%q: %w", p, err))
		}
	}
	for _, r := range c.ExcludeOutboundPorts {
		if err := r.Check(); err != nil {
			bad(FlagExcludeOutboundPorts, fmt.Errorf("%q: %w", r, err))
		}
	}
	if err := c.IPv6.check(); err != nil {
		bad(FlagIPv6, err)
	}
	return errors.Join(errs...)
}
