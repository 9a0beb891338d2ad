package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"egress.io/egress/pkg/policy"
)

// Resolver looks up the addresses of a name for the sidecar's own connections. dnsproxy.Resolver is the
// production implementation; it also records the answers so opaque TCP can be matched to names.
type Resolver interface {
	LookupAddrs(ctx context.Context, name string) ([]netip.Addr, error)
}

// upstreamDialer connects the sidecar to the destinations it forwards to. Names are resolved with the
// sidecar's own resolver (never the app's answer) and the resolved addresses pass addrGuard; the sidecar's
// own listeners are never dialled (no loops).
type upstreamDialer struct {
	resolver       Resolver
	notFound       func(error) bool // reports whether a lookup error means the name does not exist
	guard          addrGuard
	matcher        func() *policy.Matcher
	connectTimeout time.Duration
	isSelf         func(netip.AddrPort) bool
	onAudit        func(ctx context.Context, name string, addr netip.AddrPort)
}

// DialName resolves name (an IP literal is its own answer) and connects to the first acceptable address on
// port, trying the addresses in the resolver's order.
func (d *upstreamDialer) DialName(ctx context.Context, name string, port uint16) (*net.TCPConn, error) {
	var addrs []netip.Addr
	if addr, err := netip.ParseAddr(name); err == nil {
		addrs = []netip.Addr{addr.Unmap()}
	} else {
		addrs, err = d.resolver.LookupAddrs(ctx, name)
		if err != nil {
			kind := errDNS
			if d.notFound != nil && d.notFound(err) {
				kind = errDNSNotFound
			}
			return nil, &upstreamError{Kind: kind, Name: name, Err: err}
		}
		if len(addrs) == 0 {
			return nil, &upstreamError{Kind: errDNSNotFound, Name: name, Err: errors.New("no addresses")}
		}
	}
	m := d.matcher()
	var allowed []netip.Addr
	var refused *refusedAddrError
	for _, addr := range addrs {
		addr = addr.Unmap()
		ap := netip.AddrPortFrom(addr, port)
		verdict, class := d.guard.Check(m, addr, port)
		switch {
		case verdict == addrRefused, d.isSelf != nil && d.isSelf(ap):
			if refused == nil {
				refused = &refusedAddrError{Name: name, Addr: addr, Port: port, Class: class.String()}
			}
		case verdict == addrAudit:
			if d.onAudit != nil {
				d.onAudit(ctx, name, ap)
			}
			allowed = append(allowed, addr)
		default:
			allowed = append(allowed, addr)
		}
	}
	if len(allowed) == 0 {
		return nil, refused
	}
	return d.dialAddrs(ctx, name, allowed, port)
}

// DialAddr connects to one address (the original destination of an opaque connection).
func (d *upstreamDialer) DialAddr(ctx context.Context, ap netip.AddrPort) (*net.TCPConn, error) {
	if d.isSelf != nil && d.isSelf(ap) {
		return nil, &refusedAddrError{Addr: ap.Addr(), Port: ap.Port(), Loop: true}
	}
	return d.dialAddrs(ctx, "", []netip.Addr{ap.Addr()}, ap.Port())
}

func (d *upstreamDialer) dialAddrs(ctx context.Context, name string, addrs []netip.Addr, port uint16) (*net.TCPConn, error) {
	var last error
	for _, addr := range addrs {
		if err := ctx.Err(); err != nil {
			return nil, &upstreamError{Kind: errTimeout, Name: name, Addr: netip.AddrPortFrom(addr, port), Err: err}
		}
		dialer := net.Dialer{Timeout: d.connectTimeout, KeepAlive: 30 * time.Second}
		c, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(addr.String(), strconv.Itoa(int(port))))
		if err == nil {
			return c.(*net.TCPConn), nil
		}
		kind := errConnect
		if isTimeout(err) {
			kind = errTimeout
		}
		last = &upstreamError{Kind: kind, Name: name, Addr: netip.AddrPortFrom(addr, port), Err: err}
	}
	return nil, last
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// Kinds of upstream failure: the X-Egress-Error reason and the egress_upstream_errors_total reason label.
const (
	errDNS             = "dns"              // the resolver failed (timeout, SERVFAIL, unreachable)
	errDNSNotFound     = "dns_not_found"    // the name does not exist (NXDOMAIN or no addresses)
	errConnect         = "connect"          // the TCP connection was refused or unreachable
	errTimeout         = "timeout"          // connecting or waiting for the response timed out
	errTLSVerification = "tls_verification" // the upstream's certificate did not verify
	errTLS             = "tls"              // another TLS handshake failure
	errUpstream        = "upstream"         // the upstream broke the connection or the protocol
)

// upstreamError is a failure to reach an allowed destination.
type upstreamError struct {
	Kind string
	Name string
	Addr netip.AddrPort
	Err  error
}

func (e *upstreamError) Error() string {
	what := e.Name
	if e.Addr.IsValid() {
		if what != "" {
			what += " at "
		}
		what += e.Addr.String()
	}
	return fmt.Sprintf("%s: %s: %v", e.Kind, what, e.Err)
}

func (e *upstreamError) Unwrap() error { return e.Err }

// refusedAddrError is a destination refused after the policy allowed its name: every address the name
// resolved to is in a refused range (or is the sidecar itself) and no CIDR target allows it.
type refusedAddrError struct {
	Name  string
	Addr  netip.Addr
	Port  uint16
	Loop  bool
	Class string // the range that refused Addr (addrclass.Result.String)
}

func (e *refusedAddrError) Error() string {
	if e.Loop {
		return fmt.Sprintf("%s is the sidecar itself", netip.AddrPortFrom(e.Addr, e.Port))
	}
	return fmt.Sprintf("%s resolves to %s, a private or reserved address (%s)", e.Name, e.Addr, e.Class)
}

// Suggestion is the CIDR target that would allow the refused address.
func (e *refusedAddrError) Suggestion() string {
	return policy.Decision{IP: e.Addr, Port: e.Port}.Suggestion()
}
