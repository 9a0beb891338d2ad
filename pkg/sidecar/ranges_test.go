package sidecar

import (
	"net/netip"
	"testing"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/addrclass"
)

func TestAddrGuard(t *testing.T) {
	g, err := newAddrGuard(addrclass.Config{
		Deny:   []netip.Prefix{netip.MustParsePrefix("203.0.114.0/24")},
		Public: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")},
	})
	if err != nil {
		t.Fatal(err)
	}
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
		{m, "93.184.215.14", 443, addrOK},
		{m, "2606:2800:21f:cb07::1", 443, addrOK},
		{m, "198.18.0.2", 443, addrOK}, // --public-cidrs
		{m, "198.18.1.2", 443, addrRefused},
		{m, "198.51.100.7", 443, addrRefused},
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
		{m, "203.0.114.9", 443, addrRefused}, // --deny-cidrs
		// IPv6 forms of refused IPv4 addresses: NAT64 (DNS64 answers), 6to4, Teredo, IPv4-translated.
		{m, "64:ff9b::a9fe:a9fe", 80, addrRefused},
		{m, "64:ff9b::a01:203", 443, addrRefused},
		{m, "64:ff9b::cb00:7209", 443, addrRefused}, // 203.0.114.9, --deny-cidrs
		{m, "64:ff9b::5db8:d70e", 443, addrOK},      // 93.184.215.14: DNS64 pods reach the internet
		{m, "64:ff9b:1::5db8:d70e", 443, addrRefused},
		{m, "2002:a9fe:a9fe::1", 443, addrRefused},
		{m, "2001:0:5db8:d70e:8000:0:5601:5601", 443, addrRefused},
		{m, "::ffff:0:a01:203", 443, addrRefused},
		{m, "192.0.0.192", 80, addrRefused},
		{nil, "10.1.2.3", 443, addrRefused},
		{audit, "10.1.2.3", 443, addrAudit},
	}
	for _, tt := range tests {
		if got, _ := g.Check(tt.m, netip.MustParseAddr(tt.addr), tt.port); got != tt.want {
			t.Errorf("Check(%s:%d) = %v, want %v", tt.addr, tt.port, got, tt.want)
		}
	}
}
