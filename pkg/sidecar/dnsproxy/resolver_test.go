package dnsproxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestResolverFound(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{
		"api.example.test": ips("2001:db8::80", "198.18.0.80", "198.18.0.81"),
	}, time.Minute)
	up.SetCNAME("www.example.test", "api.example.test")
	cache := NewCache(0, nil)
	r := NewResolver([]string{up.Addr()}, time.Second, cache)

	for _, name := range []string{"api.example.test", "API.Example.Test.", "www.example.test"} {
		got, err := r.LookupAddrs(context.Background(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := ips("198.18.0.80", "198.18.0.81", "2001:db8::80"); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v (IPv4 first)", name, got, want)
		}
	}
	wantNames(t, cache, "198.18.0.81", "api.example.test", "www.example.test")
	wantNames(t, cache, "2001:db8::80", "api.example.test", "www.example.test")
}

func TestResolverIPLiteral(t *testing.T) {
	r := NewResolver([]string{"127.0.0.1:1"}, time.Second, nil)
	for in, want := range map[string]string{"198.18.0.1": "198.18.0.1", "::ffff:198.18.0.1": "198.18.0.1", "2001:db8::1": "2001:db8::1"} {
		got, err := r.LookupAddrs(context.Background(), in)
		if err != nil || !slices.Equal(got, ips(want)) {
			t.Errorf("LookupAddrs(%q) = %v, %v", in, got, err)
		}
	}
}

func TestResolverNotFoundVersusFailure(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"v4only.example.test": ips("198.18.0.90")}, time.Minute)
	up.SetCNAME("dangling.example.test", "nowhere.example.test")
	broken := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.91")}, time.Minute)
	broken.SetRcode("api.example.test", dns.RcodeServerFailure)
	dropping := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.92")}, time.Minute)
	dropping.SetDrop(true)

	for _, tc := range []struct {
		desc      string
		upstream  string
		name      string
		notFound  bool
		timeout   bool
		errSubstr string
	}{
		{"NXDOMAIN", up.Addr(), "missing.example.test", true, false, "no such host (NXDOMAIN)"},
		{"no address", up.Addr(), "dangling.example.test", true, false, "no such host (no A or AAAA record)"},
		{"invalid name", up.Addr(), "bad..name", true, false, "invalid name"},
		{"SERVFAIL", broken.Addr(), "api.example.test", false, false, "SERVFAIL"},
		{"timeout", dropping.Addr(), "api.example.test", false, true, "timeout"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := NewResolver([]string{tc.upstream}, 200*time.Millisecond, nil)
			start := time.Now()
			addrs, err := r.LookupAddrs(context.Background(), tc.name)
			if err == nil {
				t.Fatalf("got %v, want an error", addrs)
			}
			t.Logf("error: %v", err)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			var le *LookupError
			if !errors.As(err, &le) || le.Name != tc.name {
				t.Fatalf("error %v (%T) is not a *LookupError for %q", err, err, tc.name)
			}
			if IsNotFound(err) != tc.notFound || le.NotFound() != tc.notFound || le.Timeout() != tc.timeout {
				t.Errorf("%v: IsNotFound %v, Timeout %v; want %v, %v", err, IsNotFound(err), le.Timeout(), tc.notFound, tc.timeout)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "DNS lookup of "+tc.name+": ") || !strings.Contains(msg, tc.errSubstr) {
				t.Errorf("message %q: want the DNS prefix and %q", msg, tc.errSubstr)
			}
		})
	}

	// One family missing is not a failure.
	r := NewResolver([]string{up.Addr()}, time.Second, nil)
	if got, err := r.LookupAddrs(context.Background(), "v4only.example.test"); err != nil || !slices.Equal(got, ips("198.18.0.90")) {
		t.Errorf("v4only: %v, %v", got, err)
	}
}

func TestResolverUnreachableUpstreamThenNext(t *testing.T) {
	closed := func() string {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.LocalAddr().String()
	}()
	r := NewResolver([]string{closed}, time.Second, nil)
	_, err := r.LookupAddrs(context.Background(), "api.example.test")
	if err == nil || IsNotFound(err) {
		t.Errorf("unreachable upstream: err = %v, want a failure that is not not-found", err)
	}

	up := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.95")}, time.Minute)
	r = NewResolver([]string{closed, up.Addr()}, time.Second, nil)
	if got, err := r.LookupAddrs(context.Background(), "api.example.test"); err != nil || !slices.Equal(got, ips("198.18.0.95")) {
		t.Errorf("second upstream: %v, %v", got, err)
	}
}

func TestResolverTruncationFallsBackToTCP(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.100")}, time.Minute)
	up.SetTruncateUDP(true)
	r := NewResolver([]string{up.Addr()}, time.Second, nil)
	got, err := r.LookupAddrs(context.Background(), "api.example.test")
	if err != nil || !slices.Equal(got, ips("198.18.0.100")) {
		t.Fatalf("got %v, %v", got, err)
	}
	if up.TCPQueries() != 2 {
		t.Errorf("TCP queries = %d, want 2 (A and AAAA)", up.TCPQueries())
	}
}

func TestResolverCachesPositiveAnswersForTheirTTL(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.110")}, 30*time.Second)
	zero := upstream(t, map[string][]netip.Addr{"zero.example.test": ips("198.18.0.111")}, 0)
	clock := newFakeClock()
	cache := NewCache(0, clock.Now)
	r := NewResolver([]string{up.Addr()}, time.Second, cache)
	ctx := context.Background()

	for range 3 {
		if _, err := r.LookupAddrs(ctx, "api.example.test"); err != nil {
			t.Fatal(err)
		}
	}
	if up.Queries() != 2 {
		t.Errorf("queries after 3 lookups = %d, want 2 (one A, one AAAA)", up.Queries())
	}
	up.Set("api.example.test", ips("198.18.0.112"))
	clock.Advance(29 * time.Second)
	if got, _ := r.LookupAddrs(ctx, "api.example.test"); !slices.Equal(got, ips("198.18.0.110")) {
		t.Errorf("within TTL: %v", got)
	}
	clock.Advance(time.Second)
	if got, _ := r.LookupAddrs(ctx, "api.example.test"); !slices.Equal(got, ips("198.18.0.112")) {
		t.Errorf("after TTL: %v", got)
	}
	if up.Queries() != 4 {
		t.Errorf("queries = %d, want 4", up.Queries())
	}

	// TTL 0 answers are not reused by the resolver, but the shared cache still gets them for the floor.
	rz := NewResolver([]string{zero.Addr()}, time.Second, cache)
	for range 2 {
		if _, err := rz.LookupAddrs(ctx, "zero.example.test"); err != nil {
			t.Fatal(err)
		}
	}
	if zero.Queries() != 4 {
		t.Errorf("TTL 0: queries = %d, want 4", zero.Queries())
	}
	wantNames(t, cache, "198.18.0.111", "zero.example.test")
}

func TestResolverSharesConcurrentLookups(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.120")}, time.Minute)
	r := NewResolver([]string{up.Addr()}, time.Second, nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got, err := r.LookupAddrs(context.Background(), "api.example.test"); err != nil || !slices.Equal(got, ips("198.18.0.120")) {
				t.Errorf("got %v, %v", got, err)
			}
		})
	}
	wg.Wait()
	if up.Queries() != 2 {
		t.Errorf("queries = %d, want 2", up.Queries())
	}
}

func TestResolverHonoursContext(t *testing.T) {
	up := upstream(t, map[string][]netip.Addr{"api.example.test": ips("198.18.0.130")}, time.Minute)
	up.SetDrop(true)
	r := NewResolver([]string{up.Addr()}, 2*time.Second, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.LookupAddrs(ctx, "api.example.test")
	var le *LookupError
	if !errors.As(err, &le) || !le.Timeout() || IsNotFound(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a timeout LookupError", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v, want about 100ms", d)
	}
}
