package redirect

import (
	"errors"
	"strings"

	"egress.io/egress/pkg/netrange"
	"egress.io/egress/pkg/settings"
)

// Names of the flags that make up a Config, as egress-init takes them and the webhook writes them.
const (
	FlagCapturePort          = "capture-port"
	FlagDNSPort              = "dns-port"
	FlagSidecarUID           = "sidecar-uid"
	FlagSidecarGID           = "sidecar-gid"
	FlagExcludeOutboundCIDRs = "exclude-outbound-cidrs"
	FlagExcludeOutboundPorts = "exclude-outbound-ports"
	FlagIncludeOutboundCIDRs = "include-outbound-cidrs"
	FlagIPv6                 = "ipv6"
	FlagDropUDP              = "drop-udp"
)

// includeAll is the text form of an empty IncludeOutboundCIDRs: every destination is intercepted.
const includeAll = "*"

// Flags is the table of egress-init's Config flags, bound to c's fields, in the order egress-init
// documents them and Args writes them. Every scalar is Explicit: the injected pod spec states how egress-init
// runs, and its ports and IDs must match the sidecar's.
func (c *Config) Flags() []settings.Flag {
	return []settings.Flag{
		{
			Name: FlagCapturePort, Value: settings.Port(&c.CapturePort), Explicit: true,
			Usage: "Port the sidecar accepts redirected TCP on (127.0.0.1 and ::1).",
		},
		{
			Name: FlagDNSPort, Value: settings.Port(&c.DNSPort), Explicit: true,
			Usage: "Port the sidecar's DNS proxy accepts redirected DNS on, UDP and TCP (127.0.0.1 and ::1). " +
				"Must differ from `--capture-port`.",
		},
		{
			Name: FlagSidecarUID, Value: settings.ID(&c.SidecarUID), Explicit: true,
			Usage: "UID of the sidecar; its traffic leaves the pod untouched. 0 is refused (every root process would bypass).",
		},
		{
			Name: FlagSidecarGID, Value: settings.ID(&c.SidecarGID), Explicit: true,
			Usage: "GID of the sidecar; traffic of processes with this primary GID leaves untouched too. 0 is refused.",
		},
		{
			Name: FlagExcludeOutboundCIDRs, Value: settings.Prefixes(&c.ExcludeOutboundCIDRs), DefaultText: "none",
			Usage: "Comma-separated IPv4/IPv6 prefixes every process reaches directly, e.g. the cluster's pod and " +
				"service CIDRs. A bare address means /32 or /128.",
		},
		{
			Name: FlagExcludeOutboundPorts, Value: settings.PortRanges(&c.ExcludeOutboundPorts), DefaultText: "none",
			Usage: "Comma-separated destination ports and inclusive ranges (`25,8000-8080`) every process reaches " +
				"directly, TCP and UDP. Checked before DNS, so excluding 53 lets DNS bypass the DNS proxy.",
		},
		{
			Name: FlagIncludeOutboundCIDRs, Value: settings.Func("CIDRS", func() string {
				if len(c.IncludeOutboundCIDRs) == 0 {
					return includeAll
				}
				return netrange.FormatPrefixes(c.IncludeOutboundCIDRs)
			}, func(s string) (err error) {
				switch strings.TrimSpace(s) {
				case includeAll:
					c.IncludeOutboundCIDRs = nil
					return nil
				case "":
					return errors.New(`empty: use "*" to intercept every destination`)
				}
				c.IncludeOutboundCIDRs, err = netrange.ParsePrefixes(s)
				return err
			}),
			Usage: "Destinations to intercept; `*` is every destination. Destinations outside the list are left " +
				"alone. An address family with no entry in the list is intercepted entirely, so a list of IPv4 " +
				"prefixes never opens IPv6. DNS is redirected whatever the destination.",
		},
		{
			Name: FlagIPv6, Value: settings.OneOf(&c.IPv6, IPv6Auto, IPv6On, IPv6Off), Explicit: true,
			Usage: "`auto`: intercept IPv6 like IPv4 when the pod has a routable (non-loopback, non-link-local) " +
				"IPv6 address on a non-loopback interface (seen with netlink), otherwise refuse IPv6 egress. `on`: " +
				"always intercept IPv6. `off`: refuse IPv6 egress of every process but the sidecar (loopback still " +
				"works). On a kernel without IPv6 (`ipv6.disable=1`) `auto` and `off` install no ip6tables rules; " +
				"`on` fails.",
		},
		{
			Name: FlagDropUDP, Value: settings.Bool(&c.DropUDP), Explicit: true,
			Usage: "Refuse UDP other than DNS (QUIC included) from every process but the sidecar. " +
				"`--drop-udp=false` lets it out directly.",
		},
	}
}

// Args returns c as egress-init arguments ("--capture-port=15001", ...): every flag but the lists that
// are at their default (empty, or `*` for --include-outbound-cidrs), in the order of Flags. Parsing them
// into DefaultConfig gives back c.
func (c Config) Args() []string {
	defaults := DefaultConfig()
	return settings.Args(c.Flags(), defaults.Flags())
}
