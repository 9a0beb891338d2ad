package decide

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/policy/policytest"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/dnsproxy"
)

// fakeResolver answers from a map and counts lookups; unknown names do not exist, "broken." names fail.
type fakeResolver struct {
	answers map[string][]netip.Addr
	lookups atomic.Int32
}

func (r *fakeResolver) LookupAddrs(_ context.Context, name string) ([]netip.Addr, error) {
	r.lookups.Add(1)
	if strings.HasPrefix(name, "broken.") {
		return nil, &dnsproxy.LookupError{Name: name, Err: context.DeadlineExceeded}
	}
	if addrs, ok := r.answers[name]; ok {
		return addrs, nil
	}
	return nil, &dnsproxy.LookupError{Name: name, Err: dnsproxy.ErrNotFound}
}

type names map[netip.Addr][]string

func (n names) NamesFor(a netip.Addr) []string { return n[a] }

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func newDecider(t *testing.T, m *policy.Matcher) (*Decider, *fakeResolver) {
	t.Helper()
	guard, err := addrclass.New(addrclass.Config{Deny: []netip.Prefix{netip.MustParsePrefix("203.0.114.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeResolver{answers: map[string][]netip.Addr{
		"api.example.test":     addrs("93.184.215.14", "2606:2800:21f:cb07::1"),
		"private.example.test": addrs("10.1.2.3"),
		"mixed.example.test":   addrs("10.1.2.3", "93.184.215.15"),
		"nat64.example.test":   addrs("64:ff9b::a9fe:a9fe"),
		"cluster.example.test": addrs("203.0.114.7"),
		"self.example.test":    addrs("127.0.0.1"),
	}}
	learned := names{netip.MustParseAddr("93.184.215.20"): {"db.example.test"}, netip.MustParseAddr("10.9.9.9"): {"db.example.test"}}
	return &Decider{
		Policy:      func() *policy.Matcher { return m },
		Resolver:    r,
		Guard:       guard,
		Names:       learned,
		IsSelf:      func(ap netip.AddrPort) bool { return ap == netip.MustParseAddrPort("127.0.0.1:15001") },
		LocalSuffix: "egress.local",
	}, r
}

func dst(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestDecide(t *testing.T) {
	enforce := policytest.Targets(t, "api.example.test:80", "api.example.test:443", "private.example.test:80",
		"mixed.example.test:80", "nat64.example.test:80", "cluster.example.test:80", "*:8080", "10.1.2.0/24:5432",
		"db.example.test:5432", "broken.example.test:80", "nx.example.test:80", "self.example.test:15001",
		"93.184.215.99:443")
	audit := policytest.Compile(t, policytest.AuditRuleSet("observe", "api.example.test:443"))
	tests := []struct {
		name     string
		m        *policy.Matcher
		ask      Ask
		action   policy.Action
		reason   string
		dial     string // the addresses, space-separated
		errKind  string
		class    string // a substring of AddressClass
		resolves bool
	}{
		// Plain HTTP and origination: decided on the name, which is then resolved and guarded.
		{"http allowed", enforce, Ask{Protocol: HTTP, Name: "API.Example.Test.", Port: 80}, policy.Allow, "exact", "93.184.215.14:80 [2606:2800:21f:cb07::1]:80", "", "", true},
		{"https allowed", enforce, Ask{Protocol: HTTPS, Name: "api.example.test", Port: 443}, policy.Allow, "exact", "93.184.215.14:443 [2606:2800:21f:cb07::1]:443", "", "", true},
		{"http denied, never resolved", enforce, Ask{Protocol: HTTP, Name: "evil.example.test", Port: 80}, policy.Deny, "no_match", "", "", "", false},
		{"not ready", nil, Ask{Protocol: HTTP, Name: "api.example.test", Port: 80}, policy.Deny, "not_ready", "", "", "", false},
		{"invalid name", enforce, Ask{Protocol: HTTP, Name: "a..b", Port: 80}, policy.Deny, "invalid_name", "", "", "", false},
		{"name resolving to a private address", enforce, Ask{Protocol: HTTP, Name: "private.example.test", Port: 80}, policy.Deny, ReasonPrivateAddress, "", "", "Private-Use", true},
		{"private addresses are skipped, public kept", enforce, Ask{Protocol: HTTP, Name: "mixed.example.test", Port: 80}, policy.Allow, "exact", "93.184.215.15:80", "", "", true},
		{"a DNS64 answer embedding the metadata address", enforce, Ask{Protocol: HTTP, Name: "nat64.example.test", Port: 80}, policy.Deny, ReasonPrivateAddress, "", "", "embedding 169.254.169.254", true},
		{"--deny-cidrs", enforce, Ask{Protocol: HTTP, Name: "cluster.example.test", Port: 80}, policy.Deny, ReasonPrivateAddress, "", "", "--deny-cidrs", true},
		{"the sidecar itself", enforce, Ask{Protocol: HTTP, Name: "self.example.test", Port: 15001}, policy.Deny, ReasonLoop, "", "", "sidecar itself", true},
		{"IP literal allowed by *:port", enforce, Ask{Protocol: HTTP, Name: "93.184.215.9", Port: 8080}, policy.Allow, "any_host", "93.184.215.9:8080", "", "", false},
		{"private IP literal needs a CIDR target", enforce, Ask{Protocol: HTTP, Name: "169.254.169.254", Port: 8080}, policy.Deny, ReasonPrivateAddress, "", "", "Link Local", false},
		{"IPv6 literal of NAT64", enforce, Ask{Protocol: HTTP, Name: "[64:ff9b::a9fe:a9fe]", Port: 8080}, policy.Deny, ReasonPrivateAddress, "", "", "embedding 169.254.169.254", false},
		{"private IP literal allowed by CIDR", enforce, Ask{Protocol: HTTP, Name: "10.1.2.3", Port: 5432}, policy.Allow, "cidr", "10.1.2.3:5432", "", "", false},
		{"no such name", enforce, Ask{Protocol: HTTP, Name: "nx.example.test", Port: 80}, policy.Allow, "exact", "", ErrDNSNotFound, "", true},
		{"resolver failing", enforce, Ask{Protocol: HTTP, Name: "broken.example.test", Port: 80}, policy.Allow, "exact", "", ErrDNS, "", true},
		// Audit mode: one verdict says both that no target allows it and that the address is private.
		{"audit, unlisted name", audit, Ask{Protocol: HTTP, Name: "api.example.test", Port: 80}, policy.Audit, "no_match", "93.184.215.14:80 [2606:2800:21f:cb07::1]:80", "", "", true},
		{"audit, unlisted name at a private address", audit, Ask{Protocol: HTTP, Name: "private.example.test", Port: 80}, policy.Audit, "no_match", "10.1.2.3:80", "", "Private-Use", true},
		{"audit, allowed name at a private address", policytest.Compile(t, policytest.AuditRuleSet("observe", "private.example.test:80")), Ask{Protocol: HTTP, Name: "private.example.test", Port: 80}, policy.Audit, ReasonPrivateAddress, "10.1.2.3:80", "", "Private-Use", true},
		// TLS: the SNI decides and is resolved; the address the app chose is not dialled.
		{"tls allowed SNI", enforce, Ask{Protocol: TLS, Name: "api.example.test", Port: 443, Dst: dst("192.0.2.1:443")}, policy.Allow, "exact", "93.184.215.14:443 [2606:2800:21f:cb07::1]:443", "", "", true},
		{"tls denied SNI", enforce, Ask{Protocol: TLS, Name: "evil.example.test", Port: 443, Dst: dst("93.184.215.14:443")}, policy.Deny, "no_match", "", "", "", false},
		{"tls denied SNI, address allowed by CIDR", enforce, Ask{Protocol: TLS, Name: "evil.example.test", Port: 443, Dst: dst("93.184.215.99:443")}, policy.Allow, "cidr", "93.184.215.99:443", "", "", false},
		{"tls audit goes where the app went", audit, Ask{Protocol: TLS, Name: "evil.example.test", Port: 443, Dst: dst("93.184.215.50:443")}, policy.Audit, "no_match", "93.184.215.50:443", "", "", false},
		{"tls IP-literal SNI", enforce, Ask{Protocol: TLS, Name: "169.254.169.254", Port: 8080, Dst: dst("93.184.215.50:8080")}, policy.Deny, ReasonPrivateAddress, "", "", "Link Local", false},
		// Opaque TCP: the address, by CIDR or by a name the DNS proxy answered.
		{"tcp by CIDR", enforce, Ask{Protocol: TCP, Port: 5432, Dst: dst("10.1.2.9:5432")}, policy.Allow, "cidr", "10.1.2.9:5432", "", "", false},
		{"tcp by *:port to a public address", enforce, Ask{Protocol: TCP, Port: 8080, Dst: dst("93.184.215.1:8080")}, policy.Allow, "any_host", "93.184.215.1:8080", "", "", false},
		{"tcp by *:port to a private address", enforce, Ask{Protocol: TCP, Port: 8080, Dst: dst("10.9.9.9:8080")}, policy.Deny, ReasonPrivateAddress, "", "", "Private-Use", false},
		{"tcp by a learned name", enforce, Ask{Protocol: TCP, Port: 5432, Dst: dst("93.184.215.20:5432")}, policy.Allow, "exact", "93.184.215.20:5432", "", "", false},
		{"tcp by a learned name at a private address", enforce, Ask{Protocol: TCP, Port: 5432, Dst: dst("10.9.9.9:5432")}, policy.Deny, ReasonPrivateAddress, "", "", "Private-Use", false},
		{"tcp unknown", enforce, Ask{Protocol: TCP, Port: 5432, Dst: dst("93.184.215.21:5432")}, policy.Deny, "no_match", "", "", "", false},
		{"tcp audit", audit, Ask{Protocol: TCP, Port: 5432, Dst: dst("93.184.215.21:5432")}, policy.Audit, "no_match", "93.184.215.21:5432", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr, r := newDecider(t, tt.m)
			v := dr.Decide(context.Background(), tt.ask)
			var dial []string
			for _, ap := range v.Dial {
				dial = append(dial, ap.String())
			}
			errKind := ""
			if ue, ok := v.Err.(*UpstreamError); ok {
				errKind = ue.Kind
			}
			if v.Action != tt.action || v.Reason() != tt.reason || strings.Join(dial, " ") != tt.dial || errKind != tt.errKind {
				t.Errorf("verdict %s/%s dial %q err %q; want %s/%s %q %q", v.Action, v.Reason(), dial, errKind, tt.action, tt.reason, tt.dial, tt.errKind)
			}
			if !strings.Contains(v.AddressClass, tt.class) || (tt.class == "") != (v.AddressClass == "") {
				t.Errorf("address class %q, want %q", v.AddressClass, tt.class)
			}
			if resolved := r.lookups.Load() > 0; resolved != tt.resolves {
				t.Errorf("resolved: %v, want %v", resolved, tt.resolves)
			}
			if v.Forwards() != (tt.dial != "") {
				t.Errorf("Forwards() = %v", v.Forwards())
			}
		})
	}
}

func TestVerdictEvent(t *testing.T) {
	m := policytest.Targets(t, "private.example.test:80")
	dr, _ := newDecider(t, m)
	now := time.Unix(1700000000, 0)
	ev := dr.Decide(context.Background(), Ask{Protocol: HTTP, Name: "private.example.test", Port: 80}).Event(now, netip.Addr{})
	if ev.Decision != "deny" || ev.Reason != "private_address" || ev.Host != "private.example.test" || ev.IP != "10.1.2.3" ||
		ev.Suggestion != "10.1.2.3:80" || ev.RuleSet != "" || !strings.Contains(ev.AddressClass, "Private-Use") || ev.Protocol != "http" {
		t.Errorf("refusal event %+v", ev)
	}
	ev = dr.Decide(context.Background(), Ask{Protocol: TLS, Name: "evil.example.test", Port: 443, Dst: dst("93.184.215.1:443")}).Event(now, netip.Addr{})
	if ev.Decision != "deny" || ev.Reason != "no_match" || ev.Suggestion != "evil.example.test:443" || ev.Protocol != "tls" {
		t.Errorf("denial event %+v", ev)
	}
	v, loop := dr.Loop(dst("127.0.0.1:8080"))
	if ev := v.Event(now, netip.Addr{}); !loop || ev.Reason != ReasonLoop || ev.Decision != "deny" || ev.IP != "127.0.0.1" {
		t.Errorf("loop %v, event %+v", loop, ev)
	}
	if _, loop := dr.Loop(dst("93.184.215.1:80")); loop {
		t.Error("a public destination is a loop")
	}
}

// TestPolicyChangeBetweenDecisionAndDial: what was decided is what is dialled, whatever the policy says by
// the time of the dial; the next decision follows the new policy.
func TestPolicyChangeBetweenDecisionAndDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	up := ln.Addr().(*net.TCPAddr).AddrPort()
	var current atomic.Pointer[policy.Matcher]
	current.Store(policytest.Targets(t, up.String()))
	dr, _ := newDecider(t, nil)
	dr.Policy = current.Load

	v := dr.Decide(context.Background(), Ask{Protocol: TCP, Port: up.Port(), Dst: up})
	if !v.Forwards() {
		t.Fatalf("allowed by CIDR: %+v", v)
	}
	current.Store(policytest.Targets(t, "other.example.test:443")) // a reload between decision and dial
	c, err := Connect(context.Background(), v, time.Second)
	if err != nil {
		t.Fatalf("the decided connection: %v", err)
	}
	c.Close()
	if again := dr.Decide(context.Background(), Ask{Protocol: TCP, Port: up.Port(), Dst: up}); again.Forwards() {
		t.Errorf("the next decision ignores the new policy: %+v", again)
	}
	if _, err := Connect(context.Background(), Verdict{Protocol: TCP}, time.Second); err == nil {
		t.Error("a verdict without addresses was connected")
	}
}

func TestDecideRoutes(t *testing.T) {
	set := policytest.RuleSet("deps", "api.example.test:443", "api.example.test:80")
	set.Namespace = "shop"
	set.Spec.Routes = []v1alpha1.Route{{Name: "read", Hosts: []v1alpha1.RouteHost{"api.example.test:443"},
		Matches: []v1alpha1.RouteMatch{{Method: "GET"}}}}
	set.Spec.DeniedBackend = &v1alpha1.Backend{Service: v1alpha1.ServiceRef{Name: "sorry", Port: 8080}}
	m := policytest.Compile(t, set)
	dr, r := newDecider(t, m)
	r.answers["sorry.shop.svc.cluster.local"] = addrs("10.96.0.9")
	ctx := context.Background()

	v := dr.Decide(ctx, Ask{Protocol: HTTPS, Name: "api.example.test", Port: 443, Request: policy.Request{Method: "GET", Path: "/"}})
	if !v.Forwards() || v.RouteName() != "shop/deps/read" {
		t.Errorf("GET on the route: %+v", v)
	}
	v = dr.Decide(ctx, Ask{Protocol: HTTPS, Name: "api.example.test", Port: 443, Request: policy.Request{Method: "DELETE", Path: "/"}})
	if v.Forwards() || v.Reason() != "no_route" || v.Backend != nil {
		t.Errorf("DELETE over origination: %+v; want a denial without the plain-HTTP backend", v)
	}
	// The sidecar cannot see paths inside TLS the app speaks itself.
	v = dr.Decide(ctx, Ask{Protocol: TLS, Name: "api.example.test", Port: 443, Dst: dst("93.184.215.14:443")})
	if v.Forwards() || v.Reason() != "routes_need_http" || v.Suggestion() != "" ||
		v.Hint != "routes restrict api.example.test:443 and the sidecar cannot see paths inside TLS: use http://api.example.test.egress.local so that it can check them" {
		t.Errorf("passthrough to a route-restricted host: %+v, suggestion %q", v, v.Suggestion())
	}
	// Denied plain HTTP goes to the backend, which the guard does not stop (it is the operator's).
	v = dr.Decide(ctx, Ask{Protocol: HTTP, Name: "evil.example.test", Port: 80})
	if v.Forwards() || v.Backend == nil || v.Backend.Err != nil || fmt.Sprint(v.Backend.Dial) != "[10.96.0.9:8080]" {
		t.Errorf("denied plain HTTP: %+v, backend %+v", v, v.Backend)
	}
}
