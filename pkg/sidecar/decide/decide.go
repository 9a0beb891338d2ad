// Package decide is the sidecar's one decision step. Decide turns what an app asked for (the protocol, a
// name or an address, a port) into a Verdict: the policy's decision, the names resolved, the address guard
// applied, audit mode taken into account, and, when it allows, exactly the addresses to connect to. The
// connection paths dial only a Verdict's addresses (Connect) and record only its Event, so one connection or
// request is decided once, against one policy, and logged once.
package decide

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// Protocol is how the app's traffic is decided and forwarded.
type Protocol uint8

const (
	// HTTP is plain HTTP, decided per request on its Host and forwarded to that name.
	HTTP Protocol = iota
	// HTTPS is a request for NAME.egress.local: decided on NAME, forwarded over TLS the sidecar originates.
	HTTPS
	// TLS is TLS passed through, decided on its SNI (or, by a CIDR target, on the address).
	TLS
	// TCP is opaque TCP, decided on the original destination address.
	TCP
)

var protocolNames = [...]string{HTTP: "http", HTTPS: "https", TLS: "tls", TCP: "tcp"}

// String returns the protocol's name in logs and metrics.
func (p Protocol) String() string { return protocolNames[p] }

// Reasons the sidecar adds to the policy's when it refuses (or audits) on its own account.
const (
	ReasonPrivateAddress = "private_address" // the destination is in a range the address guard refuses
	ReasonLoop           = "loop"            // the destination is the sidecar itself or loopback
)

// Ask is what the app asked for.
type Ask struct {
	Protocol Protocol
	// Name is the host the app named: the Host header's host (HTTP, HTTPS) or the SNI (TLS); an IP literal
	// is decided as that address. Empty for TCP.
	Name string
	// Port is the port decided on.
	Port uint16
	// Dst is the original destination of the app's connection (TLS, TCP).
	Dst netip.AddrPort
	// Request is, for HTTP and HTTPS, what routes are matched on.
	Request policy.Request
}

// Resolver looks up the addresses of a name for the sidecar's own connections (dnsproxy.Resolver).
type Resolver interface {
	LookupAddrs(ctx context.Context, name string) ([]netip.Addr, error)
}

// NameCache tells which names the DNS proxy recently answered with an address (dnsproxy.Cache).
type NameCache interface {
	NamesFor(addr netip.Addr) []string
}

// Decider makes Verdicts. Its fields are its dependencies; it holds no state of its own.
type Decider struct {
	// Policy returns the policy in force (nil before the first load: everything is denied).
	Policy func() *policy.Matcher
	// Resolver resolves the names the sidecar connects to.
	Resolver Resolver
	// Guard classifies the addresses not given by a CIDR target.
	Guard *addrclass.Classifier
	// Names are the DNS proxy's recent answers, which opaque TCP is decided by.
	Names NameCache
	// IsSelf reports whether an address is one of the sidecar's own listeners.
	IsSelf func(netip.AddrPort) bool
	// ClusterDomain is the cluster's DNS domain, for the Service names of denied-request backends
	// (default cluster.local).
	ClusterDomain string
	// LocalSuffix is the suffix of the names the sidecar originates TLS for (egress.local), for hints.
	LocalSuffix string
	// Gateways opens tunnels through EgressGateways, for decisions that name one. Nil: such decisions
	// cannot be forwarded (Connect fails; nothing is dialled directly).
	Gateways Tunneler
	// InGateway is, in a gateway, its own name: decisions naming it are resolved, guarded and dialled
	// here, like direct ones.
	InGateway string
}

// Tunneler opens a tunnel through an EgressGateway to target ("host:port"); protocol is what it carries
// (gateway.Dialer).
type Tunneler interface {
	Tunnel(ctx context.Context, gateway, target, protocol string) (net.Conn, error)
}

// Decide decides ask against the policy in force now.
func (dr *Decider) Decide(ctx context.Context, ask Ask) Verdict {
	return dr.DecideWith(ctx, dr.Policy(), ask)
}

// DecideWith decides ask against m.
func (dr *Decider) DecideWith(ctx context.Context, m *policy.Matcher, ask Ask) Verdict {
	switch ask.Protocol {
	case TLS:
		return dr.decideTLS(ctx, m, ask)
	case TCP:
		return dr.decideTCP(m, ask)
	default:
		d := m.DecideRequest(ask.Name, ask.Port, ask.Request)
		v := Verdict{Protocol: ask.Protocol, Decision: d}
		if !d.Allowed() {
			if ask.Protocol == HTTP {
				v.Backend = dr.deniedBackend(ctx, m)
			}
			return v
		}
		if dr.tunnels(d) {
			return dr.viaGateway(v)
		}
		return dr.resolveAndGuard(ctx, m, v)
	}
}

// tunnels reports whether an allowing decision goes through a gateway from here.
func (dr *Decider) tunnels(d policy.Decision) bool {
	return d.Gateway != "" && d.Gateway != dr.InGateway
}

// viaGateway completes an allowing verdict whose decision names a gateway: the sidecar neither resolves
// nor dials; the gateway decides again, resolves, guards and dials.
func (dr *Decider) viaGateway(v Verdict) Verdict {
	v.Dial, v.tunnel, v.throughGateway = nil, dr.Gateways, true
	return v
}

// Loop returns a denial when dst, the original destination of a captured connection, is loopback,
// unspecified or the sidecar itself: egress-init never redirects loopback, so such a connection reached the
// capture port directly, and forwarding it would connect the sidecar to itself.
func (dr *Decider) Loop(dst netip.AddrPort) (Verdict, bool) {
	addr := dst.Addr().Unmap()
	if !addr.IsLoopback() && !addr.IsUnspecified() && !dr.isSelf(dst) {
		return Verdict{}, false
	}
	return Verdict{
		Protocol: TCP, Decision: policy.Decision{IP: addr, Port: dst.Port()}, SidecarReason: ReasonLoop,
	}, true
}

// decideTLS decides on the SNI. A connection whose SNI is not allowed but whose original address a CIDR
// target allows goes to that address; in audit mode the rest goes to the address the app chose.
func (dr *Decider) decideTLS(ctx context.Context, m *policy.Matcher, ask Ask) Verdict {
	d := m.Decide(ask.Name, netip.Addr{}, ask.Port)
	if d.Name != "" && d.Reason != policy.ReasonInvalidName && m.RouteRestricted(d.Name, ask.Port) {
		// Routes restrict the host: the sidecar cannot see requests inside TLS the app speaks itself.
		d.Action, d.Reason, d.RuleSet, d.Target = policy.Deny, policy.ReasonRoutesNeedHTTP, "", ""
		hint := fmt.Sprintf("routes restrict %s:%d and the sidecar cannot see paths inside TLS: use http://%s.%s so that it can check them",
			d.Name, ask.Port, d.Name, dr.LocalSuffix)
		return Verdict{Protocol: TLS, Decision: d, Hint: hint}
	}
	if d.Action == policy.Allow {
		if dr.tunnels(d) {
			return dr.viaGateway(Verdict{Protocol: TLS, Decision: d})
		}
		return dr.resolveAndGuard(ctx, m, Verdict{Protocol: TLS, Decision: d})
	}
	if byAddr := m.Decide("", ask.Dst.Addr(), ask.Port); byAddr.Action == policy.Allow && byAddr.Reason == policy.ReasonCIDR {
		if dr.tunnels(byAddr) {
			// The gateway is asked for the address the CIDR target allows, not for the SNI.
			return dr.viaGateway(Verdict{Protocol: TLS, Decision: byAddr})
		}
		byAddr.Name = d.Name // for the log: the SNI the connection carried
		return Verdict{Protocol: TLS, Decision: byAddr, Dial: []netip.AddrPort{ask.Dst}}
	}
	v := Verdict{Protocol: TLS, Decision: d}
	if d.Action == policy.Audit {
		v.Dial = []netip.AddrPort{ask.Dst}
	}
	return v
}

// decideTCP decides an opaque connection on its original destination: allowed by a CIDR (or "*:port")
// target for the address, or by a name the DNS proxy recently answered with that address (within the
// answer's TTL). A name that leads into a range the guard refuses needs a CIDR target.
func (dr *Decider) decideTCP(m *policy.Matcher, ask Ask) Verdict {
	addr, port := ask.Dst.Addr().Unmap(), ask.Port
	d := m.Decide("", addr, port)
	if d.Action != policy.Allow && dr.Names != nil {
		names := dr.Names.NamesFor(addr)
		for _, name := range names {
			if dn := m.Decide(name, addr, port); dn.Action == policy.Allow {
				d = dn
				break
			}
		}
		if d.Action != policy.Allow && len(names) > 0 {
			action, ruleSet := d.Action, d.RuleSet
			d = m.Decide(names[0], addr, port) // for the log: the narrowest target would name the host
			d.Action, d.RuleSet = action, ruleSet
		}
	}
	v := Verdict{Protocol: TCP, Decision: d}
	if !d.Allowed() {
		return v
	}
	if dr.tunnels(d) {
		// Allowed by a name: the gateway is asked for that name and resolves it itself.
		return dr.viaGateway(v)
	}
	if d.Reason != policy.ReasonCIDR {
		if g := dr.guard(m, addr, port); g.refused() {
			return v.refuse(addr, g)
		} else if g.audited {
			v.audit(addr, g)
		}
	}
	v.Dial = []netip.AddrPort{netip.AddrPortFrom(addr, port)}
	return v
}

// resolveAndGuard resolves an allowed name (an IP literal is its own answer) and keeps the addresses the
// guard lets through, in the resolver's order.
func (dr *Decider) resolveAndGuard(ctx context.Context, m *policy.Matcher, v Verdict) Verdict {
	var addrs []netip.Addr
	if v.Name == "" {
		addrs = []netip.Addr{v.IP}
	} else {
		var err error
		if addrs, err = dr.Resolver.LookupAddrs(ctx, v.Name); err != nil {
			kind := ErrDNS
			if dnsproxy.IsNotFound(err) {
				kind = ErrDNSNotFound
			}
			v.Err = &UpstreamError{Kind: kind, Name: v.Name, Err: err}
			return v
		}
		if len(addrs) == 0 {
			v.Err = &UpstreamError{Kind: ErrDNSNotFound, Name: v.Name, Err: errors.New("no addresses")}
			return v
		}
	}
	var refused *guardResult
	var refusedAddr netip.Addr
	for _, addr := range addrs {
		addr = addr.Unmap()
		g := dr.guard(m, addr, v.Port)
		if g.refused() {
			if refused == nil {
				refused, refusedAddr = &g, addr
			}
			continue
		}
		if g.audited && v.AddressClass == "" {
			v.audit(addr, g)
		}
		v.Dial = append(v.Dial, netip.AddrPortFrom(addr, v.Port))
	}
	if len(v.Dial) == 0 {
		return v.refuse(refusedAddr, *refused)
	}
	return v
}

func (dr *Decider) isSelf(ap netip.AddrPort) bool { return dr.IsSelf != nil && dr.IsSelf(ap) }

// deniedBackend resolves the in-cluster Service the policy sends denied plain-HTTP requests to, if any. It
// is the operator's own destination, not the app's: the address guard does not apply (the cluster's ranges
// are where it is), the sidecar's own listeners still do not.
func (dr *Decider) deniedBackend(ctx context.Context, m *policy.Matcher) *Backend {
	bk := m.DeniedBackend()
	if bk == nil {
		return nil
	}
	domain := dr.ClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	name := bk.Name + "." + bk.Namespace + ".svc." + domain
	out := &Backend{Name: name, RuleSet: bk.RuleSet, Port: bk.Port}
	addrs, err := dr.Resolver.LookupAddrs(ctx, name)
	if err != nil {
		out.Err = &UpstreamError{Kind: ErrDNS, Name: name, Err: err}
		return out
	}
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a.Unmap(), bk.Port)
		if !dr.isSelf(ap) {
			out.Dial = append(out.Dial, ap)
		}
	}
	if len(out.Dial) == 0 {
		out.Err = &UpstreamError{Kind: ErrDNSNotFound, Name: name, Err: errors.New("no addresses")}
	}
	return out
}
