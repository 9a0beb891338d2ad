package policy

import (
	"fmt"
	"net/netip"
	"testing"

	"egress.io/egress/api/v1alpha1"
)

// benchTargets returns n targets of a kind: "exact", "wildcard", "cidr" or "mixed" (a third of each).
func benchTargets(kind string, n int) []string {
	targets := make([]string, 0, n)
	for i := 0; i < n; i++ {
		k := kind
		if kind == "mixed" {
			k = [...]string{"exact", "wildcard", "cidr"}[i%3]
		}
		switch k {
		case "exact":
			targets = append(targets, fmt.Sprintf("api%d.service%d.example.com:443", i, i%97))
		case "wildcard":
			targets = append(targets, fmt.Sprintf("*.bucket%d.example.net:443", i))
		case "cidr":
			// Distinct /24s and /28s out of 10,000 so the table has two prefix lengths.
			bits := 24
			if i%2 == 1 {
				bits = 28
			}
			targets = append(targets, fmt.Sprintf("%d.%d.%d.0/%d:5432", 100+i/65536, (i/256)%256, i%256, bits))
		}
	}
	return targets
}

// benchQuery returns a destination that the targets of kind allow (hit) or do not (miss).
func benchQuery(kind string, n int, hit bool) (string, netip.Addr, uint16) {
	last := n - 1
	if kind == "mixed" {
		kind = "exact"
		last -= last % 3
	}
	switch kind {
	case "wildcard":
		if hit {
			return fmt.Sprintf("x.y.bucket%d.example.net", last), netip.Addr{}, 443
		}
		return "x.y.bucket-none.example.net", netip.Addr{}, 443
	case "cidr":
		if hit {
			return "", netip.AddrFrom4([4]byte{byte(100 + last/65536), byte((last / 256) % 256), byte(last % 256), 9}), 5432
		}
		return "", netip.MustParseAddr("198.51.100.9"), 5432
	default:
		if hit {
			return fmt.Sprintf("api%d.service%d.example.com", last, last%97), netip.Addr{}, 443
		}
		return "api-none.service.example.com", netip.Addr{}, 443
	}
}

// BenchmarkDecide measures one decision for 1, 100 and 10,000 targets of each kind, hits and misses.
func BenchmarkDecide(b *testing.B) {
	for _, kind := range []string{"exact", "wildcard", "cidr", "mixed"} {
		for _, n := range []int{1, 100, 10000} {
			targets := benchTargets(kind, n)
			m, problems := Compile([]v1alpha1.EgressRuleSet{ruleSet("bench", "rules", "", nil, targets...)})
			if len(problems) != 0 {
				b.Fatal(problems)
			}
			for _, hit := range []bool{true, false} {
				name, ip, port := benchQuery(kind, n, hit)
				want := Deny
				if hit {
					want = Allow
				}
				if d := m.Decide(name, ip, port); d.Action != want {
					b.Fatalf("%s/%d hit=%v: %+v", kind, n, hit, d)
				}
				result := map[bool]string{true: "hit", false: "miss"}[hit]
				b.Run(fmt.Sprintf("%s/targets=%d/%s", kind, n, result), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						m.Decide(name, ip, port)
					}
				})
			}
		}
	}
}

// BenchmarkCompile measures building the matcher for 10,000 mixed targets (the cost of one reload).
func BenchmarkCompile(b *testing.B) {
	sets := []v1alpha1.EgressRuleSet{ruleSet("bench", "rules", "", nil, benchTargets("mixed", 10000)...)}
	b.ReportAllocs()
	for b.Loop() {
		Compile(sets)
	}
}
