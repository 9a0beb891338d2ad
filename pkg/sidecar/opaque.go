package sidecar

import (
	"context"
	"net"
	"net/netip"

	"egress.io/egress/pkg/policy"
)

// opaque forwards a connection that is neither HTTP nor TLS with an SNI, to its original destination,
// when a CIDR (or "*:port") target allows the address, or when a name the DNS proxy recently resolved to
// that address (within the answer's TTL) is allowed. A name that reaches a denied range is refused unless
// a CIDR target allows the address.
func (e *engine) opaque(ctx context.Context, c *net.TCPConn, orig netip.AddrPort, why string, peeked []byte) {
	m := e.matcher()
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
	label := e.labels.Host(m, d.Name, addr)
	if d.Allowed() && d.Reason != policy.ReasonCIDR && e.guard.Check(m, addr, port) == addrRefused {
		suggestion := policy.Decision{IP: addr, Port: port}.Suggestion()
		e.reportRefusal(ctx, ProtoTCP.String(), reasonPrivateAddress, d, addr, suggestion)
		e.countConn(ProtoTCP, policy.Deny, label, port)
		c.Close()
		return
	}
	e.log.Debug("opaque connection", "destination", orig.String(), "why", why)
	if !d.Allowed() {
		e.report(ctx, ProtoTCP.String(), d, addr)
		e.countConn(ProtoTCP, d.Action, label, port)
		c.Close()
		return
	}
	dialCtx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	up, err := e.dialer.DialAddr(dialCtx, orig)
	cancel()
	if err != nil {
		e.dialFailed(ctx, ProtoTCP, d, label, orig, err)
		c.Close()
		return
	}
	e.report(ctx, ProtoTCP.String(), d, addr)
	e.countConn(ProtoTCP, d.Action, label, port)
	e.forward(c, up, peeked, label)
}
