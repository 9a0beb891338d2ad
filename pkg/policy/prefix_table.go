package policy

import (
	"net/netip"
	"slices"
)

// prefixTable finds the longest prefix containing an address with one hash lookup per distinct prefix length
// in the table (at most 33 for IPv4, 129 for IPv6; a handful in practice), whatever the number of prefixes.
type prefixTable struct {
	lengths  []int // distinct prefix lengths, longest first
	byPrefix map[netip.Prefix][]rule
}

func newPrefixTable(byPrefix map[netip.Prefix][]rule) prefixTable {
	seen := map[int]bool{}
	var lengths []int
	for p := range byPrefix {
		if !seen[p.Bits()] {
			seen[p.Bits()] = true
			lengths = append(lengths, p.Bits())
		}
	}
	slices.Sort(lengths)
	slices.Reverse(lengths)
	return prefixTable{lengths: lengths, byPrefix: byPrefix}
}

// match returns the first rule, longest prefix first, that contains addr and allows port.
func (t *prefixTable) match(addr netip.Addr, port uint16) (rule, bool) {
	for _, bits := range t.lengths {
		p, err := addr.Prefix(bits)
		if err != nil {
			continue
		}
		if r, ok := matchPort(t.byPrefix[p], port); ok {
			return r, true
		}
	}
	return rule{}, false
}
