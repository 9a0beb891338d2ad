package dnsproxy

import (
	"container/heap"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultCacheEntries is the bound NewCache uses when given a non-positive maxEntries.
const DefaultCacheEntries = 16384

// Cache remembers which names DNS answers mapped to which addresses, each (name, address) pair until its
// answer's TTL runs out. It is bounded: when full, the pair that expires soonest (expired ones first, the
// oldest among equals) makes room. All methods are safe for concurrent use; NamesFor, the hot path, only
// takes a read lock. A nil *Cache records nothing and knows no names.
//
// The Cache stores TTLs as given; the floor and ceiling (Config.MinTTL, Config.MaxTTL) are applied by the
// Server and Resolver that record into it.
type Cache struct {
	now func() time.Time
	max int

	mu     sync.RWMutex
	byAddr map[netip.Addr]map[string]*cacheEntry
	queue  expiryQueue
	seq    uint64
}

// cacheEntry is one remembered (name, address) pair.
type cacheEntry struct {
	name    string
	addr    netip.Addr
	expires time.Time
	seq     uint64 // insertion or refresh order: breaks ties between equal expiries
	index   int    // position in the expiry queue
}

// NewCache returns an empty cache holding at most maxEntries (name, address) pairs (DefaultCacheEntries
// when maxEntries <= 0). now is the clock (time.Now when nil); tests inject a fake one.
func NewCache(maxEntries int, now func() time.Time) *Cache {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{now: now, max: maxEntries, byAddr: make(map[netip.Addr]map[string]*cacheEntry)}
}

// Record remembers that name resolved to addrs for ttl. The name is normalised (lower case, no trailing
// dot), IPv4-mapped IPv6 addresses are stored as IPv4, and a pair already known keeps the later of its two
// expiries (a shorter TTL in a new answer does not cut short what the app may still hold). A non-positive
// ttl, an empty name or no valid address records nothing.
func (c *Cache) Record(name string, addrs []netip.Addr, ttl time.Duration) {
	if c == nil || ttl <= 0 || len(addrs) == 0 {
		return
	}
	name = normalizeName(name)
	if name == "" {
		return
	}
	now := c.now()
	expires := now.Add(ttl)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.purgeLocked(now)
	for _, addr := range addrs {
		if !addr.IsValid() {
			continue
		}
		addr = canonicalAddr(addr)
		c.seq++
		names := c.byAddr[addr]
		if e, ok := names[name]; ok {
			if expires.After(e.expires) {
				e.expires, e.seq = expires, c.seq
				heap.Fix(&c.queue, e.index)
			}
			continue
		}
		if len(c.queue) >= c.max {
			c.removeLocked(c.queue[0])
			names = c.byAddr[addr] // the eviction may have deleted this address's map
		}
		if names == nil {
			names = make(map[string]*cacheEntry, 1)
			c.byAddr[addr] = names
		}
		e := &cacheEntry{name: name, addr: addr, expires: expires, seq: c.seq}
		names[name] = e
		heap.Push(&c.queue, e)
	}
}

// NamesFor returns, sorted, the names whose unexpired answer contained addr (an IPv4-mapped IPv6 address
// is looked up as IPv4), or nil.
func (c *Cache) NamesFor(addr netip.Addr) []string {
	if c == nil || !addr.IsValid() {
		return nil
	}
	addr = canonicalAddr(addr)
	now := c.now()

	c.mu.RLock()
	var out []string
	for name, e := range c.byAddr[addr] {
		if e.expires.After(now) {
			out = append(out, name)
		}
	}
	c.mu.RUnlock()
	if len(out) > 1 {
		slices.Sort(out)
	}
	return out
}

// Len returns the number of unexpired (name, address) pairs held.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purgeLocked(c.now())
	return len(c.queue)
}

// purgeLocked drops every pair expired at now.
func (c *Cache) purgeLocked(now time.Time) {
	for len(c.queue) > 0 && !c.queue[0].expires.After(now) {
		c.removeLocked(c.queue[0])
	}
}

// removeLocked drops one pair from the queue and the address index.
func (c *Cache) removeLocked(e *cacheEntry) {
	heap.Remove(&c.queue, e.index)
	names := c.byAddr[e.addr]
	delete(names, e.name)
	if len(names) == 0 {
		delete(c.byAddr, e.addr)
	}
}

// canonicalAddr is the form addresses are stored and looked up in: IPv4-mapped IPv6 as IPv4, no zone.
func canonicalAddr(addr netip.Addr) netip.Addr {
	return addr.Unmap().WithZone("")
}

// normalizeName lower-cases an ASCII DNS name and drops one trailing dot. Names on the wire are ASCII
// (international names travel as punycode, other bytes as \DDD escapes), so ASCII folding is enough.
func normalizeName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// expiryQueue is a min-heap of entries by expiry, then by seq.
type expiryQueue []*cacheEntry

func (q expiryQueue) Len() int { return len(q) }

func (q expiryQueue) Less(i, j int) bool {
	if !q[i].expires.Equal(q[j].expires) {
		return q[i].expires.Before(q[j].expires)
	}
	return q[i].seq < q[j].seq
}

func (q expiryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *expiryQueue) Push(x any) {
	e := x.(*cacheEntry)
	e.index = len(*q)
	*q = append(*q, e)
}

func (q *expiryQueue) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*q = old[:n-1]
	return e
}
