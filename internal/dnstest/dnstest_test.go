package dnstest

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func query(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", network, name, err)
	}
	return resp
}

func TestServer(t *testing.T) {
	s := Start(t, "127.0.0.1:0", map[string][]netip.Addr{
		"API.example.test.": {netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("fd00::2")},
	}, 30*time.Second)

	for _, network := range []string{"udp", "tcp"} {
		resp := query(t, network, s.Addr(), "api.EXAMPLE.test", dns.TypeA)
		if got := Answers(resp); !slices.Equal(got, []string{"198.18.0.2"}) || resp.Answer[0].Header().Ttl != 30 {
			t.Errorf("%s A: got %v (%v)", network, got, resp)
		}
		resp = query(t, network, s.Addr(), "api.example.test", dns.TypeAAAA)
		if got := Answers(resp); !slices.Equal(got, []string{"fd00::2"}) {
			t.Errorf("%s AAAA: got %v", network, got)
		}
		if resp = query(t, network, s.Addr(), "api.example.test", dns.TypeMX); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 {
			t.Errorf("%s MX: want no data, got %v", network, resp)
		}
		if resp = query(t, network, s.Addr(), "nope.example.test", dns.TypeA); resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s unknown: want NXDOMAIN, got %v", network, resp)
		}
	}
	if s.Queries() != 8 || s.TCPQueries() != 4 {
		t.Errorf("counters: %d queries, %d TCP; want 8, 4", s.Queries(), s.TCPQueries())
	}

	s.Set("new.example.test", []netip.Addr{netip.MustParseAddr("198.18.0.3")})
	s.SetCNAME("www.example.test", "new.example.test")
	if got := Answers(query(t, "udp", s.Addr(), "www.example.test", dns.TypeA)); !slices.Equal(got, []string{"CNAME new.example.test.", "198.18.0.3"}) {
		t.Errorf("CNAME: got %v", got)
	}
	s.SetRcode("www.example.test", dns.RcodeServerFailure)
	if resp := query(t, "udp", s.Addr(), "www.example.test", dns.TypeA); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("SetRcode: got %v", resp)
	}

	s.SetTruncateUDP(true)
	if resp := query(t, "udp", s.Addr(), "api.example.test", dns.TypeA); !resp.Truncated || len(resp.Answer) != 0 {
		t.Errorf("truncated UDP: got %v", resp)
	}
	if resp := query(t, "tcp", s.Addr(), "api.example.test", dns.TypeA); resp.Truncated || len(resp.Answer) != 1 {
		t.Errorf("TCP while truncating UDP: got %v", resp)
	}

	s.SetDrop(true)
	m := new(dns.Msg)
	m.SetQuestion("api.example.test.", dns.TypeA)
	if _, _, err := (&dns.Client{Timeout: 100 * time.Millisecond}).Exchange(m, s.Addr()); err == nil {
		t.Error("SetDrop: got an answer")
	}
}

func TestLargeAnswerTruncatedOverUDP(t *testing.T) {
	var many []netip.Addr
	for i := range 60 {
		many = append(many, netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}))
	}
	s := Start(t, "127.0.0.1:0", map[string][]netip.Addr{"big.example.test": many}, time.Minute)
	if resp := query(t, "udp", s.Addr(), "big.example.test", dns.TypeA); !resp.Truncated {
		t.Errorf("60 A records over UDP without EDNS0: want TC, got %d records", len(resp.Answer))
	}
	if resp := query(t, "tcp", s.Addr(), "big.example.test", dns.TypeA); resp.Truncated || len(resp.Answer) != 60 {
		t.Errorf("over TCP: want 60 records, got %d (TC %v)", len(resp.Answer), resp.Truncated)
	}
}
