package addrclass

import "net/netip"

// Embedding says how an entry's addresses carry an IPv4 address, which is classified in their place.
type Embedding uint8

const (
	// EmbedsNothing: the entry's verdict is final.
	EmbedsNothing Embedding = iota
	// EmbedsLast32: the IPv4 address is the last 32 bits (IPv4-mapped, IPv4-translated, NAT64 /96).
	EmbedsLast32
	// Embeds6to4: the IPv4 address is bits 16-47 (2002::/16, RFC 3056).
	Embeds6to4
	// EmbedsTeredo: the Teredo server is bits 32-63 and the client's public address the last 32 bits,
	// inverted (2001::/32, RFC 4380); both are classified.
	EmbedsTeredo
	// EmbedsNAT64: RFC 6052 layout for the prefix length (/32, /40, /48, /56, /64 or /96), skipping bits
	// 64-71.
	EmbedsNAT64
)

// Entry is one row of the classification table: a range, what the registry calls it, and what the guard
// does with addresses in it.
type Entry struct {
	Prefix netip.Prefix
	// Name is the registry's name for the range and the RFC that reserves it.
	Name string
	// Refused is the verdict for addresses in Prefix when it embeds nothing.
	Refused bool
	// Embeds, when not EmbedsNothing, hands the verdict to the embedded IPv4 address(es).
	Embeds Embedding
	// Why is the reason for the verdict, as docs/sidecar.md shows it.
	Why string
}

// Registry is the classification table: every entry of the IANA IPv4 and IPv6 Special-Purpose Address
// Registries (2025 editions), the multicast and reserved blocks of the address-space registries, and the
// obsolete forms that embed an IPv4 address in IPv6. The most specific entry containing an address
// decides. The rule: what a registry marks as not globally reachable (or not applicable, or deprecated) is
// refused, because a name that resolves there reaches the pod, the node, the cluster, the provider's
// network or nothing at all, never the internet; what it marks globally reachable is not refused, except
// ORCHIDv2 and DETs, which are identifiers no host is reached at. Forms that embed an IPv4 address are as
// safe as that address.
var Registry = []Entry{
	// IPv4.
	{p("0.0.0.0/0"), "Unicast (everything not below)", false, 0, "the IPv4 internet"},
	{p("0.0.0.0/8"), `"This network" (RFC 791)`, true, 0, "not a destination: Linux connects 0.0.0.0 to the local host"},
	{p("10.0.0.0/8"), "Private-Use (RFC 1918)", true, 0, "private networks: the cluster, the VPC, the office"},
	{p("100.64.0.0/10"), "Shared Address Space (RFC 6598)", true, 0, "carrier-grade NAT and provider-internal services (Alibaba's metadata is 100.100.100.200); EKS numbers pods here"},
	{p("127.0.0.0/8"), "Loopback (RFC 1122)", true, 0, "the pod itself"},
	{p("169.254.0.0/16"), "Link Local (RFC 3927)", true, 0, "the node's link: the cloud metadata service at 169.254.169.254"},
	{p("172.16.0.0/12"), "Private-Use (RFC 1918)", true, 0, "private networks"},
	{p("192.0.0.0/24"), "IETF Protocol Assignments (RFC 6890)", true, 0, "protocol-internal addresses (DS-Lite, NAT64 discovery, dummy); Oracle Cloud's metadata is 192.0.0.192"},
	{p("192.0.0.9/32"), "Port Control Protocol Anycast (RFC 7723)", false, 0, "globally reachable anycast service"},
	{p("192.0.0.10/32"), "Traversal Using Relays around NAT Anycast (RFC 8155)", false, 0, "globally reachable anycast service"},
	{p("192.0.2.0/24"), "Documentation (TEST-NET-1, RFC 5737)", true, 0, "never routed on the internet: whatever answers there is local"},
	{p("192.31.196.0/24"), "AS112-v4 (RFC 7535)", false, 0, "globally reachable anycast DNS"},
	{p("192.52.193.0/24"), "AMT (RFC 7450)", false, 0, "globally reachable multicast relays"},
	{p("192.88.99.0/24"), "Deprecated (6to4 Relay Anycast, RFC 7526)", true, 0, "deprecated: nothing to reach there"},
	{p("192.88.99.2/32"), "6a44-relay anycast address (RFC 6751)", false, 0, "globally reachable anycast relay"},
	{p("192.168.0.0/16"), "Private-Use (RFC 1918)", true, 0, "private networks: home and office routers"},
	{p("192.175.48.0/24"), "Direct Delegation AS112 Service (RFC 7534)", false, 0, "globally reachable anycast DNS"},
	{p("198.18.0.0/15"), "Benchmarking (RFC 2544)", true, 0, "lab networks; EKS custom networking numbers nodes and pods from 198.19.0.0/16"},
	{p("198.51.100.0/24"), "Documentation (TEST-NET-2, RFC 5737)", true, 0, "never routed on the internet"},
	{p("203.0.113.0/24"), "Documentation (TEST-NET-3, RFC 5737)", true, 0, "never routed on the internet"},
	{p("224.0.0.0/4"), "Multicast (RFC 5771)", true, 0, "not a TCP destination"},
	{p("240.0.0.0/4"), "Reserved (RFC 1112)", true, 0, "unroutable; holds the egress.local sentinel 240.0.0.1"},
	{p("255.255.255.255/32"), "Limited Broadcast (RFC 919)", true, 0, "the local link"},

	// IPv6.
	{p("::/0"), "Reserved by IETF (outside 2000::/3, RFC 4291)", true, 0, "not allocated for unicast: nothing on the internet answers there"},
	{p("2000::/3"), "Global Unicast (RFC 4291)", false, 0, "the IPv6 internet"},
	{p("::/128"), "Unspecified Address (RFC 4291)", true, 0, "not a destination: Linux connects :: to the local host"},
	{p("::1/128"), "Loopback Address (RFC 4291)", true, 0, "the pod itself"},
	{p("::/96"), "IPv4-compatible (deprecated, RFC 4291)", true, 0, "deprecated tunnelling form: refused whatever it embeds"},
	{p("::ffff:0:0/96"), "IPv4-mapped Address (RFC 4291)", false, EmbedsLast32, "the IPv4 address it maps: as safe as that address"},
	{p("::ffff:0:0:0/96"), "IPv4-translated (SIIT, RFC 2765)", false, EmbedsLast32, "translated to the IPv4 address it embeds: as safe as that address"},
	{p("64:ff9b::/96"), "IPv4-IPv6 Translat. (NAT64 well-known prefix, RFC 6052)", false, EmbedsNAT64, "DNS64 clusters reach the IPv4 internet through it: as safe as the IPv4 address it embeds (64:ff9b::a9fe:a9fe is 169.254.169.254)"},
	{p("64:ff9b:1::/48"), "IPv4-IPv6 Translat. (local use, RFC 8215)", true, 0, "a network's own translators, to its own IPv4 ranges"},
	{p("100::/64"), "Discard-Only Address Block (RFC 6666)", true, 0, "discarded; holds the egress.local sentinel 100::1"},
	{p("100:0:0:1::/64"), "Dummy IPv6 Prefix (RFC 9780)", true, 0, "never a destination"},
	{p("2001::/23"), "IETF Protocol Assignments (RFC 2928)", true, 0, "protocol-internal addresses"},
	{p("2001::/32"), "TEREDO (RFC 4380)", false, EmbedsTeredo, "tunnelled through the IPv4 server and client it embeds: as safe as both"},
	{p("2001:1::1/128"), "Port Control Protocol Anycast (RFC 7723)", false, 0, "globally reachable anycast service"},
	{p("2001:1::2/128"), "Traversal Using Relays around NAT Anycast (RFC 8155)", false, 0, "globally reachable anycast service"},
	{p("2001:1::3/128"), "DNS-SD Service Registration Protocol Anycast (RFC 9665)", false, 0, "globally reachable anycast service"},
	{p("2001:2::/48"), "Benchmarking (RFC 5180)", true, 0, "lab networks"},
	{p("2001:3::/32"), "AMT (RFC 7450)", false, 0, "globally reachable multicast relays"},
	{p("2001:4:112::/48"), "AS112-v6 (RFC 7535)", false, 0, "globally reachable anycast DNS"},
	{p("2001:10::/28"), "Deprecated (previously ORCHID, RFC 4843)", true, 0, "deprecated identifiers, not locators"},
	{p("2001:20::/28"), "ORCHIDv2 (RFC 7343)", true, 0, "identifiers, not locators: no TCP destination (the registry's globally-reachable mark is for identifiers)"},
	{p("2001:30::/28"), "Drone Remote ID Protocol Entity Tags (RFC 9374)", true, 0, "identifiers, not locators: no TCP destination"},
	{p("2001:db8::/32"), "Documentation (RFC 3849)", true, 0, "never routed on the internet"},
	{p("2002::/16"), "6to4 (RFC 3056)", false, Embeds6to4, "tunnelled to the IPv4 router it embeds: as safe as that address"},
	{p("2620:4f:8000::/48"), "Direct Delegation AS112 Service (RFC 7534)", false, 0, "globally reachable anycast DNS"},
	{p("3fff::/20"), "Documentation (RFC 9637)", true, 0, "never routed on the internet"},
	{p("5f00::/16"), "Segment Routing (SRv6) SIDs (RFC 9602)", true, 0, "a provider's segment routing domain"},
	{p("fc00::/7"), "Unique-Local (RFC 4193)", true, 0, "private networks; AWS's IPv6 metadata is fd00:ec2::254"},
	{p("fe80::/10"), "Link-Local Unicast (RFC 4291)", true, 0, "the node's link"},
	{p("fec0::/10"), "Site-Local (deprecated, RFC 3879)", true, 0, "private networks of old"},
	{p("ff00::/8"), "Multicast (RFC 4291)", true, 0, "not a TCP destination"},
}

// DefaultNAT64Prefixes are the NAT64 prefixes whose addresses are classified by the IPv4 address they
// embed: the well-known prefix. A cluster whose DNS64 synthesises another (network-specific) prefix names
// it in --nat64-prefixes, or it is refused as reserved or classified as global unicast without looking
// inside.
var DefaultNAT64Prefixes = []netip.Prefix{p("64:ff9b::/96")}

func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }
