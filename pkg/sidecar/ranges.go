package sidecar

import (
	"net/netip"

	"egress.io/egress/pkg/policy"
)

// DefaultDeniedPrefixes are the address ranges a name resolved by the sidecar may not lead to unless a CIDR
// target allows the address: they reach the pod itself, the cluster, the node or the local network rather
// than the internet (server-side request forgery, DNS rebinding).
var DefaultDeniedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network", unspecified
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local (cloud metadata services)
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast, the egress.local sentinel
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("100::/64"),       // discard-only, the egress.local sentinel
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// addrVerdict is what addrGuard says about a resolved address.
type addrVerdict uint8

const (
	addrOK      addrVerdict = iota // not in a denied range, or allowed there by a CIDR target
	addrAudit                      // in a denied range, let through because the pod is in audit mode
	addrRefused                    // in a denied range and no CIDR target allows it
)

// addrGuard refuses resolved addresses in denied ranges unless a CIDR target allows them.
type addrGuard struct {
	denied []netip.Prefix
}

func newAddrGuard(extra []netip.Prefix) addrGuard {
	denied := append([]netip.Prefix(nil), DefaultDeniedPrefixes...)
	for _, p := range extra {
		denied = append(denied, p.Masked())
	}
	return addrGuard{denied: denied}
}

// Denied reports whether addr (IPv4-mapped IPv6 taken as IPv4) is in a denied range.
func (g addrGuard) Denied(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range g.denied {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Check says whether the sidecar may connect to addr:port for a name it resolved. An address outside the
// denied ranges is fine. One inside them is allowed only by a CIDR target (a "*:port" target is not
// enough); in audit mode it is let through as an audit.
func (g addrGuard) Check(m *policy.Matcher, addr netip.Addr, port uint16) addrVerdict {
	if !g.Denied(addr) {
		return addrOK
	}
	if d := m.Decide("", addr, port); d.Action == policy.Allow && d.Reason == policy.ReasonCIDR {
		return addrOK
	}
	if m.Audit() {
		return addrAudit
	}
	return addrRefused
}
