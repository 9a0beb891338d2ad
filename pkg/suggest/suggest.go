// Package suggest turns what sidecars saw into a rule set: it merges the summaries of a workload's pods
// (their /summary) and computes the minimal targets that allow everything that was denied or audited, each
// with how often, when and by how many pods it was seen. It is pure: the summaries and the test of what the
// live rule sets already allow come in, targets go out (kubectl egress suggest renders them).
package suggest

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/record"
)

// PodSummary is the summary one pod's sidecar served.
type PodSummary struct {
	Pod     string
	Summary record.SummaryReport
}

// Seen is what a target was seen for, merged over pods and protocols.
type Seen struct {
	Count               uint64
	FirstSeen, LastSeen time.Time
	// Decisions and Protocols are the distinct values seen, sorted ("audit", "deny"; "http", "tls", ...).
	Decisions, Protocols []string
	// Pods are the pods that saw it, sorted.
	Pods []string
}

// Observation is a target, in canonical form, that would have allowed what was denied or audited.
type Observation struct {
	Target policy.Target
	Seen
}

// Skipped is an entry that yields no target: its suggestion does not parse as a target (a name the policy
// refused as invalid), or it has none (a request refused before any decision, a loop).
type Skipped struct {
	Entry record.SummaryEntry
	Pods  []string
	Why   string
}

// Merged is the union of pods' summaries: the denied and audited targets, and what could not be kept.
type Merged struct {
	Observations []Observation
	Skipped      []Skipped
	// Overflow counts, by pod, the denials and audits its summary could not keep (its other bucket): the
	// result may then be incomplete.
	Overflow map[string]uint64
}

// Merge merges the denied and audited entries of pods' summaries by canonical target ("API.example.test:80"
// and "api.example.test:80" are one), summing counts and widening first and last seen.
func Merge(pods []PodSummary) Merged {
	byTarget := map[string]*Observation{}
	m := Merged{Overflow: map[string]uint64{}}
	for _, p := range pods {
		if n := p.Summary.Other.ByDecision["deny"] + p.Summary.Other.ByDecision["audit"]; n > 0 {
			m.Overflow[p.Pod] += n
		}
		for _, e := range p.Summary.Entries {
			if e.Decision != "deny" && e.Decision != "audit" {
				continue
			}
			if e.Target == "" {
				m.Skipped = append(m.Skipped, Skipped{Entry: e, Pods: []string{p.Pod}, Why: "no target would allow it (reason " + e.Reason + ")"})
				continue
			}
			t, err := policy.ParseTarget(e.Target)
			if err != nil {
				m.Skipped = append(m.Skipped, Skipped{Entry: e, Pods: []string{p.Pod}, Why: "not a valid target: " + err.Error()})
				continue
			}
			key := t.String()
			o, ok := byTarget[key]
			if !ok {
				o = &Observation{Target: t}
				byTarget[key] = o
			}
			o.add(Seen{Count: e.Count, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen,
				Decisions: []string{e.Decision}, Protocols: []string{e.Protocol}, Pods: []string{p.Pod}})
		}
	}
	for _, o := range byTarget {
		m.Observations = append(m.Observations, *o)
	}
	sortObservations(m.Observations)
	return m
}

// add merges s into o's counts.
func (s *Seen) add(o Seen) {
	s.Count += o.Count
	if s.FirstSeen.IsZero() || (!o.FirstSeen.IsZero() && o.FirstSeen.Before(s.FirstSeen)) {
		s.FirstSeen = o.FirstSeen
	}
	if o.LastSeen.After(s.LastSeen) {
		s.LastSeen = o.LastSeen
	}
	s.Decisions = union(s.Decisions, o.Decisions)
	s.Protocols = union(s.Protocols, o.Protocols)
	s.Pods = union(s.Pods, o.Pods)
}

func union(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Options tune Minimal.
type Options struct {
	// Wildcards collapses two or more names under the same parent domain, on the same port, into
	// "*.parent:port" (never for a parent of one label, such as "*.com").
	Wildcards bool
	// Allowed reports whether the live rule sets already allow what o saw for every pod that saw it; such
	// observations are left out (nil keeps all).
	Allowed func(o Observation) bool
}

// Result is the minimal set of targets, sorted, and the observations left out because the live rule sets
// already allow them.
type Result struct {
	Targets        []Observation
	AlreadyAllowed []Observation
}

// Minimal returns the fewest, narrowest targets that allow every observation: each observation's own target
// (a name and port, or a single address for traffic that had no name), without those the live rule sets
// already allow, with siblings collapsed into wildcards only when asked, and without a target another one
// of the result covers.
func Minimal(obs []Observation, opts Options) Result {
	var r Result
	var keep []Observation
	for _, o := range obs {
		if opts.Allowed != nil && opts.Allowed(o) {
			r.AlreadyAllowed = append(r.AlreadyAllowed, o)
			continue
		}
		keep = append(keep, o)
	}
	if opts.Wildcards {
		keep = collapseSiblings(keep)
	}
	r.Targets = dropCovered(keep)
	sortObservations(r.Targets)
	return r
}

// collapseSiblings replaces the exact names sharing a parent domain (of two labels or more) and a port by
// one wildcard of that parent, when there are at least two of them.
func collapseSiblings(obs []Observation) []Observation {
	type group struct {
		parent string
		ports  string
	}
	groups := map[group][]int{}
	for i, o := range obs {
		if o.Target.Kind != policy.KindExact {
			continue
		}
		parent := parentDomain(o.Target.Host)
		if strings.Count(parent, ".") < 1 {
			continue
		}
		g := group{parent, o.Target.Ports.String()}
		groups[g] = append(groups[g], i)
	}
	replaced := map[int]bool{}
	var out []Observation
	for g, members := range groups {
		if len(members) < 2 {
			continue
		}
		w := Observation{Target: policy.Target{Kind: policy.KindWildcard, Host: g.parent, Ports: obs[members[0]].Target.Ports}}
		for _, i := range members {
			w.add(obs[i].Seen)
			replaced[i] = true
		}
		out = append(out, w)
	}
	for i, o := range obs {
		if !replaced[i] {
			out = append(out, o)
		}
	}
	return out
}

// dropCovered leaves out an observation whose target another target of obs allows (a name under a
// wildcard of the result, an address in a prefix), merging its counts into the one that covers it.
func dropCovered(obs []Observation) []Observation {
	out := slices.Clone(obs)
	for i := 0; i < len(out); i++ {
		for j := range out {
			if i == j || !covers(out[j].Target, out[i].Target) {
				continue
			}
			out[j].add(out[i].Seen)
			out = slices.Delete(out, i, i+1)
			i--
			break
		}
	}
	return out
}

// covers reports whether a allows everything b does (and is not b).
func covers(a, b policy.Target) bool {
	if a.String() == b.String() || !portsCover(a, b) {
		return false
	}
	switch {
	case a.Kind == policy.KindAnyHost:
		return true
	case a.Kind == policy.KindWildcard && b.Kind == policy.KindExact:
		return strings.HasSuffix(b.Host, "."+a.Host)
	case a.Kind == policy.KindWildcard && b.Kind == policy.KindWildcard:
		return strings.HasSuffix(b.Host, "."+a.Host) || a.Host == b.Host
	case a.Kind == policy.KindCIDR && b.Kind == policy.KindCIDR:
		return a.Prefix.Bits() <= b.Prefix.Bits() && a.Prefix.Contains(b.Prefix.Addr())
	}
	return false
}

func portsCover(a, b policy.Target) bool {
	return a.Ports.Contains(b.Ports.First) && a.Ports.Contains(b.Ports.Last)
}

func parentDomain(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

// sortObservations sorts names (exact and wildcard, by domain from the right) before addresses (by
// address), then by port.
func sortObservations(obs []Observation) {
	slices.SortFunc(obs, func(a, b Observation) int {
		return compareTargets(a.Target, b.Target)
	})
}

func compareTargets(a, b policy.Target) int {
	aAddr, bAddr := a.Kind == policy.KindCIDR, b.Kind == policy.KindCIDR
	switch {
	case aAddr != bAddr:
		if aAddr {
			return 1
		}
		return -1
	case aAddr:
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()),
			cmp.Compare(a.Ports.First, b.Ports.First), cmp.Compare(a.Ports.Last, b.Ports.Last))
	}
	return cmp.Or(cmp.Compare(domainKey(a), domainKey(b)), cmp.Compare(a.Ports.First, b.Ports.First),
		cmp.Compare(a.Ports.Last, b.Ports.Last), cmp.Compare(a.String(), b.String()))
}

// domainKey orders names by their labels from the right, so that a domain's names stay together
// (example.test, api.example.test, *.cdn.example.test).
func domainKey(t policy.Target) string {
	host := t.Host
	if t.Kind == policy.KindAnyHost {
		return ""
	}
	labels := strings.Split(host, ".")
	slices.Reverse(labels)
	key := strings.Join(labels, "\x00")
	if t.Kind == policy.KindWildcard {
		key += "\x00*"
	}
	return key
}

// Describe says how often, when and by how many pods an observation was seen, for the comment beside its
// target, e.g. "denied 12 times (http, tls) by 2 pods, first 2026-11-30T23:22:51Z, last 2026-11-30T23:24:02Z".
func (s Seen) Describe() string {
	verbs := make([]string, 0, len(s.Decisions))
	for _, d := range s.Decisions {
		switch d {
		case "deny":
			verbs = append(verbs, "denied")
		case "audit":
			verbs = append(verbs, "audited")
		default:
			verbs = append(verbs, d)
		}
	}
	times := "once"
	if s.Count != 1 {
		times = fmt.Sprintf("%d times", s.Count)
	}
	pods := "1 pod"
	if len(s.Pods) != 1 {
		pods = fmt.Sprintf("%d pods", len(s.Pods))
	}
	return fmt.Sprintf("%s %s (%s) by %s, first %s, last %s", strings.Join(verbs, " and "), times,
		strings.Join(s.Protocols, ", "), pods, s.FirstSeen.UTC().Format(time.RFC3339), s.LastSeen.UTC().Format(time.RFC3339))
}

// Addr returns the single address of an observation that had no name, for callers deciding on it.
func (o Observation) Addr() (netip.Addr, bool) {
	if o.Target.Kind != policy.KindCIDR || !o.Target.Prefix.IsSingleIP() {
		return netip.Addr{}, false
	}
	return o.Target.Prefix.Addr(), true
}
