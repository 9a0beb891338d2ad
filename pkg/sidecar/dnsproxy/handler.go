package dnsproxy

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/miekg/dns"
)

// serverUDPSize is the EDNS0 payload size the proxy advertises in its own answers (the DNS flag day 2020
// value).
const serverUDPSize = 1232

// serveDNS is the dns.Handler of every listener: it answers one query and reports its result.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	network := netUDP
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = netTCP
	}
	start := time.Now()
	out := s.answer(s.ctx, req, network)
	s.observe(out.result) // before the write, so that a client that got its answer finds it counted
	if out.resp != nil {
		s.write(w, req, out.resp)
	}
	if len(req.Question) > 0 && s.log.Enabled(s.ctx, slog.LevelDebug) {
		q := req.Question[0]
		s.log.Debug("DNS query", "name", q.Name, "type", dns.TypeToString[q.Qtype], "transport", network,
			"result", out.result, "upstream", out.upstream, "duration", time.Since(start))
	}
}

// outcome is how one query was handled.
type outcome struct {
	resp     *dns.Msg // nil: send nothing
	result   string   // one of the Result labels
	upstream string   // the upstream that answered, if any
}

// answer decides how to handle req and builds the answer.
func (s *Server) answer(ctx context.Context, req *dns.Msg, network string) outcome {
	switch {
	case req.Response:
		return outcome{result: ResultError}
	case req.Opcode != dns.OpcodeQuery:
		return outcome{resp: s.reply(req, dns.RcodeNotImplemented), result: ResultRefused}
	case len(req.Question) != 1:
		return outcome{resp: s.reply(req, dns.RcodeFormatError), result: ResultError}
	}
	q := req.Question[0]
	if inLocalZone(q.Name, s.suffix) {
		return outcome{resp: s.answerLocal(req), result: ResultLocal}
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		return outcome{resp: s.reply(req, dns.RcodeRefused), result: ResultRefused}
	}
	return s.forward(ctx, req, network)
}

// answerLocal answers a query for the local zone: the sentinel address for A and AAAA, no data (with the
// zone's SOA, for negative caching) for anything else. NXDOMAIN would make stub resolvers drop the A answer.
func (s *Server) answerLocal(req *dns.Msg) *dns.Msg {
	resp := s.reply(req, dns.RcodeSuccess)
	resp.Authoritative = true
	q := req.Question[0]
	ttl := uint32(s.cfg.LocalTTL / time.Second)
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: ttl}
	switch {
	case q.Qclass != dns.ClassINET:
	case q.Qtype == dns.TypeA:
		resp.Answer = []dns.RR{&dns.A{Hdr: hdr, A: s.cfg.SentinelV4.AsSlice()}}
	case q.Qtype == dns.TypeAAAA:
		resp.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: s.cfg.SentinelV6.AsSlice()}}
	}
	if len(resp.Answer) == 0 {
		zone := dns.Fqdn(s.suffix)
		resp.Ns = []dns.RR{&dns.SOA{
			Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns:      "ns." + zone,
			Mbox:    "hostmaster." + zone,
			Serial:  1,
			Refresh: 3600,
			Retry:   600,
			Expire:  86400,
			Minttl:  ttl,
		}}
	}
	return resp
}

// forward relays req to the upstreams on the transport it came in on, remembers the addresses of a
// successful answer, and returns the answer with the client's query ID (the upstream saw a fresh random
// one), truncated to what a UDP client can take.
func (s *Server) forward(ctx context.Context, req *dns.Msg, network string) outcome {
	q := req.Question[0]
	select {
	case s.inflight <- struct{}{}:
		defer func() { <-s.inflight }()
	default:
		s.log.Warn("too many DNS queries in flight, answering SERVFAIL", "name", q.Name, "limit", cap(s.inflight))
		return outcome{resp: s.reply(req, dns.RcodeServerFailure), result: ResultServFail}
	}

	up := req.Copy()
	up.Id = dns.Id()
	resp, from, err := s.exchange(ctx, up, network)
	if err != nil {
		level := slog.LevelWarn
		if ctx.Err() != nil {
			level = slog.LevelDebug // shutting down
		}
		s.log.Log(ctx, level, "forwarding DNS query failed, answering SERVFAIL", "name", q.Name,
			"type", dns.TypeToString[q.Qtype], "transport", network, "err", err)
		return outcome{resp: s.reply(req, dns.RcodeServerFailure), result: ResultServFail}
	}
	resp.Id = req.Id
	if resp.Rcode == dns.RcodeSuccess {
		extractAddrs(resp, q.Name).record(s.cache, s.cfg.MinTTL, s.cfg.MaxTTL)
	}
	if network == netUDP {
		resp.Truncate(clientUDPSize(req))
	}
	return outcome{resp: resp, result: resultForRcode(resp.Rcode), upstream: from}
}

// write packs and sends resp, falling back to SERVFAIL when resp cannot be packed.
func (s *Server) write(w dns.ResponseWriter, req, resp *dns.Msg) {
	resp.Compress = true
	buf, err := resp.Pack()
	if err != nil {
		s.log.Warn("packing DNS answer failed, answering SERVFAIL", "err", err)
		if buf, err = s.reply(req, dns.RcodeServerFailure).Pack(); err != nil {
			return
		}
	}
	if _, err := w.Write(buf); err != nil {
		s.log.Debug("writing DNS answer failed", "remote", w.RemoteAddr(), "err", err)
	}
}

// reply returns an empty answer to req with rcode, echoing its EDNS0 OPT record's presence and DO bit.
func (s *Server) reply(req *dns.Msg, rcode int) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetRcode(req, rcode)
	resp.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(serverUDPSize, opt.Do())
	}
	return resp
}

// clientUDPSize is the largest UDP answer the client of req accepts.
func clientUDPSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil {
		return max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	return dns.MinMsgSize
}

// resultForRcode is the result label of an upstream answer.
func resultForRcode(rcode int) string {
	switch rcode {
	case dns.RcodeSuccess:
		return ResultForwarded
	case dns.RcodeNameError:
		return ResultNXDomain
	case dns.RcodeServerFailure:
		return ResultServFail
	case dns.RcodeRefused, dns.RcodeNotImplemented:
		return ResultRefused
	default:
		return ResultError
	}
}

// acceptMsg is the servers' MsgAcceptFunc: miekg/dns's default checks, reporting what they turn away.
func (s *Server) acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	action := dns.DefaultMsgAcceptFunc(dh)
	switch action {
	case dns.MsgReject, dns.MsgIgnore:
		s.observe(ResultError)
	case dns.MsgRejectNotImplemented:
		s.observe(ResultRefused)
	}
	return action
}

// invalidMsg is the servers' MsgInvalidFunc, called for a message that could not be parsed.
func (s *Server) invalidMsg(m []byte, err error) {
	s.observe(ResultError)
	s.log.Debug("malformed DNS message", "len", len(m), "err", err)
}
