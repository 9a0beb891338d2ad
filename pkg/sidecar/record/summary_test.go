package record

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func at(sec int) time.Time { return time.Date(2026, 11, 30, 12, 0, sec, 0, time.UTC) }

func TestSummaryCountsByDecisionProtocolAndTarget(t *testing.T) {
	s := NewSummary(10, at(0))
	for _, ev := range []Event{
		{Time: at(3), Decision: "deny", Reason: "no_match", Protocol: "http", Host: "a.example.test", Port: 80, Suggestion: "a.example.test:80"},
		{Time: at(1), Decision: "deny", Reason: "no_match", Protocol: "http", Host: "a.example.test", Port: 80, Suggestion: "a.example.test:80"},
		{Time: at(2), Decision: "deny", Reason: "no_match", Protocol: "tls", Host: "a.example.test", Port: 443, Suggestion: "a.example.test:443"},
		{Time: at(4), Decision: "audit", Reason: "no_match", Protocol: "tcp", IP: "203.0.113.7", Port: 5432, RuleSet: "shop/observe", Suggestion: "203.0.113.7:5432"},
		// An allow counts by the target that allowed it, whatever the host.
		{Time: at(5), Decision: "allow", Reason: "wildcard", Protocol: "tls", Host: "x.example.test", Port: 443, RuleSet: "shop/deps", Target: "*.example.test:443"},
		{Time: at(6), Decision: "allow", Reason: "wildcard", Protocol: "tls", Host: "y.example.test", Port: 443, RuleSet: "shop/deps", Target: "*.example.test:443"},
		// A refusal before any decision has no target.
		{Time: at(7), Decision: "deny", Reason: "bad_request", Protocol: "http", Host: "%%%"},
	} {
		s.Add(ev)
	}
	r := s.Report()
	var got []string
	for _, e := range r.Entries {
		got = append(got, fmt.Sprintf("%s %s %q x%d %ds-%ds %s %s", e.Decision, e.Protocol, e.Target, e.Count,
			e.FirstSeen.Second(), e.LastSeen.Second(), e.Reason, e.RuleSet))
	}
	want := []string{
		`allow tls "*.example.test:443" x2 5s-6s wildcard shop/deps`,
		`audit tcp "203.0.113.7:5432" x1 4s-4s no_match shop/observe`,
		`deny http "a.example.test:80" x2 1s-3s no_match `,
		`deny http "" x1 7s-7s bad_request `,
		`deny tls "a.example.test:443" x1 2s-2s no_match `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Events != 7 || r.Other.Count != 0 || r.Capacity != 10 || !r.Since.Equal(at(0)) {
		t.Errorf("report %+v", r)
	}
}

// TestSummaryIsBounded: whatever the traffic, at most the capacity of keys is kept; the rest is counted in
// the other bucket, by decision, and keys already kept go on counting.
func TestSummaryIsBounded(t *testing.T) {
	s := NewSummary(3, at(0))
	for i := range 1000 {
		s.Add(Event{Time: at(i % 60), Decision: "deny", Protocol: "tls", Suggestion: fmt.Sprintf("h%d.example.test:443", i)})
	}
	s.Add(Event{Time: at(1), Decision: "audit", Protocol: "tcp", Suggestion: "203.0.113.9:22"})
	s.Add(Event{Time: at(1), Decision: "deny", Protocol: "tls", Suggestion: "h0.example.test:443"})
	r := s.Report()
	if len(r.Entries) != 3 || r.Events != 1002 || r.Other.Count != 998 ||
		r.Other.ByDecision["deny"] != 997 || r.Other.ByDecision["audit"] != 1 {
		t.Fatalf("%d entries, %d events, other %+v", len(r.Entries), r.Events, r.Other)
	}
	if r.Entries[0].Target != "h0.example.test:443" || r.Entries[0].Count != 2 {
		t.Errorf("a kept key stops counting: %+v", r.Entries[0])
	}
	if !r.Other.FirstSeen.Equal(at(0)) || !r.Other.LastSeen.Equal(at(59)) {
		t.Errorf("other seen %v-%v", r.Other.FirstSeen, r.Other.LastSeen)
	}
	// A name too long to be a host name is cut, so one key is bounded too.
	s.Add(Event{Decision: "deny", Protocol: "http", Suggestion: strings.Repeat("x", 5000) + ":80"})
	for _, e := range s.Report().Entries {
		if len(e.Target) > maxTargetLen {
			t.Errorf("a target of %d bytes kept", len(e.Target))
		}
	}
}

// TestSummaryKeepsNoRequestDetails: the JSON holds the key, counts, times and reasons, and nothing of an
// event's host beyond its suggested target: no fields for paths, queries or headers exist to fill.
func TestSummaryKeepsNoRequestDetails(t *testing.T) {
	s := NewSummary(4, at(0))
	s.Add(Event{Time: at(1), Decision: "deny", Reason: "no_match", Protocol: "http", Host: "api.example.test", IP: "198.51.100.7", Port: 80, Suggestion: "api.example.test:80"})
	data, err := json.Marshal(s.Report())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "198.51.100.7") {
		t.Errorf("the summary keeps the address of a named destination: %s", data)
	}
	var generic map[string]any
	json.Unmarshal(data, &generic)
	entry := generic["entries"].([]any)[0].(map[string]any)
	var keys []string
	for k := range entry {
		keys = append(keys, k)
	}
	if len(keys) != 7 { // decision protocol target count first_seen last_seen reason
		t.Errorf("entry fields %v", keys)
	}
}

func TestSummaryPolicyVersion(t *testing.T) {
	s := NewSummary(4, at(0))
	if s.Report().Policy != nil {
		t.Fatal("a policy before any load")
	}
	a := RuleSetVersion{Name: "shop/a", UID: "u1", Generation: 1}
	b := RuleSetVersion{Name: "egress-system/b", UID: "u2", Generation: 3}
	s.SetPolicy([]RuleSetVersion{a, b}, at(1))
	s.SetPolicy([]RuleSetVersion{a, b}, at(2))
	p := s.Report().Policy
	if p.Loads != 2 || !p.LoadedAt.Equal(at(2)) || p.RuleSets[0] != b || p.Version != VersionOf([]RuleSetVersion{b, a}) {
		t.Errorf("policy %+v", p)
	}
	a2 := a
	a2.Generation = 2
	if VersionOf([]RuleSetVersion{a, b}) == VersionOf([]RuleSetVersion{a2, b}) || VersionOf(nil) == VersionOf([]RuleSetVersion{a}) ||
		len(VersionOf(nil)) != 12 {
		t.Error("versions of different rule sets are equal")
	}
}

func TestSummaryConcurrentAdds(t *testing.T) {
	s := NewSummary(8, at(0))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				s.Add(Event{Time: at(i % 60), Decision: "deny", Protocol: "tls", Suggestion: fmt.Sprintf("h%d:443", (g*500+i)%16)})
			}
		}()
	}
	wg.Wait()
	r := s.Report()
	var kept uint64
	for _, e := range r.Entries {
		kept += e.Count
	}
	if r.Events != 4000 || kept+r.Other.Count != 4000 || len(r.Entries) != 8 {
		t.Errorf("events %d, kept %d, other %d, entries %d", r.Events, kept, r.Other.Count, len(r.Entries))
	}
}
