package dnsproxy

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// fakeWriter is a dns.ResponseWriter that keeps what is written.
type fakeWriter struct {
	tcp     bool
	written [][]byte
}

func (w *fakeWriter) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 15053}
}

func (w *fakeWriter) RemoteAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

func (w *fakeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *fakeWriter) Write(b []byte) (int, error) {
	w.written = append(w.written, append([]byte(nil), b...))
	return len(b), nil
}

func (w *fakeWriter) Close() error        { return nil }
func (w *fakeWriter) TsigStatus() error   { return nil }
func (w *fakeWriter) TsigTimersOnly(bool) {}
func (w *fakeWriter) Hijack()             {}

// fakeExchange plays the upstreams without sockets: names starting with "nx" do not exist, "fail" ones time
// out, "big" ones have 80 addresses, and the others are a CNAME to target.example. with an A and an AAAA.
func fakeExchange(_ context.Context, req *dns.Msg, _ string) (*dns.Msg, string, error) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	resp := new(dns.Msg).SetReply(req)
	resp.RecursionAvailable = true
	hdr := func(owner string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: 60}
	}
	switch {
	case strings.HasPrefix(name, "fail"):
		return nil, "", errors.New("fake upstream: i/o timeout")
	case strings.HasPrefix(name, "nx"):
		resp.Rcode = dns.RcodeNameError
	case strings.HasPrefix(name, "big"):
		for i := range 80 {
			resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: net.IPv4(192, 0, 2, byte(i))})
		}
	default:
		resp.Answer = append(resp.Answer,
			&dns.CNAME{Hdr: hdr(q.Name, dns.TypeCNAME), Target: "target.example."},
			&dns.A{Hdr: hdr("target.example.", dns.TypeA), A: net.IPv4(192, 0, 2, 1)},
			&dns.AAAA{Hdr: hdr("target.example.", dns.TypeAAAA), AAAA: net.ParseIP("2001:db8::1")},
		)
	}
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(4096, opt.Do())
	}
	return resp, "fake:53", nil
}

// serveRaw takes raw bytes down the path the miekg/dns server takes them: header check, accept function,
// parse, handler.
func serveRaw(s *Server, w dns.ResponseWriter, raw []byte) {
	if len(raw) < 12 {
		s.invalidMsg(raw, dns.ErrShortRead)
		return
	}
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(raw[2*i:]) }
	dh := dns.Header{Id: u16(0), Bits: u16(1), Qdcount: u16(2), Ancount: u16(3), Nscount: u16(4), Arcount: u16(5)}
	if s.acceptMsg(dh) != dns.MsgAccept {
		return // the library answers FORMERR/NOTIMP or drops it
	}
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil {
		s.invalidMsg(raw, err)
		return
	}
	s.serveDNS(w, req)
}

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(m *dns.Msg) {
		if b, err := m.Pack(); err == nil {
			seeds = append(seeds, b)
		}
	}
	for _, name := range []string{"api.github.com.egress.local.", "EGRESS.LOCAL.", "www.example.com.", "nx.example.", "fail.example.", "big.example."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeAXFR} {
			add(newQuery(name, qtype))
		}
	}
	edns := newQuery("big.example.", dns.TypeA)
	edns.SetEdns0(1232, true)
	add(edns)
	notify := newQuery("example.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	add(notify)
	chaos := newQuery("x.egress.local.", dns.TypeA)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	add(chaos)
	seeds = append(seeds, []byte{}, []byte{0, 1, 2}, make([]byte, 12), []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"))
	return seeds
}

func FuzzServeDNS(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	var observed []string
	s, err := New(Config{Upstreams: []string{"192.0.2.53:53"}}, NewCache(256, nil), nil,
		func(r string) { observed = append(observed, r) })
	if err != nil {
		f.Fatal(err)
	}
	s.exchange = fakeExchange
	sentinels := map[string]bool{"240.0.0.1": true, "100::1": true}

	f.Fuzz(func(t *testing.T, raw []byte, overTCP bool) {
		observed = observed[:0]
		w := &fakeWriter{tcp: overTCP}
		serveRaw(s, w, raw)

		if len(observed) != 1 {
			t.Fatalf("observe called %d times: %q", len(observed), observed)
		}
		if len(w.written) > 1 {
			t.Fatalf("%d answers written", len(w.written))
		}
		if len(w.written) == 0 {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(raw); err != nil {
			t.Fatalf("answered a message that does not parse: %v", err)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(w.written[0]); err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		if !resp.Response || resp.Id != req.Id {
			t.Fatalf("answer is not a response with the query's ID: %v", resp)
		}
		if !overTCP && len(w.written[0]) > clientUDPSize(req) {
			t.Fatalf("UDP answer of %d bytes for a client taking %d", len(w.written[0]), clientUDPSize(req))
		}
		if observed[0] == ResultLocal {
			for _, rr := range resp.Answer {
				var addr netip.Addr
				switch v := rr.(type) {
				case *dns.A:
					addr, _ = netip.AddrFromSlice(v.A)
				case *dns.AAAA:
					addr, _ = netip.AddrFromSlice(v.AAAA)
				}
				if !sentinels[addr.Unmap().String()] {
					t.Fatalf("local answer with %v", rr)
				}
			}
		}
	})
}
