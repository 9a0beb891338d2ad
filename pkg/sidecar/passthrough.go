package sidecar

import (
	"context"
	"net"
	"net/netip"

	"egress.io/egress/pkg/policy"
)

// passthrough forwards a TLS connection untouched when its SNI is allowed, to the SNI name as the sidecar
// resolves it: an allowed SNI sent to another IP does not become a tunnel to that IP. A connection whose
// original address is allowed by a CIDR target goes to that address, whatever its SNI. Audit mode lets
// the rest through to the address the app chose.
func (e *engine) passthrough(ctx context.Context, c *net.TCPConn, orig netip.AddrPort, sni string, peeked []byte) {
	m := e.matcher()
	d := decide(m, sni, netip.Addr{}, orig.Port())
	byAddr := false
	if d.Action != policy.Allow {
		if da := m.Decide("", orig.Addr(), orig.Port()); da.Action == policy.Allow && da.Reason == policy.ReasonCIDR {
			da.Name = d.Name // for the log: the SNI the connection carried
			d, byAddr = da, true
		}
	}
	label := e.labels.Host(m, d.Name, d.IP)
	if !d.Allowed() {
		e.report(ctx, ProtoTLS.String(), d, orig.Addr())
		e.countConn(ProtoTLS, d.Action, label, orig.Port())
		c.Close()
		return
	}

	var up *net.TCPConn
	var err error
	dialCtx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout+e.cfg.DNSTimeout)
	if byAddr || d.Action == policy.Audit {
		up, err = e.dialer.DialAddr(dialCtx, orig)
	} else {
		name := d.Name
		if name == "" { // an IP-literal SNI, decided as that address
			name = d.IP.String()
		}
		up, err = e.dialer.DialName(dialCtx, name, orig.Port())
	}
	cancel()
	if err != nil {
		e.dialFailed(ctx, ProtoTLS, d, label, orig, err)
		c.Close()
		return
	}
	e.report(ctx, ProtoTLS.String(), d, addrOf(up))
	e.countConn(ProtoTLS, d.Action, label, orig.Port())
	e.forward(c, up, peeked, label)
}
