package policy

import (
	"net/netip"
	"strings"

	"egress.io/egress/pkg/netrange"
)

// rule is one compiled target: the ports it allows and, for reporting, where it came from.
type rule struct {
	ports   netrange.PortRange
	target  string
	ruleSet string
	gateway string // the EgressGateway the rule set routes through, or ""
}

// Matcher is the compiled, immutable allow-list of one pod. A nil *Matcher means no policy has been loaded yet
// and denies everything. Decide is safe for concurrent use and does not allocate for names that are already
// lower-case ASCII (as SNI and most Host headers are).
type Matcher struct {
	exact        map[string][]rule
	wildcard     map[string][]rule // by suffix, without "*."
	anyHost      []rule
	v4, v6       prefixTable
	audit        bool
	auditRuleSet string
	targets      int

	routesExact    map[string][]hostRoute
	routesWildcard map[string][]hostRoute // by suffix, without "*."
	routes         int
	deniedBackend  *Backend
}

// Backend is the in-cluster service that receives the pod's denied plain-HTTP requests.
type Backend struct {
	Name, Namespace string
	Port            uint16
	RuleSet         string
}

// Routes returns the number of valid routes compiled in.
func (m *Matcher) Routes() int {
	if m == nil {
		return 0
	}
	return m.routes
}

// DeniedBackend returns where denied plain-HTTP requests go instead of a 403, or nil.
func (m *Matcher) DeniedBackend() *Backend {
	if m == nil {
		return nil
	}
	return m.deniedBackend
}

// RouteRestricted reports whether routes restrict name (normalised) on port: requests there are allowed
// only when they match a route.
func (m *Matcher) RouteRestricted(name string, port uint16) bool {
	_, restricted := m.route(name, port, nil)
	return restricted
}

// DecideRequest decides an HTTP request to the host name (or address) on port: Decide, then, when routes
// restrict the host, the request must match one of them (its path in normal form) or it is denied (audited
// in audit mode) with ReasonNoRoute or ReasonPathNotNormal. A route allows nothing a target does not.
func (m *Matcher) DecideRequest(name string, port uint16, req Request) Decision {
	d := m.Decide(name, netip.Addr{}, port)
	if m == nil || d.Name == "" || d.Reason == ReasonInvalidName {
		return d
	}
	if _, restricted := m.route(d.Name, port, nil); !restricted {
		return d
	}
	reason := ReasonPathNotNormal
	if NormalPath(req.Path) {
		if r, _ := m.route(d.Name, port, &req); r != nil {
			if d.Action == Allow {
				d.Route = r
			}
			return d
		}
		reason = ReasonNoRoute
	}
	if d.Action != Allow {
		return d // no target allows the host anyway: that is the reason to give
	}
	d.Action, d.Reason, d.RuleSet, d.Target = Deny, reason, "", ""
	if m.audit {
		d.Action, d.RuleSet = Audit, m.auditRuleSet
	}
	return d
}

// route returns the first route for name on port that matches req (nil req: none is matched), and
// whether any route is for name on port at all. Exact hosts come first, then wildcards from the longest
// suffix, each in rule-set order.
func (m *Matcher) route(name string, port uint16, req *Request) (*Route, bool) {
	if m == nil || m.routes == 0 || name == "" {
		return nil, false
	}
	restricted := false
	try := func(list []hostRoute) *Route {
		for _, hr := range list {
			if !hr.ports.Contains(port) {
				continue
			}
			restricted = true
			if req != nil && hr.route.Matches(*req) {
				return hr.route
			}
		}
		return nil
	}
	if r := try(m.routesExact[name]); r != nil {
		return r, true
	}
	for suffix := parentDomain(name); suffix != ""; suffix = parentDomain(suffix) {
		if r := try(m.routesWildcard[suffix]); r != nil {
			return r, true
		}
	}
	return nil, restricted
}

// Targets returns the number of valid targets compiled in.
func (m *Matcher) Targets() int {
	if m == nil {
		return 0
	}
	return m.targets
}

// Audit reports whether the pod is in audit mode (what no target allows is let through and reported).
func (m *Matcher) Audit() bool { return m != nil && m.audit }

// NamesHost reports whether an exact or wildcard target names host (normalised), so that metrics can label it
// by name without letting arbitrary names grow the label set.
func (m *Matcher) NamesHost(host string) bool {
	if m == nil {
		return false
	}
	if _, ok := m.exact[host]; ok {
		return true
	}
	for suffix := parentDomain(host); suffix != ""; suffix = parentDomain(suffix) {
		if _, ok := m.wildcard[suffix]; ok {
			return true
		}
	}
	return false
}

// Decide says whether a connection to port on the host name (may be "") at address ip (may be invalid) is
// allowed. A name that is an IP literal is decided as that address. A name that is not a valid host name is
// denied outright (it is never matched by address instead). Exact names are tried first, then wildcards from
// the longest suffix, then CIDRs from the longest prefix, then "*:port".
//
// A nil Matcher (no policy loaded yet) denies with ReasonNotReady, still saying what was decided on (the
// name normalised, or the address), so that its log line and denial name the destination.
func (m *Matcher) Decide(name string, ip netip.Addr, port uint16) Decision {
	d := Decision{IP: ip.Unmap(), Port: port}
	if name != "" {
		if addr, ok := parseAddrLiteral(name); ok {
			d.IP = addr
		} else if norm, err := normalizeHost(name); err == nil {
			d.Name = norm
		} else {
			d.Name = name
			d.Reason = ReasonInvalidName
			if m == nil {
				d.Name = strings.ToLower(strings.TrimSuffix(name, "."))
				d.Reason = ReasonNotReady
			}
			return d
		}
	}
	if m == nil {
		d.Reason = ReasonNotReady
		return d
	}
	if r, reason, ok := m.match(d.Name, d.IP, port); ok {
		d.Action, d.Reason, d.RuleSet, d.Target, d.Gateway = Allow, reason, r.ruleSet, r.target, r.gateway
		return d
	}
	if m.audit {
		d.Action, d.RuleSet = Audit, m.auditRuleSet
	}
	return d
}

func (m *Matcher) match(name string, ip netip.Addr, port uint16) (rule, Reason, bool) {
	if name != "" {
		if r, ok := matchPort(m.exact[name], port); ok {
			return r, ReasonExact, true
		}
		for suffix := parentDomain(name); suffix != ""; suffix = parentDomain(suffix) {
			if r, ok := matchPort(m.wildcard[suffix], port); ok {
				return r, ReasonWildcard, true
			}
		}
	}
	if ip.IsValid() {
		table := &m.v4
		if ip.Is6() {
			table = &m.v6
		}
		if r, ok := table.match(ip, port); ok {
			return r, ReasonCIDR, true
		}
	}
	if r, ok := matchPort(m.anyHost, port); ok {
		return r, ReasonAnyHost, true
	}
	return rule{}, ReasonNoMatch, false
}

// parseAddrLiteral parses name as an IP address ("203.0.113.7", "2001:db8::1", "[2001:db8::1]"). It tries only
// names that could be addresses (a valid host name never ends in a digit), because a failed parse allocates.
func parseAddrLiteral(name string) (netip.Addr, bool) {
	if name == "" {
		return netip.Addr{}, false
	}
	last := name[len(name)-1]
	if !(last >= '0' && last <= '9') && last != ']' && !strings.Contains(name, ":") {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]"))
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// parentDomain returns name without its first label ("b.a.com" for "c.b.a.com"), or "" for a single label.
func parentDomain(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

func matchPort(rules []rule, port uint16) (rule, bool) {
	for _, r := range rules {
		if r.ports.Contains(port) {
			return r, true
		}
	}
	return rule{}, false
}
