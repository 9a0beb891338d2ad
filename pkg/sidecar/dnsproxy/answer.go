package dnsproxy

import (
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// maxCNAMEChain bounds how many CNAMEs are followed from the queried name.
const maxCNAMEChain = 16

// chainName is one name on the CNAME chain of an answer with how long the answer maps it to the addresses:
// the smallest TTL of the records from this name to the addresses.
type chainName struct {
	name string
	ttl  time.Duration
}

// answerAddrs is what one answer says about a queried name: the names on its CNAME chain (the queried name
// first, normalised) and the addresses the chain ends in.
type answerAddrs struct {
	names []chainName
	addrs []netip.Addr
}

// extractAddrs follows the CNAME chain from qname through msg's answer section and returns the A and AAAA
// addresses at its end. Records off the chain (which a resolver should not send) are ignored, and so is a
// chain that loops or is longer than maxCNAMEChain.
func extractAddrs(msg *dns.Msg, qname string) answerAddrs {
	if msg == nil || len(msg.Answer) == 0 {
		return answerAddrs{}
	}
	type addrSet struct {
		addrs []netip.Addr
		ttl   uint32
	}
	cnames := make(map[string]*dns.CNAME)
	sets := make(map[string]*addrSet)
	for _, rr := range msg.Answer {
		h := rr.Header()
		if h.Class != dns.ClassINET {
			continue
		}
		owner := normalizeName(h.Name)
		var addr netip.Addr
		switch v := rr.(type) {
		case *dns.CNAME:
			if _, dup := cnames[owner]; !dup {
				cnames[owner] = v
			}
			continue
		case *dns.A:
			addr, _ = netip.AddrFromSlice(v.A)
		case *dns.AAAA:
			addr, _ = netip.AddrFromSlice(v.AAAA)
		default:
			continue
		}
		if !addr.IsValid() {
			continue
		}
		addr = addr.Unmap()
		set := sets[owner]
		if set == nil {
			set = &addrSet{ttl: h.Ttl}
			sets[owner] = set
		}
		set.ttl = min(set.ttl, h.Ttl)
		if !slices.Contains(set.addrs, addr) {
			set.addrs = append(set.addrs, addr)
		}
	}

	names := []string{normalizeName(qname)}
	var linkTTLs []uint32 // linkTTLs[i] is the TTL of the CNAME from names[i] to names[i+1]
	for range maxCNAMEChain {
		c, ok := cnames[names[len(names)-1]]
		if !ok {
			break
		}
		target := normalizeName(c.Target)
		if slices.Contains(names, target) {
			return answerAddrs{}
		}
		names = append(names, target)
		linkTTLs = append(linkTTLs, c.Hdr.Ttl)
	}
	set := sets[names[len(names)-1]]
	if set == nil {
		return answerAddrs{}
	}
	out := answerAddrs{names: make([]chainName, len(names)), addrs: set.addrs}
	ttl := set.ttl
	for i := len(names) - 1; i >= 0; i-- {
		if i < len(linkTTLs) {
			ttl = min(ttl, linkTTLs[i])
		}
		out.names[i] = chainName{name: names[i], ttl: time.Duration(ttl) * time.Second}
	}
	return out
}

// record remembers the answer in cache under every name of the chain, with each name's TTL clamped to
// [floor, ceiling].
func (a answerAddrs) record(cache *Cache, floor, ceiling time.Duration) {
	if cache == nil || len(a.addrs) == 0 {
		return
	}
	for _, n := range a.names {
		cache.Record(n.name, a.addrs, clampTTL(n.ttl, floor, ceiling))
	}
}
