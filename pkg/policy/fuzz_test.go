package policy

import (
	"bytes"
	"net/netip"
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
