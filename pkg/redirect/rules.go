package redirect

import (
	"fmt"
	"net/netip"
	"strconv"

	"egress.io/egress/pkg/netrange"
)

// Names of the tables and chains egress-init owns.
const (
	TableNAT    = "nat"
	TableFilter = "filter"
	// ChainOutput holds the interception rules in nat and the fail-closed rules in filter.
	ChainOutput = "EGRESS_OUTPUT"
	// ChainReject (filter) refuses what ChainOutput neither let through nor saw redirected.
	ChainReject = "EGRESS_REJECT"
	// builtinOutput is where locally generated packets enter, and where the jumps to own chains go.
	builtinOutput = "OUTPUT"
)

// ownedTables and ownedChains are everything Apply may create and Cleanup removes.
var (
	ownedTables = []string{TableNAT, TableFilter}
	ownedChains = []string{ChainOutput, ChainReject}
)

// redirectTarget is where REDIRECT sends locally generated packets: the loopback address of the family.
var redirectTarget = map[Family]string{IPv4: "127.0.0.1/32", IPv6: "::1/128"}

// commentPrefix starts every rule's comment, so `iptables-save | grep egress:` shows all of them.
const commentPrefix = "egress: "

// icmpv6Untracked are the ICMPv6 messages the kernel sends on its own, without a socket or a conntrack
// entry: without them IPv6 neighbours never resolve, so not even the sidecar could reach anything.
var icmpv6Untracked = []struct {
	icmpType int
	name     string
}{
	{133, "router solicitation"},
	{135, "neighbour solicitation"},
	{136, "neighbour advertisement"},
	{131, "multicast listener report"},
	{132, "multicast listener done"},
	{143, "multicast listener report v2"},
}

// Plan returns the rules that enforce c in a pod whose addresses are described by families. It is pure:
// the same inputs always give the same Plan. c must be valid (see Validate).
func (c Config) Plan(families Families) Plan {
	ipv6 := Ruleset{Family: IPv6}
	switch {
	case c.IPv6 == IPv6On:
		ipv6.Mode, ipv6.Reason = Intercept, "--ipv6=on"
	case families.IPv6Unsupported:
		ipv6.Mode, ipv6.Reason = Unmanaged, "the kernel has no IPv6 stack"
	case c.IPv6 == IPv6Off:
		ipv6.Mode, ipv6.Reason = Block, "--ipv6=off"
	case families.IPv6:
		ipv6.Mode, ipv6.Reason = Intercept, "--ipv6=auto and the pod has a routable IPv6 address"
	default:
		ipv6.Mode, ipv6.Reason = Block, "--ipv6=auto and the pod has no routable IPv6 address"
	}
	switch ipv6.Mode {
	case Intercept:
		ipv6.Tables = c.interceptTables(IPv6)
	case Block:
		ipv6.Tables = c.blockTables(IPv6)
	}
	ipv4 := Ruleset{Family: IPv4, Mode: Intercept, Reason: "IPv4 is always intercepted", Tables: c.interceptTables(IPv4)}
	return Plan{Rulesets: []Ruleset{ipv4, ipv6}}
}

// interceptTables redirects TCP and DNS to the sidecar in nat, and refuses in filter whatever would
// still leave the pod without having been redirected.
func (c Config) interceptTables(family Family) []Table {
	excluded := prefixesOf(family, c.ExcludeOutboundCIDRs)
	included := prefixesOf(family, c.IncludeOutboundCIDRs)

	// nat: decides, once per connection, where it goes.
	nat := &chainBuilder{name: ChainOutput}
	nat.addLocal()
	nat.addSidecar(c)
	for _, r := range c.ExcludeOutboundPorts {
		nat.excludePort(r)
	}
	// DNS comes before the CIDR exclusions: the cluster resolver usually sits in the excluded service CIDR.
	for _, proto := range []string{"udp", "tcp"} {
		nat.add("dns over "+proto+" to the sidecar dns port",
			[]string{"-p", proto, "-m", proto, "--dport", "53"},
			"REDIRECT", "--to-ports", strconv.Itoa(int(c.DNSPort)))
	}
	for _, p := range excluded {
		nat.add("excluded by --"+FlagExcludeOutboundCIDRs, []string{"-d", p.String()}, "RETURN")
	}
	redirectTCP := []string{"REDIRECT", "--to-ports", strconv.Itoa(int(c.CapturePort))}
	if len(included) == 0 {
		nat.add("tcp to the sidecar capture port", []string{"-p", "tcp"}, redirectTCP...)
	}
	for _, p := range included {
		nat.add("tcp within --"+FlagIncludeOutboundCIDRs+" to the sidecar capture port",
			[]string{"-d", p.String(), "-p", "tcp"}, redirectTCP...)
	}

	// filter: sees every packet, after nat.
	filter := &chainBuilder{name: ChainOutput}
	filter.addLocal()
	// The hook's output device was fixed before nat rerouted, so a redirected packet still shows the
	// pod's interface to -o here; what marks it is its new destination, which only loopback can deliver.
	filter.add("traffic nat redirected to the sidecar", []string{"-d", redirectTarget[family]}, "RETURN")
	filter.addSidecar(c)
	filter.addConntrackRules()
	if family == IPv6 {
		filter.addICMPv6Untracked()
	}
	for _, r := range c.ExcludeOutboundPorts {
		filter.excludePort(r)
	}
	for _, p := range excluded {
		filter.add("excluded by --"+FlagExcludeOutboundCIDRs, []string{"-d", p.String()}, "RETURN")
	}
	if len(included) == 0 {
		filter.add("refuse what was not redirected", nil, ChainReject)
	}
	for _, p := range included {
		filter.add("refuse what was not redirected within --"+FlagIncludeOutboundCIDRs,
			[]string{"-d", p.String()}, ChainReject)
	}

	reject := &chainBuilder{name: ChainReject}
	if !c.DropUDP {
		reject.add("udp leaves directly (--"+FlagDropUDP+"=false)", []string{"-p", "udp"}, "RETURN")
	}
	reject.addRefusals(family, "refuse udp (quic included) and other protocols")

	return []Table{
		{Name: TableNAT, Chains: []Chain{nat.chain()}, Jumps: []Jump{jumpTo("send outbound traffic through egress interception")}},
		{Name: TableFilter, Chains: []Chain{filter.chain(), reject.chain()}, Jumps: []Jump{jumpTo("refuse outbound traffic that escaped egress interception")}},
	}
}

// blockTables refuses all egress of the family but loopback and the sidecar's own.
func (c Config) blockTables(family Family) []Table {
	filter := &chainBuilder{name: ChainOutput}
	filter.addLocal()
	filter.addSidecar(c)
	filter.addConntrackRules()
	if family == IPv6 {
		filter.addICMPv6Untracked()
	}
	filter.add("refuse "+family.String()+" egress, which is not intercepted", nil, ChainReject)

	reject := &chainBuilder{name: ChainReject}
	reject.addRefusals(family, "refuse udp and other protocols")
	return []Table{
		{Name: TableFilter, Chains: []Chain{filter.chain(), reject.chain()}, Jumps: []Jump{jumpTo("refuse outbound traffic that escaped egress interception")}},
	}
}

// chainBuilder accumulates rules in canonical order, each with its comment.
type chainBuilder struct {
	name  string
	rules []Rule
}

// add appends a rule: matches (without the comment), the comment, then -j and the target's arguments.
func (b *chainBuilder) add(comment string, matches []string, target ...string) {
	rule := make(Rule, 0, len(matches)+6+len(target))
	rule = append(rule, matches...)
	rule = append(rule, "-m", "comment", "--comment", commentPrefix+comment, "-j")
	b.rules = append(b.rules, append(rule, target...))
}

// addLocal exempts loopback: -o lo covers 127.0.0.0/8, ::1 and the pod's own addresses, which are
// local, so not egress.
func (b *chainBuilder) addLocal() {
	b.add("loopback and pod-local traffic is not egress", []string{"-o", "lo"}, "RETURN")
}

// addSidecar exempts the sidecar's own traffic, matched by UID and by GID.
func (b *chainBuilder) addSidecar(c Config) {
	b.add("sidecar uid leaves directly",
		[]string{"-m", "owner", "--uid-owner", strconv.FormatUint(uint64(c.SidecarUID), 10)}, "RETURN")
	b.add("sidecar gid leaves directly",
		[]string{"-m", "owner", "--gid-owner", strconv.FormatUint(uint64(c.SidecarGID), 10)}, "RETURN")
}

func (b *chainBuilder) excludePort(r netrange.PortRange) {
	for _, proto := range []string{"tcp", "udp"} {
		b.add("excluded by --"+FlagExcludeOutboundPorts,
			[]string{"-p", proto, "-m", proto, "--dport", iptablesPorts(r)}, "RETURN")
	}
}

// addConntrackRules drops INVALID packets and lets replies and related packets (ICMP errors) of
// accepted connections through, inbound connections to the app included. nat never rewrites an INVALID
// packet (say, a stray retransmission of a redirected connection), so it still carries the original
// destination; it is dropped, not rejected, because a RST would reset the app's redirected connection.
func (b *chainBuilder) addConntrackRules() {
	b.add("drop invalid packets, which nat never redirects", []string{"-m", "conntrack", "--ctstate", "INVALID"}, "DROP")
	b.add("replies and related packets of accepted connections",
		[]string{"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"}, "RETURN")
}

func (b *chainBuilder) addICMPv6Untracked() {
	for _, m := range icmpv6Untracked {
		b.add("icmpv6 "+m.name,
			[]string{"-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", strconv.Itoa(m.icmpType)}, "RETURN")
	}
}

// addRefusals rejects rather than drops, so apps fail fast (RST, port unreachable) instead of hanging.
func (b *chainBuilder) addRefusals(family Family, otherComment string) {
	unreachable := "icmp-port-unreachable"
	if family == IPv6 {
		unreachable = "icmp6-port-unreachable"
	}
	b.add("refuse tcp", []string{"-p", "tcp"}, "REJECT", "--reject-with", "tcp-reset")
	b.add(otherComment, nil, "REJECT", "--reject-with", unreachable)
}

func (b *chainBuilder) chain() Chain { return Chain{Name: b.name, Rules: b.rules} }

func jumpTo(comment string) Jump {
	return Jump{Chain: builtinOutput, Rule: Rule{"-m", "comment", "--comment", commentPrefix + comment, "-j", ChainOutput}}
}

// prefixesOf returns the prefixes of one family, in their given order.
func prefixesOf(family Family, prefixes []netip.Prefix) []netip.Prefix {
	var of []netip.Prefix
	for _, p := range prefixes {
		if p.Addr().Is6() == (family == IPv6) {
			of = append(of, p)
		}
	}
	return of
}

// iptablesPorts returns the range as iptables' --dport spells it: "443" or "8000:8080".
func iptablesPorts(r netrange.PortRange) string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d:%d", r.First, r.Last)
}
