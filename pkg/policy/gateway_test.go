package policy

import (
	"net/netip"
	"testing"

	"egress.io/egress/api/v1alpha1"
)

// viaGateway is ruleSet with spec.gateway set.
func viaGateway(gateway, namespace, name string, targets ...string) v1alpha1.EgressRuleSet {
	set := ruleSet(namespace, name, v1alpha1.ModeEnforce, nil, targets...)
	set.Spec.Gateway = gateway
	return set
}

func TestDecideGateway(t *testing.T) {
	m, problems := Compile([]v1alpha1.EgressRuleSet{
		// Given out of order: Compile orders rule sets by namespace/name.
		viaGateway("zeta", "shop", "b-partners", "api.partner.example:443", "203.0.113.0/24:443"),
		viaGateway("alpha", "shop", "c-partners", "api.partner.example:443", "*.bank.example:443"),
		ruleSet("shop", "a-direct", v1alpha1.ModeEnforce, nil, "api.partner.example:443", "www.bank.example:443", "*:8080"),
		viaGateway("world", "egress-system", "all", "*:8080", "203.0.113.0/24:443"),
	})
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	tests := []struct {
		name, host, ip string
		port           uint16
		gateway        string
		ruleSet        string
	}{
		{"gateway beats direct at the same specificity; first rule set by namespace/name among gateways",
			"api.partner.example", "", 443, "zeta", "shop/b-partners"},
		{"more specific direct target beats a gateway wildcard", "www.bank.example", "", 443, "", "shop/a-direct"},
		{"wildcard through a gateway", "online.bank.example", "", 443, "alpha", "shop/c-partners"},
		{"any host: gateway first", "x.example", "", 8080, "world", "egress-system/all"},
		{"CIDR: first rule set by namespace/name", "", "203.0.113.5", 443, "world", "egress-system/all"},
		{"not allowed: no gateway", "other.example", "", 443, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			d := m.Decide(tt.host, ip, tt.port)
			if d.Gateway != tt.gateway || d.RuleSet != tt.ruleSet {
				t.Errorf("Decide(%q, %q, %d) = gateway %q rule set %q, want %q %q", tt.host, tt.ip, tt.port, d.Gateway, d.RuleSet, tt.gateway, tt.ruleSet)
			}
		})
	}
}
