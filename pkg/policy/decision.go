package policy

import (
	"net/netip"
	"strconv"
)

// Action is what happens to a connection or request.
type Action uint8

const (
	// Deny refuses the connection or request.
	Deny Action = iota
	// Allow lets it through because a target allows it.
	Allow
	// Audit lets it through although no target allows it, because the pod is in audit mode.
	Audit
)

// String returns the action's lower-case name as used in logs and metric labels.
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Audit:
		return "audit"
	default:
		return "deny"
	}
}

// Reason says why a decision came out as it did.
type Reason uint8

const (
	// ReasonNoMatch: no target allows the destination.
	ReasonNoMatch Reason = iota
	// ReasonExact: an exact host target matched.
	ReasonExact
	// ReasonWildcard: a "*.suffix" target matched.
	ReasonWildcard
	// ReasonCIDR: an IP or CIDR target matched the destination address.
	ReasonCIDR
	// ReasonAnyHost: a "*:port" target matched.
	ReasonAnyHost
	// ReasonNotReady: no policy has been loaded yet, so everything is denied.
	ReasonNotReady
	// ReasonInvalidName: the name is not a valid host name, so it cannot match any target.
	ReasonInvalidName
	// ReasonNoRoute: routes restrict the host and none matches the request.
	ReasonNoRoute
	// ReasonPathNotNormal: routes restrict the host and the request's path is not in normal form.
	ReasonPathNotNormal
	// ReasonRoutesNeedHTTP: routes restrict the host, and TLS the app speaks itself hides the requests.
	ReasonRoutesNeedHTTP
)

var reasonNames = [...]string{
	ReasonNoMatch:        "no_match",
	ReasonExact:          "exact",
	ReasonWildcard:       "wildcard",
	ReasonCIDR:           "cidr",
	ReasonAnyHost:        "any_host",
	ReasonNotReady:       "not_ready",
	ReasonInvalidName:    "invalid_name",
	ReasonNoRoute:        "no_route",
	ReasonPathNotNormal:  "path_not_normal",
	ReasonRoutesNeedHTTP: "routes_need_http",
}

// String returns the reason's snake-case name as used in logs and metric labels.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Decision is the outcome of Matcher.Decide. Its strings point into the Matcher, so making one allocates nothing.
type Decision struct {
	Action Action
	Reason Reason
	// RuleSet is "namespace/name" of the rule set whose target matched or, for Audit, of an audit rule set.
	RuleSet string
	// Target is the matched target in canonical form ("" when nothing matched).
	Target string
	// Name, IP and Port are what was decided on (Name normalised; "" when only an address was known).
	Name string
	IP   netip.Addr
	Port uint16
	// Route is, for an HTTP request to a host that routes restrict, the route that allowed it.
	Route *Route
	// Gateway is, when allowed by a target of a rule set with spec.gateway, the EgressGateway the
	// connection must leave through ("": directly).
	Gateway string
}

// Allowed reports whether the connection may proceed (Allow or Audit).
func (d Decision) Allowed() bool { return d.Action != Deny }

// Suggestion returns the narrowest target that would allow what was decided on: "name:port" when a name was
// known, else the address as a single-address target ("203.0.113.7:5432", "[2001:db8::1]:443").
func (d Decision) Suggestion() string {
	port := strconv.Itoa(int(d.Port))
	switch {
	case d.Name != "":
		return d.Name + ":" + port
	case d.IP.Is6():
		return "[" + d.IP.String() + "]:" + port
	case d.IP.IsValid():
		return d.IP.String() + ":" + port
	default:
		return ""
	}
}
