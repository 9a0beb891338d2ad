package dnsproxy

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func rrA(name string, ttl uint32, addr string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(addr)}
}

func rrAAAA(name string, ttl uint32, addr string) dns.RR {
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: net.ParseIP(addr)}
}

func rrCNAME(name string, ttl uint32, target string) dns.RR {
	return &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl}, Target: target}
}

func TestExtractAddrs(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		qname  string
		answer []dns.RR
		names  []chainName
		addrs  []netip.Addr
	}{
		{
			desc:   "plain",
			qname:  "API.example.com.",
			answer: []dns.RR{rrA("api.example.com.", 60, "192.0.2.1"), rrA("Api.Example.com.", 30, "192.0.2.2")},
			names:  []chainName{{"api.example.com", 30 * time.Second}},
			addrs:  ips("192.0.2.1", "192.0.2.2"),
		},
		{
			desc:  "CNAME chain, TTL is the smallest from each name on",
			qname: "www.example.com.",
			answer: []dns.RR{
				rrCNAME("www.example.com.", 300, "cdn.example.net."),
				rrCNAME("cdn.example.net.", 20, "edge.cdn.example."),
				rrAAAA("edge.cdn.example.", 60, "2001:db8::7"),
				rrA("unrelated.example.", 60, "192.0.2.99"),
			},
			names: []chainName{
				{"www.example.com", 20 * time.Second},
				{"cdn.example.net", 20 * time.Second},
				{"edge.cdn.example", 60 * time.Second},
			},
			addrs: ips("2001:db8::7"),
		},
		{
			desc:   "mapped AAAA",
			qname:  "m.example.",
			answer: []dns.RR{rrAAAA("m.example.", 10, "::ffff:192.0.2.5")},
			names:  []chainName{{"m.example", 10 * time.Second}},
			addrs:  ips("192.0.2.5"),
		},
		{
			desc:   "records off the chain only",
			qname:  "q.example.",
			answer: []dns.RR{rrA("other.example.", 60, "192.0.2.1")},
		},
		{
			desc:   "CNAME without addresses",
			qname:  "q.example.",
			answer: []dns.RR{rrCNAME("q.example.", 60, "t.example.")},
		},
		{
			desc:  "loop",
			qname: "a.example.",
			answer: []dns.RR{
				rrCNAME("a.example.", 60, "b.example."),
				rrCNAME("b.example.", 60, "a.example."),
				rrA("a.example.", 60, "192.0.2.1"),
			},
		},
	} {
		got := extractAddrs(&dns.Msg{Answer: tc.answer}, tc.qname)
		if !slices.Equal(got.names, tc.names) || !slices.Equal(got.addrs, tc.addrs) {
			t.Errorf("%s: got %+v, want names %+v addrs %v", tc.desc, got, tc.names, tc.addrs)
		}
	}
}

func TestAnswerRecordClampsTTL(t *testing.T) {
	clock := newFakeClock()
	c := NewCache(0, clock.Now)
	msg := &dns.Msg{Answer: []dns.RR{
		rrCNAME("zero.example.", 0, "long.example."),
		rrA("long.example.", 86400, "192.0.2.1"),
	}}
	extractAddrs(msg, "zero.example.").record(c, 5*time.Second, time.Hour)
	wantNames(t, c, "192.0.2.1", "long.example", "zero.example")
	clock.Advance(5 * time.Second) // zero.example: TTL 0 raised to the 5s floor
	wantNames(t, c, "192.0.2.1", "long.example")
	clock.Advance(time.Hour - 5*time.Second) // long.example: one day cut to the 1h ceiling
	wantNames(t, c, "192.0.2.1")
}
