package telemetry

import (
	"fmt"
	"net/netip"
	"testing"

	"egress.io/egress/pkg/policy/policytest"
)

func TestHostLabelsAreBounded(t *testing.T) {
	m := policytest.Targets(t, "api.example.test:443", "*.cdn.example.test:443")
	l := NewLabels(3)
	if got := l.Host(m, "api.example.test", netip.Addr{}); got != "api.example.test" {
		t.Errorf("named host label = %q", got)
	}
	var others []string
	for i := 0; i < 10; i++ {
		others = append(others, l.Host(m, fmt.Sprintf("host%d.test", i), netip.Addr{}))
	}
	want := []string{"host0.test", "host1.test", "host2.test", "other", "other", "other", "other", "other", "other", "other"}
	if fmt.Sprint(others) != fmt.Sprint(want) {
		t.Errorf("other hosts = %v, want %v", others, want)
	}
	// Admitted values stay; named hosts are not counted against the bound.
	if got := l.Host(m, "host1.test", netip.Addr{}); got != "host1.test" {
		t.Errorf("an admitted host became %q", got)
	}
	if got := l.Host(m, "a.cdn.example.test", netip.Addr{}); got != "a.cdn.example.test" {
		t.Errorf("host named by a wildcard = %q", got)
	}
	if got := l.Host(m, "", netip.MustParseAddr("198.51.100.1")); got != "other" {
		t.Errorf("an address beyond the bound = %q", got)
	}
	if got := l.Host(m, "", netip.Addr{}); got != "" {
		t.Errorf("no host = %q", got)
	}
	// Wildcards name unboundedly many hosts: they too end in "other" after maxNamedHostLabels.
	for i := 0; i < maxNamedHostLabels+10; i++ {
		l.Host(m, fmt.Sprintf("h%d.cdn.example.test", i), netip.Addr{})
	}
	if got := l.Host(m, "new.cdn.example.test", netip.Addr{}); got != "other" {
		t.Errorf("wildcard-named host past the cap = %q", got)
	}
	ports := map[string]bool{}
	for p := 1; p < 1000; p++ {
		ports[l.Port(uint16(p))] = true
	}
	if len(ports) > 17 {
		t.Errorf("%d port label values", len(ports))
	}
}
