package decide

import (
	"net/netip"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/addrclass"
)

// guardResult is what the address guard says about one address.
type guardResult struct {
	class   addrclass.Result // the range it lies in
	loop    bool             // it is the sidecar itself
	allowed bool             // refused by its range, but a CIDR target allows it
	audited bool             // refused by its range, let through because the pod is in audit mode
}

func (g guardResult) refused() bool {
	return g.loop || g.class.Refused && !g.allowed && !g.audited
}

// describe names the range that refuses the address (built only when a verdict records it).
func (g guardResult) describe() string {
	if g.loop {
		return "the sidecar itself"
	}
	return g.class.String()
}

// guard checks an address the sidecar did not get from a CIDR target (a name it resolved, a name the DNS
// proxy answered, an IP literal in Host or SNI): one in a range package addrclass refuses is allowed only by
// a CIDR target for that very address on that port (a "*:port" target is not enough), and let through in
// audit mode; the sidecar's own listeners never are.
func (dr *Decider) guard(m *policy.Matcher, addr netip.Addr, port uint16) guardResult {
	if dr.isSelf(netip.AddrPortFrom(addr, port)) {
		return guardResult{loop: true}
	}
	class := dr.Guard.Check(addr)
	if !class.Refused {
		return guardResult{}
	}
	g := guardResult{class: class}
	if d := m.Decide("", addr, port); d.Action == policy.Allow && d.Reason == policy.ReasonCIDR {
		g.allowed = true
	} else if m.Audit() {
		g.audited = true
	}
	return g
}
