package policy

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"egress.io/egress/api/v1alpha1"
)

// FuzzParseTarget checks that ParseTarget never panics, that a parsed target's canonical form parses back to
// the same target, and that a compiled target allows what it names. Seeds: testdata/fuzz/FuzzParseTarget.
func FuzzParseTarget(f *testing.F) {
	for _, seed := range []string{"api.stripe.com:443", "*.a.com:443", "*:80", "203.0.113.0/24:5432", "[2001:db8::/32]:1-65535", "bücher.example:443"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		target, err := ParseTarget(s)
		if err != nil {
			return
		}
		again, err := ParseTarget(target.String())
		if err != nil || again != target {
			t.Fatalf("%q: canonical form %q parses to %+v, %v", s, target, again, err)
		}
		m, problems := Compile([]v1alpha1.EgressRuleSet{ruleSet("ns", "fuzz", "", nil, s)})
		if len(problems) != 0 {
			t.Fatalf("%q parsed but did not compile: %v", s, problems)
		}
		name, ip := "", netip.Addr{}
		switch target.Kind {
		case KindExact:
			name = target.Host
		case KindWildcard:
			name = "x." + target.Host
			if len(name) > maxNameLength {
				return
			}
		case KindCIDR:
			ip = target.Prefix.Addr()
		}
		if d := m.Decide(name, ip, target.Ports.Last); d.Action != Allow {
			t.Fatalf("%q does not allow (%q, %v, %d): %+v", s, name, ip, target.Ports.Last, d)
		}
		if target.Kind != KindAnyHost && target.Ports.First > 1 {
			if d := m.Decide(name, ip, target.Ports.First-1); d.Action != Deny {
				t.Fatalf("%q allows port %d below its range: %+v", s, target.Ports.First-1, d)
			}
		}
	})
}

// FuzzLoadRuleSets checks that the file loader never panics and that whatever it accepts compiles cleanly.
// Seeds: testdata/fuzz/FuzzLoadRuleSets.
func FuzzLoadRuleSets(f *testing.F) {
	f.Add([]byte("apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: a}\nspec: {targets: [\"a.example:443\"]}\n" +
		"---\napiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: b}\nspec: {targets: [\"b.example:443\"]}\n"))
	f.Add([]byte("apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: x, namespace: y}\nspec: {mode: Audit, podSelector: {matchLabels: {a: b}}, targets: [\"*:80\"]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sets, err := LoadRuleSets(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			return
		}
		if _, problems := Compile(sets); len(problems) != 0 {
			t.Fatalf("loaded rule sets do not compile cleanly: %v", problems)
		}
	})
}

// FuzzRoutePath checks that path matching never panics, that a path that is not in normal form is never
// matched by a route, and that a PathPrefix match agrees with an element-wise reading of the path.
func FuzzRoutePath(f *testing.F) {
	for _, seed := range []string{"/repos/a", "/repos", "/reposx", "/repos/../x", "/%2e%2e/", "//a", "/a\\b", "", "repos"} {
		f.Add(seed)
	}
	route := v1alpha1.Route{Name: "r", Hosts: []v1alpha1.RouteHost{"a.example:443"},
		Matches: []v1alpha1.RouteMatch{{Path: &v1alpha1.PathMatch{Type: v1alpha1.PathPrefix, Value: "/repos"}}}}
	set := ruleSet("shop", "deps", "", nil, "a.example:443")
	set.Spec.Routes = []v1alpha1.Route{route}
	m, _ := Compile([]v1alpha1.EgressRuleSet{set})
	f.Fuzz(func(t *testing.T, path string) {
		d := m.DecideRequest("a.example", 443, Request{Method: "GET", Path: path})
		if d.Allowed() && !NormalPath(path) {
			t.Fatalf("%q is not normal, and allowed", path)
		}
		elementWise := path == "/repos" || strings.HasPrefix(path, "/repos/")
		if d.Allowed() != (elementWise && NormalPath(path)) {
			t.Fatalf("%q: allowed %v, element-wise prefix %v", path, d.Allowed(), elementWise)
		}
	})
}
