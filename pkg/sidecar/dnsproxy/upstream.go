package dnsproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Transports a query can come in and go out on.
const (
	netUDP = "udp"
	netTCP = "tcp"
)

// upstreams sends queries to the real resolvers, in order. It is safe for concurrent use.
type upstreams struct {
	log     *slog.Logger
	addrs   []string
	timeout time.Duration
	udp     *dns.Client
	tcp     *dns.Client
}

// newUpstreams returns a client for addrs (host:port) that gives each attempt at each upstream timeout and
// logs, at debug level, the failures it recovers from by trying the next upstream.
func newUpstreams(addrs []string, timeout time.Duration, log *slog.Logger) *upstreams {
	return &upstreams{
		log:     log,
		addrs:   addrs,
		timeout: timeout,
		// UDPSize only sizes the receive buffer of queries without EDNS0; it never changes the query.
		udp: &dns.Client{Net: netUDP, Timeout: timeout, UDPSize: dns.MaxMsgSize},
		tcp: &dns.Client{Net: netTCP, Timeout: timeout},
	}
}

// exchange sends req over network (netUDP or netTCP) to each upstream in turn until one answers, and
// returns that answer and the upstream that gave it. Over UDP a truncated answer is retried over TCP with
// the same upstream. A SERVFAIL or REFUSED answer moves on to the next upstream; when every upstream
// answers like that, the last such answer is returned without error. Without any answer the error wraps
// every upstream's failure.
func (u *upstreams) exchange(ctx context.Context, req *dns.Msg, network string) (*dns.Msg, string, error) {
	var (
		errs         []error
		fallback     *dns.Msg
		fallbackFrom string
	)
	for _, addr := range u.addrs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		resp, err := u.exchangeOne(ctx, req, network, addr)
		if err != nil {
			u.log.Debug("DNS upstream failed", "upstream", addr, "name", req.Question[0].Name, "err", err)
			errs = append(errs, fmt.Errorf("upstream %s: %w", addr, err))
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			u.log.Debug("DNS upstream answered with an error", "upstream", addr, "name", req.Question[0].Name,
				"rcode", dns.RcodeToString[resp.Rcode])
			fallback, fallbackFrom = resp, addr
			continue
		}
		return resp, addr, nil
	}
	if fallback != nil {
		return fallback, fallbackFrom, nil
	}
	if len(errs) == 0 {
		return nil, "", errors.New("no upstream configured")
	}
	return nil, "", joinErrors(errs)
}

// exchangeOne asks one upstream, falling back from UDP to TCP when the UDP answer is truncated. If the
// TCP retry fails, a well-formed truncated answer is returned as is: the client will retry over TCP itself.
func (u *upstreams) exchangeOne(ctx context.Context, req *dns.Msg, network, addr string) (*dns.Msg, error) {
	if network == netTCP {
		return u.try(ctx, u.tcp, req, addr)
	}
	resp, err := u.try(ctx, u.udp, req, addr)
	if resp == nil || !resp.Truncated {
		return resp, err
	}
	full, tcpErr := u.try(ctx, u.tcp, req, addr)
	switch {
	case tcpErr == nil:
		return full, nil
	case err == nil:
		return resp, nil
	default:
		return nil, fmt.Errorf("retrying truncated answer over TCP: %w", tcpErr)
	}
}

// try makes one exchange under the per-attempt timeout and checks that the answer is a response to req.
// A truncated answer that did not fully parse is returned together with its error.
func (u *upstreams) try(ctx context.Context, c *dns.Client, req *dns.Msg, addr string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, req, addr)
	if err != nil {
		if resp != nil && resp.Truncated && resp.Response {
			return resp, err
		}
		return nil, err
	}
	if err := checkResponse(req, resp); err != nil {
		return nil, fmt.Errorf("over %s: %w", c.Net, err)
	}
	return resp, nil
}

// checkResponse rejects an answer that is not a response to req's question.
func checkResponse(req, resp *dns.Msg) error {
	if !resp.Response {
		return errors.New("answer is not a response")
	}
	if resp.Opcode != req.Opcode {
		return fmt.Errorf("answer has opcode %s, query had %s", dns.OpcodeToString[resp.Opcode], dns.OpcodeToString[req.Opcode])
	}
	if len(req.Question) == 0 {
		return nil
	}
	if len(resp.Question) == 0 {
		// Some servers leave the question out of error answers (e.g. REFUSED, FORMERR); that is fine.
		if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
			return nil
		}
		return errors.New("answer has no question section")
	}
	q, a := req.Question[0], resp.Question[0]
	if a.Qtype != q.Qtype || a.Qclass != q.Qclass || !strings.EqualFold(a.Name, q.Name) {
		return fmt.Errorf("answer is for %s %s, query was for %s %s", a.Name, dns.TypeToString[a.Qtype], q.Name, dns.TypeToString[q.Qtype])
	}
	return nil
}

// joinedErrors is errors.Join on one line, for messages that end up in a log line or an HTTP body.
type joinedErrors []error

func (e joinedErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e joinedErrors) Unwrap() []error { return e }

// joinErrors returns the only error of errs, or all of them as one; nil if there is none.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	default:
		return joinedErrors(errs)
	}
}
