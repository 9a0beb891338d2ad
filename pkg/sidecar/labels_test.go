package sidecar

import (
	"fmt"
	"net/netip"
	"testing"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
)

func compileTargets(t testing.TB, targets ...string) *policy.Matcher {
	t.Helper()
	set := v1alpha1.EgressRuleSet{}
	set.Name = "test"
	for _, target := range targets {
		set.Spec.Targets = append(set.Spec.Targets, v1alpha1.Target(target))
	}
	m, problems := policy.Compile([]v1alpha1.EgressRuleSet{set})
	if len(problems) > 0 {
		t.Fatalf("compile: %v", problems)
	}
	return m
}

func TestHostLabelsAreBounded(t *testing.T) {
	m := compileTargets(t, "api.example.test:443", "*.cdn.example.test:443")
	l := newHostLabeler(3)
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

func TestAddrGuard(t *testing.T) {
	g := newAddrGuard([]netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")})
	m := compileTargets(t, "10.1.2.0/24:5432", "*:80", "api.example.test:443")
	audit := compileTargets(t, "api.example.test:443")
	auditSet := v1alpha1.EgressRuleSet{}
	auditSet.Name, auditSet.Spec.Mode, auditSet.Spec.Targets = "audit", v1alpha1.ModeAudit, []v1alpha1.Target{"x.test:1"}
	audit, _ = policy.Compile([]v1alpha1.EgressRuleSet{auditSet})
	tests := []struct {
		m    *policy.Matcher
		addr string
		port uint16
		want addrVerdict
	}{
		{m, "198.51.100.7", 443, addrOK},
		{m, "198.18.0.2", 443, addrOK},
		{m, "10.1.2.3", 5432, addrOK},     // a CIDR target allows it
		{m, "10.1.2.3", 443, addrRefused}, // not on that port
		{m, "10.9.9.9", 80, addrRefused},  // "*:80" does not open private ranges
		{m, "127.0.0.1", 443, addrRefused},
		{m, "::ffff:10.1.2.3", 443, addrRefused},
		{m, "169.254.169.254", 80, addrRefused},
		{m, "100.64.1.1", 443, addrRefused},
		{m, "fd00::1", 443, addrRefused},
		{m, "fe80::1", 443, addrRefused},
		{m, "::", 443, addrRefused},
		{m, "224.0.0.1", 443, addrRefused},
		{m, "240.0.0.1", 443, addrRefused},
		{m, "198.19.1.1", 443, addrRefused}, // --deny-cidrs
		{nil, "10.1.2.3", 443, addrRefused},
		{audit, "10.1.2.3", 443, addrAudit},
	}
	for _, tt := range tests {
		if got := g.Check(tt.m, netip.MustParseAddr(tt.addr), tt.port); got != tt.want {
			t.Errorf("Check(%s:%d) = %v, want %v", tt.addr, tt.port, got, tt.want)
		}
	}
}
