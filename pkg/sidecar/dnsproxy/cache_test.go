package dnsproxy

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ips(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = ip(s)
	}
	return out
}

func wantNames(t *testing.T, c *Cache, addr string, want ...string) {
	t.Helper()
	if got := c.NamesFor(ip(addr)); !slices.Equal(got, want) {
		t.Errorf("NamesFor(%s) = %q, want %q", addr, got, want)
	}
}

func TestCacheRecordAndExpiry(t *testing.T) {
	clock := newFakeClock()
	c := NewCache(100, clock.Now)
	c.Record("API.Example.COM.", ips("203.0.113.1", "2001:db8::1"), 10*time.Second)
	wantNames(t, c, "203.0.113.1", "api.example.com")
	wantNames(t, c, "2001:db8::1", "api.example.com")
	wantNames(t, c, "203.0.113.2")
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}

	clock.Advance(10*time.Second - time.Nanosecond)
	wantNames(t, c, "203.0.113.1", "api.example.com")
	clock.Advance(time.Nanosecond)
	wantNames(t, c, "203.0.113.1")
	if c.Len() != 0 {
		t.Errorf("Len after expiry = %d, want 0", c.Len())
	}
}

func TestCacheMappedAddresses(t *testing.T) {
	c := NewCache(0, newFakeClock().Now)
	c.Record("mapped.example", ips("::ffff:198.51.100.7"), time.Minute)
	c.Record("plain.example", ips("198.51.100.7"), time.Minute)
	wantNames(t, c, "198.51.100.7", "mapped.example", "plain.example")
	wantNames(t, c, "::ffff:198.51.100.7", "mapped.example", "plain.example")
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}

func TestCacheMergesAndKeepsLaterExpiry(t *testing.T) {
	clock := newFakeClock()
	c := NewCache(0, clock.Now)
	c.Record("a.example", ips("192.0.2.1"), 10*time.Second)
	c.Record("a.example", ips("2001:db8::1"), 10*time.Second) // the AAAA answer does not replace the A answer
	c.Record("b.example", ips("192.0.2.1"), 30*time.Second)
	wantNames(t, c, "192.0.2.1", "a.example", "b.example")
	wantNames(t, c, "2001:db8::1", "a.example")

	c.Record("a.example", ips("192.0.2.1"), 2*time.Second) // a shorter TTL does not cut the pair short
	clock.Advance(9 * time.Second)
	wantNames(t, c, "192.0.2.1", "a.example", "b.example")
	c.Record("a.example", ips("192.0.2.1"), 20*time.Second) // a longer one extends it
	clock.Advance(19 * time.Second)
	wantNames(t, c, "192.0.2.1", "a.example", "b.example")
	wantNames(t, c, "2001:db8::1")
	clock.Advance(time.Second)
	wantNames(t, c, "192.0.2.1", "b.example")
}

func TestCacheIgnoresUnusableInput(t *testing.T) {
	c := NewCache(0, newFakeClock().Now)
	c.Record("zero.example", ips("192.0.2.1"), 0)
	c.Record("negative.example", ips("192.0.2.1"), -time.Second)
	c.Record("", ips("192.0.2.1"), time.Minute)
	c.Record(".", ips("192.0.2.1"), time.Minute)
	c.Record("none.example", nil, time.Minute)
	c.Record("invalid.example", []netip.Addr{{}}, time.Minute)
	if c.Len() != 0 {
		t.Errorf("Len = %d, want 0", c.Len())
	}
	wantNames(t, c, "192.0.2.1")
	if got := c.NamesFor(netip.Addr{}); got != nil {
		t.Errorf("NamesFor(invalid) = %q", got)
	}

	var nilCache *Cache
	nilCache.Record("x.example", ips("192.0.2.1"), time.Minute)
	if nilCache.NamesFor(ip("192.0.2.1")) != nil || nilCache.Len() != 0 {
		t.Error("nil cache should know nothing")
	}
}

func TestCacheEvictsSoonestExpiring(t *testing.T) {
	clock := newFakeClock()
	c := NewCache(3, clock.Now)
	c.Record("a.example", ips("192.0.2.1"), 30*time.Second)
	c.Record("b.example", ips("192.0.2.2"), 10*time.Second)
	c.Record("c.example", ips("192.0.2.3"), 20*time.Second)
	c.Record("d.example", ips("192.0.2.4"), 40*time.Second)
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}
	wantNames(t, c, "192.0.2.2") // soonest to expire: evicted
	wantNames(t, c, "192.0.2.1", "a.example")
	wantNames(t, c, "192.0.2.3", "c.example")
	wantNames(t, c, "192.0.2.4", "d.example")

	// Equal expiries: the oldest goes first.
	c = NewCache(2, clock.Now)
	c.Record("old.example", ips("192.0.2.1"), time.Minute)
	c.Record("mid.example", ips("192.0.2.2"), time.Minute)
	c.Record("new.example", ips("192.0.2.3"), time.Minute)
	wantNames(t, c, "192.0.2.1")
	wantNames(t, c, "192.0.2.2", "mid.example")
	wantNames(t, c, "192.0.2.3", "new.example")

	// Expired pairs make room before live ones.
	c = NewCache(2, clock.Now)
	c.Record("short.example", ips("192.0.2.1"), time.Second)
	c.Record("long.example", ips("192.0.2.2"), time.Hour)
	clock.Advance(2 * time.Second)
	c.Record("next.example", ips("192.0.2.3"), time.Minute)
	wantNames(t, c, "192.0.2.2", "long.example")
	wantNames(t, c, "192.0.2.3", "next.example")

	// One answer larger than the bound keeps the bound.
	c = NewCache(4, clock.Now)
	var many []netip.Addr
	for i := range 10 {
		many = append(many, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	c.Record("many.example", many, time.Minute)
	if c.Len() != 4 {
		t.Errorf("Len = %d, want 4", c.Len())
	}
	wantNames(t, c, "192.0.2.9", "many.example")
}

func TestCacheBoundHolds(t *testing.T) {
	clock := newFakeClock()
	c := NewCache(50, clock.Now)
	for i := range 1000 {
		c.Record(fmt.Sprintf("n%d.example", i%70), []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})}, time.Duration(1+i%13)*time.Second)
		if i%100 == 0 {
			clock.Advance(time.Second)
		}
	}
	if n := c.Len(); n > 50 {
		t.Fatalf("Len = %d, want at most 50", n)
	}
	// The index and the queue agree.
	c.mu.Lock()
	defer c.mu.Unlock()
	indexed := 0
	for addr, names := range c.byAddr {
		if len(names) == 0 {
			t.Errorf("empty name set kept for %v", addr)
		}
		for name, e := range names {
			indexed++
			if e.name != name || e.addr != addr || c.queue[e.index] != e {
				t.Errorf("inconsistent entry %+v", e)
			}
		}
	}
	if indexed != len(c.queue) {
		t.Errorf("%d indexed pairs, %d queued", indexed, len(c.queue))
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(64, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				addr := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i)})
				c.Record(fmt.Sprintf("g%d-%d.example", g, i%10), []netip.Addr{addr}, time.Minute)
				c.NamesFor(addr)
				c.Len()
			}
		})
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Errorf("Len = %d, want at most 64", c.Len())
	}
}

func TestClampTTL(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, 5 * time.Second},
		{time.Second, 5 * time.Second},
		{5 * time.Second, 5 * time.Second},
		{300 * time.Second, 300 * time.Second},
		{24 * time.Hour, time.Hour},
	} {
		if got := clampTTL(tc.in, DefaultMinTTL, DefaultMaxTTL); got != tc.want {
			t.Errorf("clampTTL(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func BenchmarkCacheNamesFor(b *testing.B) {
	c := NewCache(0, nil)
	for i := range 10000 {
		c.Record(fmt.Sprintf("n%d.example", i), []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}, time.Hour)
	}
	addr := netip.AddrFrom4([4]byte{10, 0, 3, 7})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if len(c.NamesFor(addr)) != 1 {
				b.Fatal("missing name")
			}
		}
	})
}
