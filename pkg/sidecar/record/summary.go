package record

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// DefaultSummaryEntries is how many (decision, protocol, target) entries a Summary keeps before it counts
// the rest in its other bucket.
const DefaultSummaryEntries = 512

// maxTargetLen bounds a kept target: a host name is at most 253 characters, so only a name the policy
// refused as invalid can be longer, and it is cut rather than stored whole.
const maxTargetLen = 260

// SummaryKey is what a Summary counts by.
type SummaryKey struct {
	Decision string `json:"decision"`
	Protocol string `json:"protocol"`
	// Target is, for a denial or an audit, the narrowest target that would allow it (the event's
	// suggestion); for an allow, the target that allowed it. Empty when there is none (a request refused
	// before any decision, a loop to the sidecar, no policy loaded for an invalid name).
	Target string `json:"target"`
}

// SummaryEntry is one key's count since the sidecar started, with the first and last time it was seen
// and what the last such event said.
type SummaryEntry struct {
	SummaryKey
	Count     uint64    `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Reason, RuleSet and AddressClass are the last event's.
	Reason       string `json:"reason"`
	RuleSet      string `json:"rule_set,omitempty"`
	AddressClass string `json:"address_class,omitempty"`
}

// SummaryOther counts the events whose key found the summary full.
type SummaryOther struct {
	Count      uint64            `json:"count"`
	ByDecision map[string]uint64 `json:"by_decision,omitempty"`
	FirstSeen  time.Time         `json:"first_seen,omitzero"`
	LastSeen   time.Time         `json:"last_seen,omitzero"`
}

// RuleSetVersion names one version of a rule set the sidecar loaded.
type RuleSetVersion struct {
	// Name is "namespace/name".
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	Generation int64  `json:"generation,omitempty"`
}

// PolicyVersion is what the sidecar's policy was last built from: every rule set its source delivered
// (its own namespace's and the global namespace's, selected for the pod or not), so that a client can
// compare it with the rule sets the API server holds now.
type PolicyVersion struct {
	// Version digests RuleSets (VersionOf); equal versions mean the same rule sets at the same generations.
	Version  string           `json:"version"`
	RuleSets []RuleSetVersion `json:"rule_sets"`
	LoadedAt time.Time        `json:"loaded_at"`
	// Loads counts the deliveries since the sidecar started.
	Loads uint64 `json:"loads"`
}

// SummaryReport is a Summary's content, served as JSON on the admin port's /summary.
type SummaryReport struct {
	// Since is when the summary started counting (the sidecar's start).
	Since time.Time `json:"since"`
	// Capacity is the most entries kept; Events counts every event, kept or in Other.
	Capacity int            `json:"capacity"`
	Events   uint64         `json:"events"`
	Entries  []SummaryEntry `json:"entries"`
	Other    SummaryOther   `json:"other"`
	// Policy is what the policy in force was built from; nil before the first load.
	Policy *PolicyVersion `json:"policy,omitempty"`
}

// Summary counts events by (decision, protocol, target) since the sidecar started. It keeps at most its
// capacity of keys, whatever the traffic; an event of a new key beyond that is counted in the other bucket.
// It keeps no paths or query strings (events carry none), only what the key and the entry name.
type Summary struct {
	mu       sync.Mutex
	since    time.Time
	capacity int
	events   uint64
	entries  map[SummaryKey]*SummaryEntry
	other    SummaryOther
	policy   *PolicyVersion
}

// NewSummary returns a Summary keeping at most capacity keys, counting from since.
func NewSummary(capacity int, since time.Time) *Summary {
	return &Summary{since: since, capacity: capacity, entries: map[SummaryKey]*SummaryEntry{}}
}

// Add counts ev.
func (s *Summary) Add(ev Event) {
	key := SummaryKey{Decision: ev.Decision, Protocol: ev.Protocol, Target: ev.Suggestion}
	if ev.Decision == "allow" {
		key.Target = ev.Target
	}
	if len(key.Target) > maxTargetLen {
		key.Target = key.Target[:maxTargetLen]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events++
	e, ok := s.entries[key]
	if !ok {
		if len(s.entries) >= s.capacity {
			s.countOther(ev)
			return
		}
		e = &SummaryEntry{SummaryKey: key, FirstSeen: ev.Time}
		s.entries[key] = e
	}
	e.Count++
	if ev.Time.After(e.LastSeen) {
		e.LastSeen = ev.Time
	}
	if ev.Time.Before(e.FirstSeen) {
		e.FirstSeen = ev.Time
	}
	e.Reason, e.RuleSet, e.AddressClass = ev.Reason, ev.RuleSet, ev.AddressClass
}

func (s *Summary) countOther(ev Event) {
	o := &s.other
	if o.ByDecision == nil {
		o.ByDecision = map[string]uint64{}
	}
	o.Count++
	o.ByDecision[ev.Decision]++
	if o.FirstSeen.IsZero() || ev.Time.Before(o.FirstSeen) {
		o.FirstSeen = ev.Time
	}
	if ev.Time.After(o.LastSeen) {
		o.LastSeen = ev.Time
	}
}

// SetPolicy records what the policy in force was built from.
func (s *Summary) SetPolicy(sets []RuleSetVersion, at time.Time) {
	sorted := slices.Clone(sets)
	slices.SortFunc(sorted, func(a, b RuleSetVersion) int { return cmp.Compare(a.Name, b.Name) })
	s.mu.Lock()
	defer s.mu.Unlock()
	var loads uint64 = 1
	if s.policy != nil {
		loads = s.policy.Loads + 1
	}
	s.policy = &PolicyVersion{Version: VersionOf(sorted), RuleSets: sorted, LoadedAt: at, Loads: loads}
}

// Report returns the summary's content: entries by decision, then count (highest first), then protocol and
// target.
func (s *Summary) Report() SummaryReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := SummaryReport{Since: s.since, Capacity: s.capacity, Events: s.events, Other: s.other,
		Entries: make([]SummaryEntry, 0, len(s.entries))}
	if s.other.ByDecision != nil {
		r.Other.ByDecision = make(map[string]uint64, len(s.other.ByDecision))
		for k, v := range s.other.ByDecision {
			r.Other.ByDecision[k] = v
		}
	}
	if s.policy != nil {
		p := *s.policy
		p.RuleSets = slices.Clone(p.RuleSets)
		r.Policy = &p
	}
	for _, e := range s.entries {
		r.Entries = append(r.Entries, *e)
	}
	slices.SortFunc(r.Entries, func(a, b SummaryEntry) int {
		return cmp.Or(cmp.Compare(a.Decision, b.Decision), cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Target, b.Target))
	})
	return r
}
