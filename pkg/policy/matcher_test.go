package policy

import (
	"net/netip"
	"testing"

	"egress.io/egress/api/v1alpha1"
)

var noIP netip.Addr

func TestDecide(t *testing.T) {
	m, problems := Compile([]v1alpha1.EgressRuleSet{
		ruleSet("shop", "deps", v1alpha1.ModeEnforce, nil,
			"api.stripe.com:443",
			"*.a.com:443",
			"*.s3.amazonaws.com:443",
			"xn--bcher-kva.example:443",
			"203.0.113.0/24:5432",
			"203.0.113.7:22",
			"[2001:db8::/32]:443",
			"db.internal:8000-8100",
			"*:80",
		),
		ruleSet("egress-system", "global", v1alpha1.ModeEnforce, nil, "b.a.com:8443"),
	})
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	tests := []struct {
		name    string
		host    string
		ip      string
		port    uint16
		action  Action
		reason  Reason
		target  string
		ruleSet string
		suggest string
	}{
		{"exact", "api.stripe.com", "", 443, Allow, ReasonExact, "api.stripe.com:443", "shop/deps", "api.stripe.com:443"},
		{"exact upper case", "API.Stripe.Com", "", 443, Allow, ReasonExact, "api.stripe.com:443", "shop/deps", ""},
		{"exact trailing dot", "api.stripe.com.", "", 443, Allow, ReasonExact, "api.stripe.com:443", "shop/deps", ""},
		{"exact wrong port", "api.stripe.com", "", 444, Deny, ReasonNoMatch, "", "", "api.stripe.com:444"},
		{"exact not a parent", "stripe.com", "", 443, Deny, ReasonNoMatch, "", "", "stripe.com:443"},
		{"exact not a child", "x.api.stripe.com", "", 443, Deny, ReasonNoMatch, "", "", ""},
		{"wildcard never bare suffix", "a.com", "", 443, Deny, ReasonNoMatch, "", "", "a.com:443"},
		{"wildcard one label", "b.a.com", "", 443, Allow, ReasonWildcard, "*.a.com:443", "shop/deps", ""},
		{"wildcard two labels", "c.b.a.com", "", 443, Allow, ReasonWildcard, "*.a.com:443", "shop/deps", ""},
		{"wildcard suffix must be whole labels", "ba.com", "", 443, Deny, ReasonNoMatch, "", "", ""},
		{"exact beats wildcard", "b.a.com", "", 8443, Allow, ReasonExact, "b.a.com:8443", "egress-system/global", ""},
		{"wildcard case and dot", "X.S3.AmazonAWS.com.", "", 443, Allow, ReasonWildcard, "*.s3.amazonaws.com:443", "shop/deps", ""},
		{"IDN unicode", "bücher.example", "", 443, Allow, ReasonExact, "xn--bcher-kva.example:443", "shop/deps", ""},
		{"IDN punycode", "XN--BCHER-KVA.example", "", 443, Allow, ReasonExact, "xn--bcher-kva.example:443", "shop/deps", ""},
		{"cidr by ip", "", "203.0.113.9", 5432, Allow, ReasonCIDR, "203.0.113.0/24:5432", "shop/deps", ""},
		{"cidr longest prefix first", "", "203.0.113.7", 22, Allow, ReasonCIDR, "203.0.113.7:22", "shop/deps", ""},
		{"cidr wrong port", "", "203.0.113.9", 22, Deny, ReasonNoMatch, "", "", "203.0.113.9:22"},
		{"cidr outside", "", "198.51.100.1", 5432, Deny, ReasonNoMatch, "", "", "198.51.100.1:5432"},
		{"cidr IPv4-mapped IPv6", "", "::ffff:203.0.113.9", 5432, Allow, ReasonCIDR, "203.0.113.0/24:5432", "shop/deps", ""},
		{"cidr v6", "", "2001:db8:1::5", 443, Allow, ReasonCIDR, "[2001:db8::/32]:443", "shop/deps", ""},
		{"cidr v6 outside", "", "2001:db9::5", 443, Deny, ReasonNoMatch, "", "", "[2001:db9::5]:443"},
		{"name with allowed ip", "unlisted.example", "203.0.113.9", 5432, Allow, ReasonCIDR, "203.0.113.0/24:5432", "shop/deps", ""},
		{"ip literal as name", "203.0.113.9", "", 5432, Allow, ReasonCIDR, "203.0.113.0/24:5432", "shop/deps", ""},
		{"bracketed v6 literal as name", "[2001:db8::1]", "", 443, Allow, ReasonCIDR, "[2001:db8::/32]:443", "shop/deps", ""},
		{"port range low", "db.internal", "", 8000, Allow, ReasonExact, "db.internal:8000-8100", "shop/deps", ""},
		{"port range high", "db.internal", "", 8100, Allow, ReasonExact, "db.internal:8000-8100", "shop/deps", ""},
		{"port range above", "db.internal", "", 8101, Deny, ReasonNoMatch, "", "", ""},
		{"any host", "anything.example", "", 80, Allow, ReasonAnyHost, "*:80", "shop/deps", ""},
		{"any host by ip", "", "198.51.100.1", 80, Allow, ReasonAnyHost, "*:80", "shop/deps", ""},
		{"invalid name never falls back to ip", "bad name!", "203.0.113.9", 5432, Deny, ReasonInvalidName, "", "", ""},
		{"nothing known", "", "", 443, Deny, ReasonNoMatch, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			d := m.Decide(tt.host, ip, tt.port)
			if d.Action != tt.action || d.Reason != tt.reason || d.Target != tt.target || d.RuleSet != tt.ruleSet {
				t.Fatalf("Decide(%q, %v, %d) = %s/%s target %q rule set %q; want %s/%s target %q rule set %q",
					tt.host, ip, tt.port, d.Action, d.Reason, d.Target, d.RuleSet, tt.action, tt.reason, tt.target, tt.ruleSet)
			}
			if tt.suggest != "" && d.Suggestion() != tt.suggest {
				t.Fatalf("Suggestion() = %q, want %q", d.Suggestion(), tt.suggest)
			}
		})
	}
}

func TestDecideNilMatcherDeniesAsNotReady(t *testing.T) {
	var m *Matcher
	d := m.Decide("api.stripe.com", noIP, 443)
	if d.Action != Deny || d.Reason != ReasonNotReady {
		t.Fatalf("nil matcher: %s/%s, want deny/not_ready", d.Action, d.Reason)
	}
	// It still says what was decided on, for the log line and the denial.
	for _, tt := range []struct{ name, wantName, wantIP string }{
		{"API.Stripe.com.", "api.stripe.com", ""},
		{"203.0.113.9", "", "203.0.113.9"},
		{"[2001:db8::1]", "", "2001:db8::1"},
		{"Bad Name!", "bad name!", ""},
	} {
		d := m.Decide(tt.name, noIP, 443)
		ip := ""
		if d.IP.IsValid() {
			ip = d.IP.String()
		}
		if d.Name != tt.wantName || ip != tt.wantIP || d.Reason != ReasonNotReady {
			t.Errorf("nil matcher, %q: name %q ip %q reason %s; want %q %q not_ready", tt.name, d.Name, ip, d.Reason, tt.wantName, tt.wantIP)
		}
	}
}

func TestDecideEmptyPolicyDeniesEverything(t *testing.T) {
	m, _ := Compile(nil)
	for _, host := range []string{"api.stripe.com", "localhost", ""} {
		if d := m.Decide(host, netip.MustParseAddr("203.0.113.1"), 443); d.Action != Deny {
			t.Fatalf("empty policy allowed %q: %+v", host, d)
		}
	}
}

func TestAuditModeLetsThroughAndSaysSo(t *testing.T) {
	m, _ := Compile([]v1alpha1.EgressRuleSet{
		ruleSet("shop", "deps", v1alpha1.ModeEnforce, nil, "api.stripe.com:443"),
		ruleSet("shop", "observe", v1alpha1.ModeAudit, nil, "other.example:443"),
	})
	if !m.Audit() {
		t.Fatal("Audit() = false")
	}
	d := m.Decide("evil.example", noIP, 443)
	if d.Action != Audit || d.RuleSet != "shop/observe" || !d.Allowed() {
		t.Fatalf("audit decision = %+v", d)
	}
	if d := m.Decide("api.stripe.com", noIP, 443); d.Action != Allow {
		t.Fatalf("allowed target in audit mode = %+v", d)
	}
	if d := m.Decide("other.example", noIP, 443); d.Action != Allow || d.RuleSet != "shop/observe" {
		t.Fatalf("audit rule set's own target = %+v", d)
	}
}

func TestInvalidTargetsAreSkippedAndReported(t *testing.T) {
	m, problems := Compile([]v1alpha1.EgressRuleSet{
		ruleSet("shop", "deps", v1alpha1.ModeEnforce, nil, "ok.example:443", "*:*", "*.:443", "ok2.example:443"),
	})
	if len(problems) != 2 {
		t.Fatalf("problems = %v, want 2", problems)
	}
	if got, want := problems[1].Error(), `shop/deps: target 2 "*.:443": empty suffix after "*."`; got != want {
		t.Fatalf("problem = %q, want %q", got, want)
	}
	if m.Targets() != 2 {
		t.Fatalf("Targets() = %d, want 2", m.Targets())
	}
	if d := m.Decide("anything.example", noIP, 443); d.Action != Deny {
		t.Fatalf("an invalid wildcard widened access: %+v", d)
	}
}

func TestCompileIsOrderIndependent(t *testing.T) {
	a := ruleSet("shop", "a", v1alpha1.ModeEnforce, nil, "api.example:443")
	b := ruleSet("shop", "b", v1alpha1.ModeEnforce, nil, "api.example:443")
	m1, _ := Compile([]v1alpha1.EgressRuleSet{a, b})
	m2, _ := Compile([]v1alpha1.EgressRuleSet{b, a})
	if d1, d2 := m1.Decide("api.example", noIP, 443), m2.Decide("api.example", noIP, 443); d1 != d2 || d1.RuleSet != "shop/a" {
		t.Fatalf("decisions differ by input order: %+v vs %+v", d1, d2)
	}
}

func TestNamesHost(t *testing.T) {
	m, _ := Compile([]v1alpha1.EgressRuleSet{ruleSet("shop", "deps", "", nil, "api.stripe.com:443", "*.a.com:443", "*:80")})
	for host, want := range map[string]bool{"api.stripe.com": true, "b.a.com": true, "a.com": false, "evil.example": false} {
		if got := m.NamesHost(host); got != want {
			t.Errorf("NamesHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	m, _ := Compile([]v1alpha1.EgressRuleSet{ruleSet("shop", "deps", "", nil, "api.stripe.com:443", "*.a.com:443", "203.0.113.0/24:5432")})
	ip := netip.MustParseAddr("203.0.113.9")
	allocs := testing.AllocsPerRun(100, func() {
		m.Decide("api.stripe.com", ip, 443)
		m.Decide("c.b.a.com.", ip, 443)
		m.Decide("", ip, 5432)
		m.Decide("203.0.113.9", netip.Addr{}, 5432)
		m.Decide("miss.example", ip, 443)
	})
	if allocs != 0 {
		t.Fatalf("Decide allocated %v times per run", allocs)
	}
}
