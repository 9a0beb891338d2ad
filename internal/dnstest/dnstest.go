// Package dnstest is a small authoritative DNS server for tests: it answers A and AAAA queries from a map
// of names to addresses (NXDOMAIN for unknown names, no data for a known name without an address of the
// asked family) on UDP and TCP, counts queries, and can be told at run time to change records, answer
// with CNAME chains, a given rcode, truncated UDP answers, or not at all.
//
// Start runs one inside a test; cmd/testdns runs one as a process (e.g. inside a network namespace).
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"egress.io/egress/internal/dnslisten"
)

// maxCNAMEChain bounds how many CNAMEs the server follows for one answer.
const maxCNAMEChain = 16

// TB is the part of testing.TB that Start needs (so that this package does not import testing).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Server is a test DNS server. Its methods are safe for concurrent use.
type Server struct {
	ttl uint32

	mu          sync.Mutex
	records     map[string][]netip.Addr // by lower-case FQDN
	cnames      map[string]string       // lower-case FQDN → lower-case FQDN
	rcodes      map[string]int
	truncateUDP bool
	drop        bool

	queries    atomic.Int64
	tcpQueries atomic.Int64

	addr    string
	servers []*dns.Server
	done    chan error
}

// New returns a server for records (names with or without a trailing dot, any case) whose answers carry
// ttl (whole seconds). It does not listen yet: see Listen.
func New(records map[string][]netip.Addr, ttl time.Duration) *Server {
	s := &Server{
		ttl:     uint32(ttl / time.Second),
		records: make(map[string][]netip.Addr, len(records)),
		cnames:  make(map[string]string),
		rcodes:  make(map[string]int),
	}
	for name, addrs := range records {
		s.records[key(name)] = append([]netip.Addr(nil), addrs...)
	}
	return s
}

// Start runs a server for records on addr (e.g. "127.0.0.1:0": UDP and TCP get the same port) until the
// test ends, failing the test if it cannot listen.
func Start(t TB, addr string, records map[string][]netip.Addr, ttl time.Duration) *Server {
	t.Helper()
	s := New(records, ttl)
	if err := s.Listen(addr); err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Listen binds addr on UDP and TCP (with port 0, the same kernel-chosen port for both) and serves in the
// background until Close. It returns once both are serving.
func (s *Server) Listen(addr string) error {
	pc, ln, err := dnslisten.Pair(addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	handler := dns.HandlerFunc(s.serveDNS)
	s.servers = []*dns.Server{
		{PacketConn: pc, Handler: handler, NotifyStartedFunc: notify},
		{Listener: ln, Handler: handler, NotifyStartedFunc: notify},
	}
	s.addr = pc.LocalAddr().String()
	s.done = make(chan error, len(s.servers))
	for _, srv := range s.servers {
		go func() { s.done <- srv.ActivateAndServe() }()
	}
	for range s.servers {
		select {
		case <-started:
		case err := <-s.done:
			_ = pc.Close()
			_ = ln.Close()
			return fmt.Errorf("serving on %s: %w", addr, err)
		}
	}
	return nil
}

// Close stops the server and waits for it.
func (s *Server) Close() error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	for range s.servers {
		<-s.done
	}
	s.servers = nil
	return errors.Join(errs...)
}

// Addr returns the host:port the server listens on, for both UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Set replaces the addresses of name; no addresses make the name unknown (NXDOMAIN) unless it has a CNAME.
func (s *Server) Set(name string, addrs []netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(addrs) == 0 {
		delete(s.records, key(name))
		return
	}
	s.records[key(name)] = append([]netip.Addr(nil), addrs...)
}

// SetCNAME makes name an alias of target: answers for name start with the CNAME chain and end with the
// addresses of its last name. An empty target removes the alias.
func (s *Server) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target == "" {
		delete(s.cnames, key(name))
		return
	}
	s.cnames[key(name)] = key(target)
}

// SetRcode makes every query for name answer with rcode and no records (e.g. dns.RcodeServerFailure);
// dns.RcodeSuccess removes the override.
func (s *Server) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rcode == dns.RcodeSuccess {
		delete(s.rcodes, key(name))
		return
	}
	s.rcodes[key(name)] = rcode
}

// SetTruncateUDP makes every UDP answer truncated (TC bit, no records), as a server does when the answer
// is too large, so that clients retry over TCP. Answers larger than the client's UDP size are truncated
// anyway.
func (s *Server) SetTruncateUDP(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncateUDP = on
}

// SetDrop makes the server read queries and never answer them, like an unreachable resolver.
func (s *Server) SetDrop(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = on
}

// Queries returns the number of queries received, over UDP and TCP.
func (s *Server) Queries() int { return int(s.queries.Load()) }

// TCPQueries returns the number of queries received over TCP.
func (s *Server) TCPQueries() int { return int(s.tcpQueries.Load()) }

// serveDNS answers one query.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	s.queries.Add(1)
	if tcp {
		s.tcpQueries.Add(1)
	}
	resp, ok := s.answer(req, tcp)
	if !ok {
		return
	}
	_ = w.WriteMsg(resp)
}

// answer builds the answer to req, or reports that none must be sent.
func (s *Server) answer(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drop {
		return nil, false
	}
	resp := new(dns.Msg).SetReply(req)
	resp.Authoritative = true
	udpSize := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(dns.DefaultMsgSize, false)
		udpSize = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return resp, true
	}
	q := req.Question[0]
	name := key(q.Name)
	if rcode, ok := s.rcodes[name]; ok {
		resp.Rcode = rcode
		return resp, true
	}

	owner := q.Name
	for range maxCNAMEChain {
		target, ok := s.cnames[name]
		if !ok {
			break
		}
		resp.Answer = append(resp.Answer, &dns.CNAME{Hdr: s.header(owner, dns.TypeCNAME), Target: target})
		owner, name = target, target
	}
	addrs, known := s.records[name]
	if !known && len(resp.Answer) == 0 {
		resp.Rcode = dns.RcodeNameError
		return resp, true
	}
	for _, a := range addrs {
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			resp.Answer = append(resp.Answer, &dns.A{Hdr: s.header(owner, dns.TypeA), A: a.AsSlice()})
		case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: s.header(owner, dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	if !tcp {
		if s.truncateUDP {
			resp.Answer, resp.Truncated = nil, true
		} else {
			resp.Truncate(udpSize)
		}
	}
	return resp, true
}

// header returns a record header for name of type rrtype with the server's TTL.
func (s *Server) header(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: s.ttl}
}

// key is the form names are stored in: lower case, fully qualified.
func key(name string) string { return dns.Fqdn(strings.ToLower(name)) }

// Answers renders a response's answer section for comparison in tests: addresses of A and AAAA records,
// "CNAME target" for CNAMEs.
func Answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+v.Target)
		}
	}
	return out
}
