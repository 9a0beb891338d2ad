package addrclass

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	c, err := New(Config{
		Deny:   []netip.Prefix{netip.MustParsePrefix("203.0.114.0/24"), netip.MustParsePrefix("2001:db9::/32")},
		Public: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")},
		NAT64:  []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("2001:db8:64::/48"), netip.MustParsePrefix("2a00:1::/32")},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		refused bool
		name    string // a substring of Result.String()
	}{
		// The internet.
		{"8.8.8.8", false, "Unicast"},
		{"2606:4700::1111", false, "Global Unicast"},
		// IPv4 registry, entry by entry.
		{"0.0.0.0", true, "This network"},
		{"0.1.2.3", true, "This network"},
		{"10.1.2.3", true, "Private-Use"},
		{"100.100.100.200", true, "Shared Address Space"},
		{"127.0.0.1", true, "Loopback"},
		{"169.254.169.254", true, "Link Local"},
		{"172.31.255.255", true, "Private-Use"},
		{"172.32.0.1", false, "Unicast"},
		{"192.0.0.192", true, "IETF Protocol Assignments"},
		{"192.0.0.170", true, "IETF Protocol Assignments"},
		{"192.0.0.9", false, "Port Control Protocol Anycast"},
		{"192.0.0.10", false, "Traversal Using Relays"},
		{"192.0.2.1", true, "TEST-NET-1"},
		{"192.31.196.1", false, "AS112-v4"},
		{"192.52.193.1", false, "AMT"},
		{"192.88.99.1", true, "6to4 Relay Anycast"},
		{"192.88.99.2", false, "6a44"},
		{"192.168.1.1", true, "Private-Use"},
		{"192.175.48.1", false, "AS112 Service"},
		{"198.19.0.1", true, "Benchmarking"},
		{"198.51.100.1", true, "TEST-NET-2"},
		{"203.0.113.1", true, "TEST-NET-3"},
		{"224.0.0.1", true, "Multicast"},
		{"240.0.0.1", true, "Reserved"},
		{"255.255.255.255", true, "Limited Broadcast"},
		// IPv6 registry, entry by entry.
		{"::", true, "Unspecified"},
		{"::1", true, "Loopback"},
		{"::a9fe:a9fe", true, "IPv4-compatible"},
		{"::808:808", true, "IPv4-compatible"},
		{"::ffff:169.254.169.254", true, "Link Local"},
		{"::ffff:8.8.8.8", false, "Unicast"},
		{"::ffff:0:a9fe:a9fe", true, "IPv4-translated"},
		{"::ffff:0:808:808", false, "IPv4-translated"},
		{"64:ff9b::a9fe:a9fe", true, "embedding 169.254.169.254"},
		{"64:ff9b::a01:203", true, "embedding 10.1.2.3"},
		{"64:ff9b::808:808", false, "NAT64"},
		{"64:ff9b:1::808:808", true, "local use"},
		{"100::1", true, "Discard-Only"},
		{"100:0:0:1::1", true, "Dummy IPv6 Prefix"},
		{"2001::", true, "TEREDO"},                                               // server 0.0.0.0
		{"2001:0:808:808:8000:0:fefd:fcfb", false, "TEREDO"},                     // server 8.8.8.8, client ^fefdfcfb = 1.2.3.4
		{"2001:0:a9fe:a9fe:8000:0:fefd:fcfb", true, "embedding 169.254.169.254"}, // the server is the metadata address
		{"2001:0:808:808:8000:0:5601:5601", true, "embedding 169.254.169.254"},   // so is the client, inverted
		{"2001:0:808:808:8000:0:f5fe:fefe", true, "embedding 10.1.1.1"},          // a private client
		{"2001:1::1", false, "Port Control Protocol Anycast"},
		{"2001:1::4", true, "IETF Protocol Assignments"},
		{"2001:2::1", true, "Benchmarking"},
		{"2001:3::1", false, "AMT"},
		{"2001:4:112::1", false, "AS112-v6"},
		{"2001:10::1", true, "ORCHID"},
		{"2001:20::1", true, "ORCHIDv2"},
		{"2001:30::1", true, "Drone"},
		{"2001:db8::1", true, "Documentation"},
		{"2002:808:808::1", false, "6to4"},
		{"2002:a9fe:a9fe::1", true, "embedding 169.254.169.254"},
		{"2002:c000:2c0::1", true, "embedding 192.0.2.192"},
		{"2620:4f:8000::1", false, "AS112 Service"},
		{"3fff::1", true, "Documentation"},
		{"5f00::1", true, "Segment Routing"},
		{"fd00:ec2::254", true, "Unique-Local"},
		{"fe80::1", true, "Link-Local"},
		{"fe80::1%eth0", true, "Link-Local"},
		{"fec0::1", true, "Site-Local"},
		{"ff02::1", true, "Multicast"},
		{"4000::1", true, "Reserved by IETF"},
		// The operator's ranges.
		{"203.0.114.7", true, "--deny-cidrs"},
		{"::ffff:203.0.114.7", true, "--deny-cidrs"},
		{"2001:db9::1", true, "--deny-cidrs"},
		{"64:ff9b::cb00:7207", true, "embedding 203.0.114.7 (203.0.114.0/24 --deny-cidrs)"},
		{"198.18.0.2", false, "--public-cidrs"},
		{"198.18.1.2", true, "Benchmarking"},
		{"64:ff9b::c612:2", false, "NAT64"}, // 198.18.0.2, public
		// Network-specific NAT64 prefixes (RFC 6052 layouts), more specific than the ranges around them.
		{"2001:db8:64:a9fe:a9:fe00::", true, "embedding 169.254.169.254"}, // /48: octets 6, 7, then 9, 10
		{"2001:db8:64:808:8:800::", false, "NAT64"},                       // /48: 8.8.8.8
		{"2a00:1:a9fe:a9fe::", true, "embedding 169.254.169.254"},         // /32: octets 4-7
		{"2a00:1:808:808::", false, "NAT64"},
	}
	for _, tt := range tests {
		addr := netip.MustParseAddr(tt.addr)
		res := c.Check(addr)
		if res.Refused != tt.refused || !strings.Contains(res.String(), tt.name) {
			t.Errorf("Check(%s) = refused %v, %q; want refused %v, %q", tt.addr, res.Refused, res.String(), tt.refused, tt.name)
		}
	}
}

// TestConfiguredNAT64WinsOverRegistry: a DNS64 prefix numbered from a range the registry reserves is
// classified by what it embeds.
func TestConfiguredNAT64WinsOverRegistry(t *testing.T) {
	c, err := New(Config{NAT64: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}})
	if err != nil {
		t.Fatal(err)
	}
	for addr, refused := range map[string]bool{"2001:db8:808:808::": false, "2001:db8:a01:203::": true, "64:ff9b::808:808": true} {
		if res := c.Check(netip.MustParseAddr(addr)); res.Refused != refused {
			t.Errorf("Check(%s) = %v, want refused %v", addr, res, refused)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{NAT64: []netip.Prefix{netip.MustParsePrefix("64:ff9b::/80")}}, "length 32, 40, 48, 56, 64 or 96"},
		{Config{NAT64: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "must be an IPv6 prefix"},
		{Config{Public: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}, "overlaps 169.254.0.0/16"},
		{Config{Public: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "overlaps 0.0.0.0/8"},
		{Config{Public: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "overlaps ::1/128"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

// TestRegistryHasNoDuplicates: one verdict per range.
func TestRegistryHasNoDuplicates(t *testing.T) {
	seen := map[netip.Prefix]bool{}
	for _, e := range Registry {
		if seen[e.Prefix] {
			t.Errorf("%s is in Registry twice", e.Prefix)
		}
		if e.Prefix.Masked() != e.Prefix {
			t.Errorf("%s has host bits set", e.Prefix)
		}
		seen[e.Prefix] = true
	}
}
