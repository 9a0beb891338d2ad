package decide

import (
	"net/netip"
	"testing"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/policy/policytest"
	"egress.io/egress/pkg/sidecar/addrclass"
)

func TestGuard(t *testing.T) {
	classifier, err := addrclass.New(addrclass.Config{
		Deny:   []netip.Prefix{netip.MustParsePrefix("203.0.114.0/24")},
		Public: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := &Decider{Guard: classifier}
	m := policytest.Targets(t, "10.1.2.0/24:5432", "*:80", "api.example.test:443")
	audit := policytest.Compile(t, policytest.AuditRuleSet("audit", "x.test:1"))
	const (
		addrOK = iota
		addrAudit
		addrRefused
	)
	tests := []struct {
		m    *policy.Matcher
		addr string
		port uint16
		want int
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
		r := g.guard(tt.m, netip.MustParseAddr(tt.addr), tt.port)
		got := addrOK
		switch {
		case r.refused():
			got = addrRefused
		case r.audited:
			got = addrAudit
		}
		if got != tt.want {
			t.Errorf("guard(%s:%d) = %d (%+v), want %d", tt.addr, tt.port, got, r, tt.want)
		}
	}
}
