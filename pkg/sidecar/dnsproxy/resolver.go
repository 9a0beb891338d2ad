package dnsproxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxResolverAnswers bounds the Resolver's own cache of positive answers.
const maxResolverAnswers = 1024

// Resolver is the sidecar's own name resolution. The sidecar's UID is not redirected to the proxy, so the
// Resolver asks the upstreams directly: A and AAAA in parallel, over UDP with a TCP retry on truncation.
// Answers are recorded in the shared Cache (clamped to DefaultMinTTL and DefaultMaxTTL) and kept for their
// own TTL (at most DefaultMaxTTL) in a small positive cache; concurrent lookups of one name share one
// query. It is safe for concurrent use.
type Resolver struct {
	up    *upstreams
	cache *Cache
	now   func() time.Time

	mu      sync.Mutex
	answers map[string]resolved
	calls   map[string]*lookupCall
}

// resolved is a positive answer of the Resolver's own cache.
type resolved struct {
	addrs   []netip.Addr
	expires time.Time
}

// lookupCall is a lookup in flight that later callers for the same name wait for.
type lookupCall struct {
	done  chan struct{}
	addrs []netip.Addr
	err   error
}

// NewResolver returns a Resolver asking upstreams (host:port, tried in order), each attempt bounded by
// timeout (DefaultTimeout if not positive), recording answers in cache (which may be nil; when it is not,
// its clock is the Resolver's too).
func NewResolver(upstreams []string, timeout time.Duration, cache *Cache) *Resolver {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	now := time.Now
	if cache != nil {
		now = cache.now
	}
	return &Resolver{
		up:      newUpstreams(slices.Clone(upstreams), timeout, slog.New(slog.DiscardHandler)),
		cache:   cache,
		now:     now,
		answers: make(map[string]resolved),
		calls:   make(map[string]*lookupCall),
	}
}

// LookupAddrs returns the addresses of name, IPv4 first, with IPv4-mapped addresses as IPv4. An IP literal
// is returned as is. On failure the error is a *LookupError that IsNotFound recognises when the name does
// not exist or has no address. ctx bounds the wait; a query already sent still completes (bounded by the
// timeout) and is cached for the next caller.
func (r *Resolver) LookupAddrs(ctx context.Context, name string) ([]netip.Addr, error) {
	if addr, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{addr.Unmap()}, nil
	}
	norm := normalizeName(name)
	if _, ok := dns.IsDomainName(norm); norm == "" || !ok {
		return nil, &LookupError{Name: name, Err: fmt.Errorf("%w (invalid name)", ErrNotFound)}
	}

	r.mu.Lock()
	if a, ok := r.answers[norm]; ok && a.expires.After(r.now()) {
		r.mu.Unlock()
		return slices.Clone(a.addrs), nil
	}
	c, ok := r.calls[norm]
	if !ok {
		c = &lookupCall{done: make(chan struct{})}
		r.calls[norm] = c
		go r.run(context.WithoutCancel(ctx), norm, c)
	}
	r.mu.Unlock()

	select {
	case <-c.done:
		if c.err != nil {
			return nil, &LookupError{Name: name, Err: c.err}
		}
		return slices.Clone(c.addrs), nil
	case <-ctx.Done():
		return nil, &LookupError{Name: name, Err: ctx.Err()}
	}
}

// run performs one lookup for every caller waiting on c, and caches a positive answer.
func (r *Resolver) run(ctx context.Context, name string, c *lookupCall) {
	addrs, ttl, err := r.lookup(ctx, name)
	r.mu.Lock()
	delete(r.calls, name)
	if err == nil && ttl > 0 {
		r.storeLocked(name, resolved{addrs: addrs, expires: r.now().Add(min(ttl, DefaultMaxTTL))})
	}
	r.mu.Unlock()
	c.addrs, c.err = addrs, err
	close(c.done)
}

// storeLocked adds an answer to the positive cache, making room by dropping expired answers, or any one.
func (r *Resolver) storeLocked(name string, a resolved) {
	if len(r.answers) >= maxResolverAnswers {
		now := r.now()
		for n, old := range r.answers {
			if !old.expires.After(now) {
				delete(r.answers, n)
			}
		}
		for n := range r.answers {
			if len(r.answers) < maxResolverAnswers {
				break
			}
			delete(r.answers, n)
		}
	}
	r.answers[name] = a
}

// lookup asks the upstreams for A and AAAA at once and combines the answers: any address is a success;
// NXDOMAIN, or no data for both types, is ErrNotFound; anything else is the upstreams' failure. ttl is
// how long the addresses may be reused.
func (r *Resolver) lookup(ctx context.Context, name string) (addrs []netip.Addr, ttl time.Duration, err error) {
	type answer struct {
		resp *dns.Msg
		err  error
	}
	qtypes := []uint16{dns.TypeA, dns.TypeAAAA}
	answers := make([]answer, len(qtypes))
	var wg sync.WaitGroup
	for i, qtype := range qtypes {
		wg.Go(func() {
			q := new(dns.Msg)
			q.SetQuestion(dns.Fqdn(name), qtype)
			q.SetEdns0(serverUDPSize, false)
			resp, _, err := r.up.exchange(ctx, q, netUDP)
			answers[i] = answer{resp: resp, err: err}
		})
	}
	wg.Wait()

	var (
		v4, v6   []netip.Addr
		failures []error
		nxdomain bool
		noData   int
	)
	ttl = DefaultMaxTTL
	for i, a := range answers {
		qtype := dns.TypeToString[qtypes[i]]
		switch {
		case a.err != nil:
			failures = append(failures, fmt.Errorf("querying %s: %w", qtype, a.err))
		case a.resp.Rcode == dns.RcodeNameError:
			nxdomain = true
		case a.resp.Rcode != dns.RcodeSuccess:
			failures = append(failures, fmt.Errorf("querying %s: upstream answered %s", qtype, dns.RcodeToString[a.resp.Rcode]))
		default:
			found := extractAddrs(a.resp, name)
			found.record(r.cache, DefaultMinTTL, DefaultMaxTTL)
			if len(found.addrs) == 0 {
				noData++
				continue
			}
			ttl = min(ttl, found.names[0].ttl)
			for _, addr := range found.addrs {
				switch {
				case slices.Contains(v4, addr), slices.Contains(v6, addr):
				case addr.Is4():
					v4 = append(v4, addr)
				default:
					v6 = append(v6, addr)
				}
			}
		}
	}
	switch {
	case len(v4)+len(v6) > 0:
		return append(v4, v6...), ttl, nil
	case nxdomain:
		return nil, 0, fmt.Errorf("%w (NXDOMAIN)", ErrNotFound)
	case noData == len(qtypes):
		return nil, 0, fmt.Errorf("%w (no A or AAAA record)", ErrNotFound)
	default:
		return nil, 0, joinErrors(failures)
	}
}
