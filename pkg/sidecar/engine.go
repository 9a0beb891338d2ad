package sidecar

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"egress.io/egress/pkg/policy"
)

// nameCache tells which names the DNS proxy recently resolved to an address (dnsproxy.Cache).
type nameCache interface {
	NamesFor(addr netip.Addr) []string
}

// engine is the state the data path's handlers share: configuration, the policy, the upstream dialer and
// what records decisions.
type engine struct {
	cfg          Config
	log          *slog.Logger
	policy       *policyState
	metrics      *metrics
	labels       *hostLabeler
	reporter     *reporter
	dialer       *upstreamDialer
	names        nameCache
	guard        addrGuard
	serverFirst  map[uint16]bool
	origDst      func(*net.TCPConn) (netip.AddrPort, error)
	now          func() time.Time
	tracker      *connTracker
	pipes        *pipePool
	http         *httpProxy
	httpListener *connListener
	selfAddrs    []netip.AddrPort // the capture listener's addresses
	sentinels    []netip.Addr     // what the DNS proxy answers for NAME.egress.local
}

// matcher returns the policy in force now.
func (e *engine) matcher() *policy.Matcher { return e.policy.Matcher() }

// report records a decision and counts nothing (callers count in the metric that fits their protocol).
func (e *engine) report(ctx context.Context, protocol string, d policy.Decision, addr netip.Addr) Event {
	ev := newEvent(e.now(), protocol, d, addr)
	e.reporter.Report(ctx, ev)
	return ev
}

// reportRefusal records a refusal by the sidecar itself (private address, loop) of an allowed name.
func (e *engine) reportRefusal(ctx context.Context, protocol, reason string, d policy.Decision, addr netip.Addr, suggestion string) {
	ev := newEvent(e.now(), protocol, d, addr)
	ev.Decision, ev.Reason, ev.Suggestion = policy.Deny.String(), reason, suggestion
	ev.RuleSet, ev.Target = "", ""
	e.reporter.Report(ctx, ev)
}

// isSelf reports whether ap is one of the sidecar's own capture addresses, or the capture port on a
// loopback or unspecified address: connecting there would loop.
func (e *engine) isSelf(ap netip.AddrPort) bool {
	addr := ap.Addr().Unmap()
	if ap.Port() == e.cfg.CapturePort && (addr.IsLoopback() || addr.IsUnspecified()) {
		return true
	}
	for _, self := range e.selfAddrs {
		if self == netip.AddrPortFrom(addr, ap.Port()) {
			return true
		}
	}
	return false
}

// decide is Matcher.Decide, except that a not-ready decision (nil Matcher) still says what was decided
// on, so its log line and denial name the destination.
func decide(m *policy.Matcher, name string, ip netip.Addr, port uint16) policy.Decision {
	d := m.Decide(name, ip, port)
	if m == nil && name != "" {
		if addr, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
			d.IP = addr.Unmap()
		} else {
			d.Name = strings.ToLower(strings.TrimSuffix(name, "."))
		}
	}
	return d
}

// auditAddr records that, in audit mode, a name was let through to an address in a denied range.
func (e *engine) auditAddr(ctx context.Context, name string, addr netip.AddrPort) {
	protocol := ProtoTLS.String()
	if st, ok := ctx.Value(reqKey{}).(*reqState); ok {
		protocol = st.target.Protocol()
	}
	ev := Event{
		Time: e.now(), Decision: policy.Audit.String(), Reason: reasonPrivateAddress, Protocol: protocol,
		Host: name, IP: addr.Addr().String(), Port: addr.Port(),
		Suggestion: policy.Decision{IP: addr.Addr(), Port: addr.Port()}.Suggestion(),
	}
	e.reporter.Report(ctx, ev)
}
