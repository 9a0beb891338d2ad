package sidecar

import (
	"context"
	"net"
	"net/netip"

	"egress.io/egress/pkg/policy"
)

// opaqueVerdict is what becomes of a connection to an address as opaque TCP: the decision, its metric
// label, and whether the address guard refuses what the policy allowed.
type opaqueVerdict struct {
	d       policy.Decision
	label   string
	refused bool
}

// forwards reports whether the connection goes upstream.
func (v opaqueVerdict) forwards() bool { return v.d.Allowed() && !v.refused }

// decideOpaque decides a connection that is neither HTTP nor TLS with an SNI: it is allowed to its
// original destination when a CIDR (or "*:port") target allows the address, or when a name the DNS proxy
// recently resolved to that address (within the answer's TTL) is allowed. A name that reaches a refused
// range is refused unless a CIDR target allows the address.
func (e *engine) decideOpaque(m *policy.Matcher, orig netip.AddrPort) opaqueVerdict {
	addr, port := orig.Addr(), orig.Port()
	d := m.Decide("", addr, port)
	if d.Action != policy.Allow {
		names := e.names.NamesFor(addr)
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
	v := opaqueVerdict{d: d, label: e.labels.Host(m, d.Name, addr)}
	if d.Allowed() && d.Reason != policy.ReasonCIDR {
		verdict, _ := e.guard.Check(m, addr, port)
		v.refused = verdict == addrRefused
	}
	return v
}

// opaque decides a connection as opaque TCP and forwards it to its original destination or refuses it.
func (e *engine) opaque(ctx context.Context, c *net.TCPConn, orig netip.AddrPort, why string, peeked []byte) {
	v := e.decideOpaque(e.matcher(), orig)
	e.log.Debug("opaque connection", "destination", orig.String(), "why", why)
	if !v.forwards() {
		e.refuseOpaque(ctx, c, orig, v)
		return
	}
	dialCtx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	up, err := e.dialer.DialAddr(dialCtx, orig)
	cancel()
	if err != nil {
		e.dialFailed(ctx, ProtoTCP, v.d, v.label, orig, err)
		c.Close()
		return
	}
	e.forwardOpaque(ctx, c, up, orig, v, peeked, nil)
}

// refuseOpaque records a refused opaque connection and closes it.
func (e *engine) refuseOpaque(ctx context.Context, c *net.TCPConn, orig netip.AddrPort, v opaqueVerdict) {
	addr, port := orig.Addr(), orig.Port()
	if v.refused {
		suggestion := policy.Decision{IP: addr, Port: port}.Suggestion()
		e.reportRefusal(ctx, ProtoTCP.String(), reasonPrivateAddress, v.d, addr, suggestion)
		e.countConn(ProtoTCP, policy.Deny, v.label, port)
	} else {
		e.report(ctx, ProtoTCP.String(), v.d, addr)
		e.countConn(ProtoTCP, v.d.Action, v.label, port)
	}
	c.Close()
}

// forwardOpaque records an allowed opaque connection and tunnels it: first what the server already said
// (a server-first protocol), then both directions, starting with what the client already sent.
func (e *engine) forwardOpaque(ctx context.Context, c, up *net.TCPConn, orig netip.AddrPort, v opaqueVerdict, peeked, fromServer []byte) {
	e.report(ctx, ProtoTCP.String(), v.d, orig.Addr())
	e.countConn(ProtoTCP, v.d.Action, v.label, orig.Port())
	if len(fromServer) > 0 {
		n, err := c.Write(fromServer)
		e.metrics.bytes.WithLabelValues(directionReceived, v.label).Add(float64(n))
		if err != nil {
			c.Close()
			up.Close()
			return
		}
	}
	e.forward(c, up, peeked, v.label)
}
