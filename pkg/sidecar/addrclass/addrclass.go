// Package addrclass decides whether the sidecar may connect to an address it did not get from a CIDR
// target: an address a name resolved to, an address the DNS proxy answered for opaque TCP, or an IP
// literal in a Host header or SNI. It classifies by the special-purpose address registries (Registry), looks
// inside every IPv6 form that embeds an IPv4 address, and adds the operator's own ranges. It is pure.
package addrclass

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Config holds the operator's additions to Registry.
type Config struct {
	// Deny are refused whatever the registry says (--deny-cidrs: the cluster's pod and service CIDRs).
	Deny []netip.Prefix
	// Public are not refused although the registry reserves them (--public-cidrs: an internal network that
	// the pods' rule sets should treat like the internet). They may not lift the ranges in NeverPublic.
	Public []netip.Prefix
	// NAT64 are the prefixes DNS64 synthesises (--nat64-prefixes); nil means DefaultNAT64Prefixes.
	NAT64 []netip.Prefix
}

// NeverPublic are the ranges Config.Public may not overlap: the pod itself, the node's link (the metadata
// service), multicast and the egress.local sentinels.
var NeverPublic = []netip.Prefix{
	p("0.0.0.0/8"), p("127.0.0.0/8"), p("169.254.0.0/16"), p("224.0.0.0/4"), p("240.0.0.0/4"),
	p("::/128"), p("::1/128"), p("100::/64"), p("fe80::/10"), p("ff00::/8"),
}

// Classifier classifies addresses; it is immutable and safe for concurrent use.
type Classifier struct {
	deny, public []netip.Prefix
	v4, v6       []Entry // most specific first
}

// Result is the classification of one address.
type Result struct {
	// Refused says the address may be connected to only where a CIDR target allows it.
	Refused bool
	// Range and Name say which range decided: a Registry entry, "--deny-cidrs" or "--public-cidrs".
	Range netip.Prefix
	Name  string
	// Embedded is, for an IPv6 form refused for the IPv4 address it embeds, that IPv4 address, and Inner
	// the result for it.
	Embedded netip.Addr
	Inner    *Result
}

// String describes the result for messages, e.g. "10.0.0.0/8 Private-Use (RFC 1918)" or
// "64:ff9b::/96 ... embedding 169.254.169.254 (169.254.0.0/16 Link Local (RFC 3927))".
func (r Result) String() string {
	s := r.Range.String() + " " + r.Name
	if r.Inner != nil {
		s += " embedding " + r.Embedded.String() + " (" + r.Inner.String() + ")"
	}
	return s
}

// New builds a Classifier from Registry and cfg. It fails when a NAT64 prefix has a length RFC 6052 does
// not define, or a public range overlaps NeverPublic.
func New(cfg Config) (*Classifier, error) {
	var errs []error
	nat64 := cfg.NAT64
	if nat64 == nil {
		nat64 = DefaultNAT64Prefixes
	}
	c := &Classifier{}
	// The NAT64 prefixes go first, so that one wins over a Registry entry of the same length.
	for _, n := range nat64 {
		n = n.Masked()
		if !n.Addr().Is6() || n.Addr().Is4In6() || !slices.Contains([]int{32, 40, 48, 56, 64, 96}, n.Bits()) {
			errs = append(errs, fmt.Errorf("NAT64 prefix %s: must be an IPv6 prefix of length 32, 40, 48, 56, 64 or 96 (RFC 6052)", n))
			continue
		}
		c.add(Entry{Prefix: n, Name: "NAT64 prefix", Embeds: EmbedsNAT64,
			Why: "translated to the IPv4 address it embeds: as safe as that address"})
	}
	for _, e := range Registry {
		if e.Embeds == EmbedsNAT64 {
			continue // the well-known prefix is one of nat64 when it applies
		}
		c.add(e)
	}
	for _, pub := range cfg.Public {
		for _, never := range NeverPublic {
			if pub.Overlaps(never) {
				errs = append(errs, fmt.Errorf("public range %s overlaps %s, which is never public", pub, never))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.deny = masked(cfg.Deny)
	c.public = masked(cfg.Public)
	for _, entries := range [][]Entry{c.v4, c.v6} {
		slices.SortStableFunc(entries, func(a, b Entry) int { return cmp.Compare(b.Prefix.Bits(), a.Prefix.Bits()) })
	}
	return c, nil
}

func (c *Classifier) add(e Entry) {
	if e.Prefix.Addr().Is4() {
		c.v4 = append(c.v4, e)
	} else {
		c.v6 = append(c.v6, e)
	}
}

func masked(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = unmapPrefix(p.Masked())
	}
	return out
}

// Check classifies addr (an IPv4-mapped address is taken as its IPv4 address; a zone is ignored). The
// operator's deny ranges come first, then the public ranges, then the most specific Registry entry; an
// entry that embeds IPv4 hands the verdict to the embedded address(es), refused if any is.
func (c *Classifier) Check(addr netip.Addr) Result {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return Result{Refused: true, Name: "invalid address"}
	}
	for _, d := range c.deny {
		if d.Contains(addr) {
			return Result{Refused: true, Range: d, Name: "--deny-cidrs"}
		}
	}
	for _, pub := range c.public {
		if pub.Contains(addr) {
			return Result{Range: pub, Name: "--public-cidrs"}
		}
	}
	entries := c.v6
	if addr.Is4() {
		entries = c.v4
	}
	for _, e := range entries {
		if !e.Prefix.Contains(addr) {
			continue
		}
		res := Result{Refused: e.Refused, Range: e.Prefix, Name: e.Name}
		for _, v4 := range embedded(addr, e) {
			if inner := c.Check(v4); inner.Refused {
				res.Refused, res.Embedded, res.Inner = true, v4, &inner
				break
			}
		}
		return res
	}
	return Result{Refused: true, Name: "unclassified"} // not reached: 0.0.0.0/0 and ::/0 are entries
}

// embedded returns the IPv4 addresses an address of entry e carries.
func embedded(addr netip.Addr, e Entry) []netip.Addr {
	b := addr.As16()
	v4 := func(a, b2, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b2, c, d}) }
	switch e.Embeds {
	case EmbedsLast32:
		return []netip.Addr{v4(b[12], b[13], b[14], b[15])}
	case Embeds6to4:
		return []netip.Addr{v4(b[2], b[3], b[4], b[5])}
	case EmbedsTeredo:
		return []netip.Addr{v4(b[4], b[5], b[6], b[7]), v4(^b[12], ^b[13], ^b[14], ^b[15])}
	case EmbedsNAT64:
		// RFC 6052 section 2.2: the 32 bits follow the prefix, skipping octet 8 (bits 64-71).
		var out [4]byte
		i := e.Prefix.Bits() / 8
		for n := range out {
			if i == 8 {
				i++
			}
			out[n] = b[i]
			i++
		}
		return []netip.Addr{netip.AddrFrom4(out)}
	}
	return nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into its IPv4 form (10.0.0.0/8).
func unmapPrefix(pr netip.Prefix) netip.Prefix {
	if !pr.Addr().Is4In6() || pr.Bits() < 96 {
		return pr
	}
	return netip.PrefixFrom(pr.Addr().Unmap(), pr.Bits()-96)
}
