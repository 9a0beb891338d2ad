package dnsproxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"egress.io/egress/internal/dnstest"
)

// results counts the observe calls of a Server.
type results struct {
	mu sync.Mutex
	m  map[string]int
}

func (r *results) observe(result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(Results(), result) {
		panic("unknown result label " + result)
	}
	if r.m == nil {
		r.m = make(map[string]int)
	}
	r.m[result]++
}

func (r *results) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.m)
}

// testProxy is a running Server with what the tests look at.
type testProxy struct {
	*Server
	addr    string
	cache   *Cache
	results *results
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startProxy runs a Server for cfg (listening on 127.0.0.1:0 unless cfg says otherwise) until the test ends.
func startProxy(t *testing.T, cfg Config, cache *Cache) *testProxy {
	t.Helper()
	if cfg.ListenAddrs == nil {
		cfg.ListenAddrs = []string{"127.0.0.1:0"}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cache == nil {
		cache = NewCache(0, nil)
	}
	res := &results{}
	s, err := New(cfg, cache, testLogger(t), res.observe)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("proxy not ready after 5s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return 5s after its context ended")
		}
	})
	return &testProxy{Server: s, addr: s.Addrs()[0].String(), cache: cache, results: res}
}

func newQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// exchange sends m over network and returns the answer, checking that it carries m's ID.
func exchange(t *testing.T, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	resp, err := tryExchange(network, addr, m)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tryExchange is exchange for goroutines other than the test's.
func tryExchange(network, addr string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 3 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, fmt.Errorf("%s query for %v: %w", network, m.Question, err)
	}
	if resp.Id != m.Id {
		return nil, fmt.Errorf("%s query for %v: answer ID %d, query ID %d", network, m.Question, resp.Id, m.Id)
	}
	return resp, nil
}

func upstream(t *testing.T, records map[string][]netip.Addr, ttl time.Duration) *dnstest.Server {
	return dnstest.Start(t, "127.0.0.1:0", records, ttl)
}

func TestLocalAnswers(t *testing.T) {
	up := upstream(t, nil, time.Minute)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}}, nil)

	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range []struct {
			name  string
			qtype uint16
			want  []string
		}{
			{"api.github.com.egress.local.", dns.TypeA, []string{"240.0.0.1"}},
			{"API.GitHub.COM.Egress.Local.", dns.TypeA, []string{"240.0.0.1"}},
			{"api.github.com.egress.local.", dns.TypeAAAA, []string{"100::1"}},
			{"egress.local.", dns.TypeA, []string{"240.0.0.1"}},
			{"EGRESS.LOCAL.", dns.TypeAAAA, []string{"100::1"}},
			{"api.github.com.egress.local.", dns.TypeMX, nil},
			{"api.github.com.egress.local.", dns.TypeHTTPS, nil},
			{"x.egress.local.", dns.TypeTXT, nil},
		} {
			q := newQuery(tc.name, tc.qtype)
			resp := exchange(t, network, p.addr, q)
			if resp.Rcode != dns.RcodeSuccess || !resp.Authoritative || !slices.Equal(dnstest.Answers(resp), tc.want) {
				t.Errorf("%s %s %s: got rcode %s answers %v, want NOERROR %v", network, tc.name,
					dns.TypeToString[tc.qtype], dns.RcodeToString[resp.Rcode], dnstest.Answers(resp), tc.want)
				continue
			}
			for _, rr := range resp.Answer {
				if rr.Header().Name != tc.name || rr.Header().Ttl != 5 {
					t.Errorf("%s %s: answer %v: want the query's name and TTL 5", network, tc.name, rr)
				}
			}
			if tc.want == nil {
				if len(resp.Ns) != 1 || resp.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Errorf("%s %s: no data answer without SOA: %v", network, tc.name, resp)
				}
			}
		}
	}
	if up.Queries() != 0 {
		t.Errorf("upstream got %d queries for local names", up.Queries())
	}
	if got := p.results.snapshot(); got[ResultLocal] != 16 || len(got) != 1 {
		t.Errorf("results = %v, want 16 local", got)
	}
	if p.cache.Len() != 0 {
		t.Errorf("local answers recorded in the cache")
	}
}

func TestLocalAnswersCustomConfig(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"egress.local": ips("192.0.2.1")}, time.Minute)
	p := startProxy(t, Config{
		Upstreams:   []string{up.Addr()},
		LocalSuffix: "Sidecar.Internal.",
		SentinelV4:  ip("240.1.2.3"),
		SentinelV6:  ip("100::42"),
		LocalTTL:    30 * time.Second,
	}, nil)
	resp := exchange(t, "udp", p.addr, newQuery("db.sidecar.internal.", dns.TypeA))
	if got := dnstest.Answers(resp); !slices.Equal(got, []string{"240.1.2.3"}) || resp.Answer[0].Header().Ttl != 30 {
		t.Errorf("A: got %v", resp)
	}
	resp = exchange(t, "udp", p.addr, newQuery("db.sidecar.internal.", dns.TypeAAAA))
	if got := dnstest.Answers(resp); !slices.Equal(got, []string{"100::42"}) {
		t.Errorf("AAAA: got %v", got)
	}
	// With another suffix, egress.local is an ordinary name.
	resp = exchange(t, "udp", p.addr, newQuery("egress.local.", dns.TypeA))
	if got := dnstest.Answers(resp); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("egress.local forwarded: got %v", got)
	}
}

func TestForwarding(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{
		"api.example.test": ips("198.18.0.10", "2001:db8::10"),
	}, 300*time.Second)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}}, nil)

	for i, network := range []string{"udp", "tcp"} {
		before := up.TCPQueries()
		q := newQuery("Api.Example.Test.", dns.TypeA)
		q.Id = uint16(0xbee0 + i)
		resp := exchange(t, network, p.addr, q)
		if got := dnstest.Answers(resp); resp.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"198.18.0.10"}) {
			t.Errorf("%s A: got %v", network, resp)
		}
		if resp.Question[0].Name != "Api.Example.Test." {
			t.Errorf("%s: question not echoed as asked: %v", network, resp.Question)
		}
		if wantTCP := network == "tcp"; (up.TCPQueries() > before) != wantTCP {
			t.Errorf("%s query: upstream TCP queries went from %d to %d", network, before, up.TCPQueries())
		}
		resp = exchange(t, network, p.addr, newQuery("api.example.test.", dns.TypeAAAA))
		if got := dnstest.Answers(resp); !slices.Equal(got, []string{"2001:db8::10"}) {
			t.Errorf("%s AAAA: got %v", network, got)
		}
		resp = exchange(t, network, p.addr, newQuery("missing.example.test.", dns.TypeA))
		if resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s missing: want NXDOMAIN, got %v", network, resp)
		}
	}
	wantNames(t, p.cache, "198.18.0.10", "api.example.test")
	wantNames(t, p.cache, "2001:db8::10", "api.example.test")
	wantNames(t, p.cache, "::ffff:198.18.0.10", "api.example.test")
	if got := p.results.snapshot(); got[ResultForwarded] != 4 || got[ResultNXDomain] != 2 || len(got) != 2 {
		t.Errorf("results = %v, want 4 forwarded, 2 nxdomain", got)
	}
}

func TestForwardingKeepsEDNS0(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.10")}, time.Minute)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}}, nil)
	q := newQuery("api.example.test.", dns.TypeA)
	q.SetEdns0(1232, true)
	resp := exchange(t, "udp", p.addr, q)
	if resp.IsEdns0() == nil {
		t.Errorf("EDNS0 query answered without OPT: %v", resp)
	}
	local := newQuery("x.egress.local.", dns.TypeA)
	local.SetEdns0(1232, true)
	if resp := exchange(t, "udp", p.addr, local); resp.IsEdns0() == nil || !resp.IsEdns0().Do() {
		t.Errorf("local EDNS0 answer without OPT/DO: %v", resp)
	}
}

func TestTruncationFallsBackToTCP(t *testing.T) {
	var many []netip.Addr
	for i := range 60 {
		many = append(many, netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}))
	}
	up := upstream(t, map[string][]netip.Addr{
		"small.example.test": ips("198.18.0.20"),
		"big.example.test":   many,
	}, time.Minute)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}}, nil)

	// The upstream truncates every UDP answer: the proxy retries over TCP and the client gets it all.
	up.SetTruncateUDP(true)
	resp := exchange(t, "udp", p.addr, newQuery("small.example.test.", dns.TypeA))
	if resp.Truncated || !slices.Equal(dnstest.Answers(resp), []string{"198.18.0.20"}) {
		t.Errorf("small answer: got %v", resp)
	}
	if up.TCPQueries() != 1 {
		t.Errorf("upstream TCP queries = %d, want 1", up.TCPQueries())
	}
	up.SetTruncateUDP(false)

	// An answer too large for a client without EDNS0: the proxy fetches and records it all, and gives the
	// client a truncated answer so that it retries over TCP.
	resp = exchange(t, "udp", p.addr, newQuery("big.example.test.", dns.TypeA))
	if !resp.Truncated {
		t.Errorf("big answer over UDP: want TC, got %d records", len(resp.Answer))
	}
	wantNames(t, p.cache, "198.18.1.59", "big.example.test")
	resp = exchange(t, "tcp", p.addr, newQuery("big.example.test.", dns.TypeA))
	if resp.Truncated || len(resp.Answer) != 60 {
		t.Errorf("big answer over TCP: got %d records, TC %v", len(resp.Answer), resp.Truncated)
	}
	// A client advertising a large EDNS0 buffer gets it all over UDP.
	q := newQuery("big.example.test.", dns.TypeA)
	q.SetEdns0(4096, false)
	if resp = exchange(t, "udp", p.addr, q); resp.Truncated || len(resp.Answer) != 60 {
		t.Errorf("big answer over UDP with EDNS0 4096: got %d records, TC %v", len(resp.Answer), resp.Truncated)
	}
}

func TestCNAMEChainRecorded(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"edge.cdn.test": ips("198.18.0.30", "2001:db8::30")}, time.Minute)
	up.SetCNAME("www.shop.test", "shop.cdn.test")
	up.SetCNAME("shop.cdn.test", "edge.cdn.test")
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}}, nil)

	resp := exchange(t, "udp", p.addr, newQuery("WWW.shop.test.", dns.TypeA))
	want := []string{"CNAME shop.cdn.test.", "CNAME edge.cdn.test.", "198.18.0.30"}
	if got := dnstest.Answers(resp); !slices.Equal(got, want) {
		t.Errorf("answer = %v, want %v", got, want)
	}
	wantNames(t, p.cache, "198.18.0.30", "edge.cdn.test", "shop.cdn.test", "www.shop.test")
	wantNames(t, p.cache, "2001:db8::30") // only asked for A
}

func TestTTLFloorAndCeiling(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"zero.example.test": ips("198.18.0.40")}, 0)
	longUp := upstream(t, map[string][]netip.Addr{"long.example.test": ips("198.18.0.41")}, 7*24*time.Hour)
	clock := newFakeClock()
	cache := NewCache(0, clock.Now)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}, MinTTL: 10 * time.Second, MaxTTL: time.Minute}, cache)
	pl := startProxy(t, Config{Upstreams: []string{longUp.Addr()}, MinTTL: 10 * time.Second, MaxTTL: time.Minute}, cache)

	exchange(t, "udp", p.addr, newQuery("zero.example.test.", dns.TypeA))
	exchange(t, "udp", pl.addr, newQuery("long.example.test.", dns.TypeA))
	wantNames(t, cache, "198.18.0.40", "zero.example.test") // TTL 0 still covers the connect that follows
	clock.Advance(10 * time.Second)
	wantNames(t, cache, "198.18.0.40")
	wantNames(t, cache, "198.18.0.41", "long.example.test")
	clock.Advance(50 * time.Second)
	wantNames(t, cache, "198.18.0.41") // a week cut to the 1m ceiling
}

func TestUpstreamFailures(t *testing.T) {
	// A port nobody listens on: UDP gets ICMP port unreachable, TCP a reset.
	closed := func() string {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.LocalAddr().String()
	}()
	good := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.50")}, time.Minute)
	dropping := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.51")}, time.Minute)
	dropping.SetDrop(true)
	failing := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.52")}, time.Minute)
	failing.SetRcode("api.example.test", dns.RcodeServerFailure)
	refusing := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.53")}, time.Minute)
	refusing.SetRcode("api.example.test", dns.RcodeRefused)

	for _, tc := range []struct {
		desc      string
		upstreams []string
		rcode     int
		answer    []string
		result    string
	}{
		{"unreachable", []string{closed}, dns.RcodeServerFailure, nil, ResultServFail},
		{"not answering", []string{dropping.Addr()}, dns.RcodeServerFailure, nil, ResultServFail},
		{"SERVFAIL", []string{failing.Addr()}, dns.RcodeServerFailure, nil, ResultServFail},
		{"REFUSED", []string{refusing.Addr()}, dns.RcodeRefused, nil, ResultRefused},
		{"unreachable, then good", []string{closed, good.Addr()}, dns.RcodeSuccess, []string{"198.18.0.50"}, ResultForwarded},
		{"not answering, then good", []string{dropping.Addr(), good.Addr()}, dns.RcodeSuccess, []string{"198.18.0.50"}, ResultForwarded},
		{"SERVFAIL, then good", []string{failing.Addr(), good.Addr()}, dns.RcodeSuccess, []string{"198.18.0.50"}, ResultForwarded},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := startProxy(t, Config{Upstreams: tc.upstreams, Timeout: 200 * time.Millisecond}, nil)
			for _, network := range []string{"udp", "tcp"} {
				q := newQuery("api.example.test.", dns.TypeA)
				q.Id = 4242
				start := time.Now()
				resp := exchange(t, network, p.addr, q)
				if resp.Rcode != tc.rcode || !slices.Equal(dnstest.Answers(resp), tc.answer) {
					t.Errorf("%s: got %s %v, want %s %v", network, dns.RcodeToString[resp.Rcode], dnstest.Answers(resp),
						dns.RcodeToString[tc.rcode], tc.answer)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s: answer took %v", network, d)
				}
			}
			if got := p.results.snapshot(); got[tc.result] != 2 || len(got) != 1 {
				t.Errorf("results = %v, want 2 %s", got, tc.result)
			}
		})
	}
}

func TestRefusedAndNotImplemented(t *testing.T) {
	up := upstream(t, nil, time.Minute)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}}, nil)

	notify := newQuery("example.test.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	if resp := exchange(t, "udp", p.addr, notify); resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: got %v", resp)
	}
	update := newQuery("example.test.", dns.TypeSOA)
	update.Opcode = dns.OpcodeUpdate
	if resp := exchange(t, "udp", p.addr, update); resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("UPDATE: got %v", resp)
	}
	if resp := exchange(t, "tcp", p.addr, newQuery("example.test.", dns.TypeAXFR)); resp.Rcode != dns.RcodeRefused {
		t.Errorf("AXFR: got %v", resp)
	}
	if up.Queries() != 0 {
		t.Errorf("upstream got %d queries", up.Queries())
	}
	if got := p.results.snapshot(); got[ResultRefused] != 3 || len(got) != 1 {
		t.Errorf("results = %v, want 3 refused", got)
	}
}

func TestMalformedMessages(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.60")}, time.Minute)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}}, nil)

	valid, err := newQuery("api.example.test.", dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	header := func(id, flags, qd, an, ns, ar uint16) []byte {
		b := make([]byte, 12)
		for i, v := range []uint16{id, flags, qd, an, ns, ar} {
			binary.BigEndian.PutUint16(b[2*i:], v)
		}
		return b
	}
	response := append([]byte(nil), valid...)
	response[2] |= 0x80 // QR
	for _, tc := range []struct {
		desc   string
		packet []byte
		rcode  int // -1: no answer
	}{
		{"short", []byte{1, 2, 3}, -1},
		{"header only, one question announced", header(7, 0x0100, 1, 0, 0, 0), dns.RcodeFormatError},
		{"no question", header(8, 0x0100, 0, 0, 0, 0), dns.RcodeFormatError},
		{"two questions", append(header(9, 0x0100, 2, 0, 0, 0), valid[12:]...), dns.RcodeFormatError},
		{"truncated question", valid[:len(valid)-3], dns.RcodeFormatError},
		{"garbage question", append(header(10, 0x0100, 1, 0, 0, 0), 0xc0, 0xff, 0xff, 0xff), dns.RcodeFormatError},
		{"a response", response, -1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before := p.results.snapshot()[ResultError]
			conn, err := net.Dial("udp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.packet); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			buf := make([]byte, 512)
			n, err := conn.Read(buf)
			switch {
			case tc.rcode < 0 && err == nil:
				t.Errorf("got an answer: % x", buf[:n])
			case tc.rcode >= 0 && err != nil:
				t.Errorf("no answer: %v", err)
			case tc.rcode >= 0:
				resp := new(dns.Msg)
				if err := resp.Unpack(buf[:n]); err != nil || resp.Rcode != tc.rcode || !resp.Response {
					t.Errorf("answer %v (%v), want rcode %s", resp, err, dns.RcodeToString[tc.rcode])
				}
			}
			if after := p.results.snapshot()[ResultError]; after != before+1 {
				t.Errorf("error results went from %d to %d, want +1", before, after)
			}
		})
	}

	// Garbage over TCP, then the server still answers.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte{0, 5, 1, 2, 3, 4, 5})
	_ = conn.Close()
	for _, network := range []string{"udp", "tcp"} {
		if resp := exchange(t, network, p.addr, newQuery("api.example.test.", dns.TypeA)); !slices.Equal(dnstest.Answers(resp), []string{"198.18.0.60"}) {
			t.Errorf("%s after malformed input: %v", network, resp)
		}
	}
}

func TestListenBothFamiliesSamePort(t *testing.T) {
	up := upstream(t, nil, time.Minute)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}, ListenAddrs: []string{"127.0.0.1:0", "[::1]:0"}}, nil)
	addrs := p.Addrs()
	if len(addrs) != 2 || !addrs[0].Addr().Is4() || !addrs[1].Addr().Is6() {
		t.Fatalf("Addrs = %v", addrs)
	}
	for _, a := range addrs {
		for _, network := range []string{"udp", "tcp"} {
			resp := exchange(t, network, a.String(), newQuery("x.egress.local.", dns.TypeA))
			if !slices.Equal(dnstest.Answers(resp), []string{"240.0.0.1"}) {
				t.Errorf("%s %s: %v", network, a, resp)
			}
		}
	}
}

func TestRunStopsAndReleasesPorts(t *testing.T) {
	up := upstream(t, nil, time.Minute)
	s, err := New(Config{Upstreams: []string{up.Addr()}, ListenAddrs: []string{"127.0.0.1:0"}}, nil, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Addrs() != nil {
		t.Errorf("Addrs before Listen = %v", s.Addrs())
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0].String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	exchange(t, "tcp", addr, newQuery("x.egress.local.", dns.TypeA))
	if err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	for _, network := range []string{"udp", "tcp"} {
		if network == "udp" {
			l, err := net.ListenPacket(network, addr)
			if err != nil {
				t.Errorf("UDP port not released: %v", err)
			} else {
				l.Close()
			}
		} else {
			l, err := net.Listen(network, addr)
			if err != nil {
				t.Errorf("TCP port not released: %v", err)
			} else {
				l.Close()
			}
		}
	}
}

func TestListenBusyPort(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s, err := New(Config{Upstreams: []string{"127.0.0.1:53"}, ListenAddrs: []string{busy.LocalAddr().String()}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "Config.ListenAddrs") {
		t.Errorf("Run on a busy port: %v", err)
	}
}

func TestConcurrentQueries(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.70")}, time.Minute)
	p := startProxy(t, Config{Upstreams: []string{up.Addr()}}, nil)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			network := []string{"udp", "tcp"}[i%2]
			resp, err := tryExchange(network, p.addr, newQuery("api.example.test.", dns.TypeA))
			if err != nil {
				t.Error(err)
			} else if !slices.Equal(dnstest.Answers(resp), []string{"198.18.0.70"}) {
				t.Errorf("%s: %v", network, resp)
			}
		})
	}
	wg.Wait()
	if got := p.results.snapshot()[ResultForwarded]; got != 40 {
		t.Errorf("forwarded = %d, want 40", got)
	}
}

func TestCloseBeforeRun(t *testing.T) {
	s, err := New(Config{Upstreams: []string{"127.0.0.1:53"}, ListenAddrs: []string{"127.0.0.1:0"}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0].String()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP port not released: %v", err)
	}
	l.Close()
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("Run after Close: %v", err)
	}
}
