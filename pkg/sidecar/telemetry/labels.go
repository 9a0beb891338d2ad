package telemetry

import (
	"net/netip"
	"strconv"
	"sync"

	"egress.io/egress/pkg/policy"
)

// otherLabel is the label value every value beyond a bound is folded into.
const otherLabel = "other"

// maxNamedHostLabels caps the hosts labelled by name because a target names them: a wildcard target names
// unboundedly many hosts, so even those stop getting their own series after this many.
const maxNamedHostLabels = 1000

// Bound admits label values up to a limit, then answers "other" for every value not yet admitted. The
// values admitted first keep their series for the life of the process.
type Bound struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

// NewBound returns a Bound admitting limit values.
func NewBound(limit int) *Bound {
	return &Bound{max: limit, seen: map[string]struct{}{}}
}

// Label returns value if it is admitted (already, or now because there is room), else "other".
func (b *Bound) Label(value string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[value]; ok {
		return value
	}
	if len(b.seen) >= b.max {
		return otherLabel
	}
	b.seen[value] = struct{}{}
	return value
}

// Labels bounds the host label of the egress_ metrics: hosts named by a target get their own series
// (up to maxNamedHostLabels), any other host or address counts against --max-host-labels, and the rest are
// "other".
type Labels struct {
	named  *Bound
	others *Bound
	ports  *Bound
	routes *Bound
}

// NewLabels returns Labels admitting maxOthers host values beyond those named in targets.
func NewLabels(maxOthers int) *Labels {
	return &Labels{
		named:  NewBound(maxNamedHostLabels),
		others: NewBound(maxOthers),
		ports:  NewBound(max(maxOthers, 16)),
		routes: NewBound(maxRouteLabels),
	}
}

// Host returns the label for a destination: its name when known (normalised, as a Decision carries it),
// else its address; "" when neither is known.
func (l *Labels) Host(m *policy.Matcher, name string, addr netip.Addr) string {
	if name != "" {
		if m.NamesHost(name) {
			if v := l.named.Label(name); v != otherLabel {
				return v
			}
		}
		return l.others.Label(name)
	}
	if addr.IsValid() {
		return l.others.Label(addr.String())
	}
	return ""
}

// Port returns the label for a destination port, bounded like hosts.
func (l *Labels) Port(port uint16) string {
	return l.ports.Label(strconv.Itoa(int(port)))
}

// maxRouteLabels bounds the route label values: routes come from rule sets, which the pod's team writes.
const maxRouteLabels = 100

// Route returns the label for a route name ("" for none), bounded like hosts.
func (l *Labels) Route(name string) string {
	if name == "" {
		return ""
	}
	return l.routes.Label(name)
}
