package decide

import (
	"net"
	"net/netip"
	"strconv"
	"time"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/record"
)

// Verdict is a final decision about one connection or request: what is recorded and, when it allows,
// exactly what may be connected to.
type Verdict struct {
	Protocol Protocol
	// Decision is the policy's decision on what was asked; Action is final (Deny when the guard refused).
	policy.Decision
	// SidecarReason, when set, is why the sidecar itself refused or audited: ReasonPrivateAddress or
	// ReasonLoop. It replaces Decision.Reason in the record.
	SidecarReason string
	// RefusedAddr is the address the guard refused (or audited), and AddressClass the range it lies in.
	RefusedAddr  netip.Addr
	AddressClass string
	// Hint says what would let a denial through when no target would (TLS to a host routes restrict).
	Hint string
	// Dial are the addresses to connect to, in order. Empty when denied, and when Err is set.
	Dial []netip.AddrPort
	// Err is set when the destination is allowed but cannot be reached: its name did not resolve
	// (*UpstreamError of kind ErrDNS or ErrDNSNotFound).
	Err error
	// Backend is, for a denied plain-HTTP request, the in-cluster Service that receives it instead of a 403.
	Backend *Backend
	// tunnel opens the tunnel through Decision.Gateway, when the decision names one: then Dial is empty
	// (the gateway resolves, guards and dials) and Connect asks the gateway for TunnelTarget.
	tunnel Tunneler
	// throughGateway says Connect opens a tunnel through Decision.Gateway instead of dialling Dial.
	throughGateway bool
}

// ThroughGateway reports whether the connection goes through the gateway Decision.Gateway names (rather
// than to Dial's addresses).
func (v Verdict) ThroughGateway() bool { return v.throughGateway }

// Attempts is how many connection attempts Connect may make: one per address, or, through a gateway, two
// (a replica that cannot be reached, then another).
func (v Verdict) Attempts() int {
	if v.throughGateway {
		return 2
	}
	return max(1, len(v.Dial))
}

// TunnelTarget is what a verdict routed through a gateway asks the gateway for: "name:port" when a name
// was decided on, else "address:port".
func (v Verdict) TunnelTarget() string {
	host := v.Name
	if host == "" && v.IP.IsValid() {
		host = v.IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(v.Port)))
}

// Backend is where a denied plain-HTTP request goes instead of a 403.
type Backend struct {
	// Name is the Service's DNS name; Port its port.
	Name string
	Port uint16
	// RuleSet is the rule set that named it.
	RuleSet string
	// Dial are its addresses; Err says why there are none.
	Dial []netip.AddrPort
	Err  error
}

// RouteName returns the name of the route that allowed the request, or "".
func (v Verdict) RouteName() string {
	if v.Route == nil {
		return ""
	}
	return v.Route.Name
}

// Forwards reports whether the connection or request goes on: allowed (or audited) with addresses to
// connect to.
// A verdict routed through a gateway forwards with no addresses: the gateway has them.
func (v Verdict) Forwards() bool {
	return v.Allowed() && v.Err == nil && (len(v.Dial) > 0 || v.throughGateway)
}

// Reason returns the reason recorded: the sidecar's own, or the policy's.
func (v Verdict) Reason() string {
	if v.SidecarReason != "" {
		return v.SidecarReason
	}
	return v.Decision.Reason.String()
}

// Suggestion returns the narrowest target that would allow what was refused: a CIDR target for an address
// the guard refused, else the policy's suggestion.
func (v Verdict) Suggestion() string {
	if v.SidecarReason == ReasonPrivateAddress && v.RefusedAddr.IsValid() {
		return policy.Decision{IP: v.RefusedAddr, Port: v.Port}.Suggestion()
	}
	if v.SidecarReason == ReasonLoop {
		return ""
	}
	switch v.Decision.Reason {
	case policy.ReasonNoRoute, policy.ReasonPathNotNormal, policy.ReasonRoutesNeedHTTP:
		return "" // the host has its target: a route (or plain HTTP) would allow it, not another target
	}
	return v.Decision.Suggestion()
}

// refuse turns v into a denial by the guard for addr.
func (v Verdict) refuse(addr netip.Addr, g guardResult) Verdict {
	v.Action, v.RuleSet, v.Target = policy.Deny, "", ""
	v.SidecarReason, v.RefusedAddr, v.AddressClass = ReasonPrivateAddress, addr, g.describe()
	if g.loop {
		v.SidecarReason = ReasonLoop
	}
	v.Dial = nil
	return v
}

// audit records that the guard would have refused addr but audit mode lets it through.
func (v *Verdict) audit(addr netip.Addr, g guardResult) {
	if v.Action == policy.Allow {
		// The policy allowed the name; only the address is a would-be denial.
		v.Action, v.SidecarReason, v.RuleSet, v.Target = policy.Audit, ReasonPrivateAddress, "", ""
	}
	v.RefusedAddr, v.AddressClass = addr, g.describe()
}

// Event is the record of v at now; connected, when valid, is the address actually connected to.
func (v Verdict) Event(now time.Time, connected netip.Addr) record.Event {
	ev := record.Event{
		Time:         now,
		Decision:     v.Action.String(),
		Reason:       v.Reason(),
		Protocol:     v.Protocol.String(),
		Host:         v.Name,
		Port:         v.Port,
		RuleSet:      v.RuleSet,
		Target:       v.Target,
		Route:        v.RouteName(),
		AddressClass: v.AddressClass,
		Hint:         v.Hint,
		Gateway:      v.Gateway,
	}
	ip := connected
	switch {
	case ip.IsValid():
	case v.RefusedAddr.IsValid():
		ip = v.RefusedAddr
	case v.IP.IsValid():
		ip = v.IP
	}
	if ip.IsValid() {
		ev.IP = ip.String()
	}
	if !v.Allowed() || v.Action == policy.Audit {
		ev.Suggestion = v.Suggestion()
	}
	return ev
}
