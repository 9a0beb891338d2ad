package sidecar

import (
	"net/netip"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/addrclass"
)

// addrVerdict is what addrGuard says about a resolved address.
type addrVerdict uint8

const (
	addrOK      addrVerdict = iota // not refused by its class, or allowed there by a CIDR target
	addrAudit                      // refused by its class, let through because the pod is in audit mode
	addrRefused                    // refused by its class and no CIDR target allows it
)

// addrGuard refuses addresses the sidecar did not get from a CIDR target (names it resolved, names the DNS
// proxy answered, IP literals in Host or SNI) when package addrclass refuses them (special-purpose ranges,
// the IPv4 addresses embedded in IPv6, --deny-cidrs) unless a CIDR target allows them.
type addrGuard struct {
	class *addrclass.Classifier
}

func newAddrGuard(cfg addrclass.Config) (addrGuard, error) {
	c, err := addrclass.New(cfg)
	return addrGuard{class: c}, err
}

// Check says whether the sidecar may connect to addr:port, and the class that refused it. An address
// addrclass does not refuse is fine. One it refuses is allowed only by a CIDR target for that very address
// (a "*:port" target is not enough); in audit mode it is let through as an audit.
func (g addrGuard) Check(m *policy.Matcher, addr netip.Addr, port uint16) (addrVerdict, addrclass.Result) {
	class := g.class.Check(addr)
	if !class.Refused {
		return addrOK, class
	}
	if d := m.Decide("", addr, port); d.Action == policy.Allow && d.Reason == policy.ReasonCIDR {
		return addrOK, class
	}
	if m.Audit() {
		return addrAudit, class
	}
	return addrRefused, class
}
