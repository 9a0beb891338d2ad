package contender

import "testing"

func TestParseMetrics(t *testing.T) {
	text := `# HELP egress_policy_targets Targets.
# TYPE egress_policy_targets gauge
egress_policy_targets 10000
egress_policy_reloads_total{result="success"} 3
egress_policy_reloads_total{result="failure"} 0 1700000000000
go_memstats_heap_inuse_bytes 4.2e+06
`
	m := ParseMetrics(text)
	for series, want := range map[string]float64{
		"egress_policy_targets":                         10000,
		`egress_policy_reloads_total{result="success"}`: 3,
		`egress_policy_reloads_total{result="failure"}`: 0,
		"go_memstats_heap_inuse_bytes":                  4.2e6,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if len(m) != 4 {
		t.Errorf("parsed %d series: %v", len(m), m)
	}
}
