package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"egress.io/egress/api/v1alpha1"
)

// Problem is an invalid target or route that Compile skipped.
type Problem struct {
	RuleSet string // "namespace/name"
	Index   int    // position in spec.targets, or in spec.routes when Route is set
	Target  string // as written
	Route   string // the route's name, for a route
	Err     error
}

// Error returns e.g. `shop/deps: target 3 "*.:443": empty suffix after "*."` or
// `shop/deps: route 0 "read": host 0 "10.0.0.1:80": ...`.
func (p Problem) Error() string {
	if p.Route != "" {
		return fmt.Sprintf("%s: route %d %q: %v", p.RuleSet, p.Index, p.Route, p.Err)
	}
	return fmt.Sprintf("%s: target %d %q: %v", p.RuleSet, p.Index, p.Target, p.Err)
}

// Unwrap returns the parse error.
func (p Problem) Unwrap() error { return p.Err }

// Compile builds the Matcher for the union of the targets of sets (already selected for one pod). Invalid
// targets are skipped and returned as problems: they never widen access. If any set is in Audit mode, the
// matcher audits instead of denying. Rule sets are taken in namespace/name order, so when several targets
// allow the same destination the reported one does not depend on the order sets arrived in.
func Compile(sets []v1alpha1.EgressRuleSet) (*Matcher, []Problem) {
	ordered := make([]*v1alpha1.EgressRuleSet, len(sets))
	for i := range sets {
		ordered[i] = &sets[i]
	}
	slices.SortFunc(ordered, func(a, b *v1alpha1.EgressRuleSet) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})

	b := newBuilder()
	var problems []Problem
	for _, set := range ordered {
		name := ruleSetName(set)
		if set.Spec.Mode == v1alpha1.ModeAudit && !b.m.audit {
			b.m.audit, b.m.auditRuleSet = true, name
		}
		for i, raw := range set.Spec.Targets {
			t, err := ParseTarget(string(raw))
			if err != nil {
				problems = append(problems, Problem{RuleSet: name, Index: i, Target: string(raw), Err: err})
				continue
			}
			b.add(t, name, set.Spec.Gateway)
		}
		for i, raw := range set.Spec.Routes {
			r, hosts, err := compileRoute(name, raw)
			if err != nil {
				problems = append(problems, Problem{RuleSet: name, Index: i, Route: raw.Name, Err: err})
			}
			if r != nil {
				b.addRoute(r, hosts)
			}
		}
		if bk := set.Spec.DeniedBackend; bk != nil && b.m.deniedBackend == nil {
			if err := checkBackend(bk); err != nil {
				problems = append(problems, Problem{RuleSet: name, Index: -1, Route: "deniedBackend", Err: err})
			} else {
				ns := bk.Service.Namespace
				if ns == "" {
					ns = set.Namespace
				}
				b.m.deniedBackend = &Backend{Name: bk.Service.Name, Namespace: ns, Port: uint16(bk.Service.Port), RuleSet: name}
			}
		}
	}
	return b.build(), problems
}

// checkBackend validates a denied-requests backend the API server may not have checked (a rules file).
func checkBackend(bk *v1alpha1.Backend) error {
	if bk.Service.Name == "" {
		return fmt.Errorf("service.name must not be empty")
	}
	if bk.Service.Port < 1 || bk.Service.Port > 65535 {
		return fmt.Errorf("service.port %d: must be from 1 to 65535", bk.Service.Port)
	}
	return nil
}

// addRoute indexes a route under each of its hosts.
func (b *builder) addRoute(r *Route, hosts []Target) {
	if !r.invalid {
		b.m.routes++
	}
	for _, h := range hosts {
		hr := hostRoute{ports: h.Ports, route: r}
		if h.Kind == KindExact {
			b.m.routesExact[h.Host] = append(b.m.routesExact[h.Host], hr)
		} else {
			b.m.routesWildcard[h.Host] = append(b.m.routesWildcard[h.Host], hr)
		}
	}
}

type builder struct {
	m        *Matcher
	prefixes [2]map[netip.Prefix][]rule // by family: 0 IPv4, 1 IPv6
}

func newBuilder() *builder {
	return &builder{
		m: &Matcher{
			exact:          map[string][]rule{},
			wildcard:       map[string][]rule{},
			routesExact:    map[string][]hostRoute{},
			routesWildcard: map[string][]hostRoute{},
		},
		prefixes: [2]map[netip.Prefix][]rule{{}, {}},
	}
}

func (b *builder) add(t Target, ruleSet, gateway string) {
	r := rule{ports: t.Ports, target: t.String(), ruleSet: ruleSet, gateway: gateway}
	b.m.targets++
	switch t.Kind {
	case KindExact:
		b.m.exact[t.Host] = append(b.m.exact[t.Host], r)
	case KindWildcard:
		b.m.wildcard[t.Host] = append(b.m.wildcard[t.Host], r)
	case KindAnyHost:
		b.m.anyHost = append(b.m.anyHost, r)
	case KindCIDR:
		family := 0
		if t.Prefix.Addr().Is6() {
			family = 1
		}
		b.prefixes[family][t.Prefix] = append(b.prefixes[family][t.Prefix], r)
	}
}

// build orders every list of equally specific rules so that those routed through a gateway come first
// (keeping rule-set order among them and among the direct ones): a destination that one rule set sends
// through a gateway never leaves directly because another rule set allows it at the same specificity, and
// of two gateways the one of the rule set first by namespace/name wins. See docs/gateways.md.
func (b *builder) build() *Matcher {
	for _, lists := range []map[string][]rule{b.m.exact, b.m.wildcard} {
		for _, list := range lists {
			gatewayFirst(list)
		}
	}
	gatewayFirst(b.m.anyHost)
	for _, family := range b.prefixes {
		for _, list := range family {
			gatewayFirst(list)
		}
	}
	b.m.v4 = newPrefixTable(b.prefixes[0])
	b.m.v6 = newPrefixTable(b.prefixes[1])
	return b.m
}

// gatewayFirst stably moves the rules routed through a gateway before the direct ones.
func gatewayFirst(list []rule) {
	slices.SortStableFunc(list, func(a, b rule) int {
		return cmp.Compare(boolRank(a.gateway == ""), boolRank(b.gateway == ""))
	})
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
