package redirect

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
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

// FlagSpec describes one Config flag for a command line and its documentation.
type FlagSpec struct {
	Name    string // without dashes, e.g. "capture-port"
	Env     string // the environment variable that stands in for it, e.g. "EGRESS_CAPTURE_PORT"
	Default string // the text form of DefaultConfig's value
	Usage   string
	Bool    bool // may be given without a value, as --drop-udp
}

type configFlag struct {
	name, usage string
	isBool      bool
	get         func(*Config) string
	set         func(*Config, string) error
}

// configFlags is the single table behind ConfigFlags, Config.Set and Config.Args.
var configFlags = []configFlag{
	{
		name:  FlagCapturePort,
		usage: "port the sidecar accepts redirected TCP on (127.0.0.1 and ::1)",
		get:   func(c *Config) string { return strconv.Itoa(int(c.CapturePort)) },
		set:   func(c *Config, s string) (err error) { c.CapturePort, err = parseQuotedPort(s); return err },
	},
	{
		name:  FlagDNSPort,
		usage: "port the sidecar's DNS proxy accepts redirected DNS on, UDP and TCP (127.0.0.1 and ::1)",
		get:   func(c *Config) string { return strconv.Itoa(int(c.DNSPort)) },
		set:   func(c *Config, s string) (err error) { c.DNSPort, err = parseQuotedPort(s); return err },
	},
	{
		name:  FlagSidecarUID,
		usage: "UID of the sidecar, whose traffic leaves the pod untouched",
		get:   func(c *Config) string { return strconv.FormatUint(uint64(c.SidecarUID), 10) },
		set:   func(c *Config, s string) (err error) { c.SidecarUID, err = parseID(s); return err },
	},
	{
		name:  FlagSidecarGID,
		usage: "GID of the sidecar, whose traffic leaves the pod untouched",
		get:   func(c *Config) string { return strconv.FormatUint(uint64(c.SidecarGID), 10) },
		set:   func(c *Config, s string) (err error) { c.SidecarGID, err = parseID(s); return err },
	},
	{
		name:  FlagExcludeOutboundCIDRs,
		usage: "comma-separated IPv4/IPv6 prefixes every process reaches directly (e.g. pod and service CIDRs)",
		get:   func(c *Config) string { return joinPrefixes(c.ExcludeOutboundCIDRs) },
		set:   func(c *Config, s string) (err error) { c.ExcludeOutboundCIDRs, err = ParseCIDRList(s); return err },
	},
	{
		name:  FlagExcludeOutboundPorts,
		usage: "comma-separated destination ports and ranges (e.g. 25,8000-8080) every process reaches directly, TCP and UDP",
		get:   func(c *Config) string { return joinPorts(c.ExcludeOutboundPorts) },
		set:   func(c *Config, s string) (err error) { c.ExcludeOutboundPorts, err = ParsePortList(s); return err },
	},
	{
		name:  FlagIncludeOutboundCIDRs,
		usage: "comma-separated prefixes to intercept, or * for every destination; a family without an entry is intercepted entirely",
		get: func(c *Config) string {
			if len(c.IncludeOutboundCIDRs) == 0 {
				return includeAll
			}
			return joinPrefixes(c.IncludeOutboundCIDRs)
		},
		set: func(c *Config, s string) (err error) {
			switch strings.TrimSpace(s) {
			case includeAll:
				c.IncludeOutboundCIDRs = nil
				return nil
			case "":
				return errors.New(`empty: use "*" to intercept every destination`)
			}
			c.IncludeOutboundCIDRs, err = ParseCIDRList(s)
			return err
		},
	},
	{
		name:  FlagIPv6,
		usage: "IPv6 interception: auto (when the pod has a routable IPv6 address), on, or off (refuse IPv6 egress)",
		get:   func(c *Config) string { return string(c.IPv6) },
		set: func(c *Config, s string) error {
			m := IPv6Mode(strings.TrimSpace(s))
			if err := m.check(); err != nil {
				return err
			}
			c.IPv6 = m
			return nil
		},
	},
	{
		name:   FlagDropUDP,
		usage:  "refuse UDP other than DNS (QUIC included) from every process but the sidecar's",
		isBool: true,
		get:    func(c *Config) string { return strconv.FormatBool(c.DropUDP) },
		set: func(c *Config, s string) (err error) {
			if c.DropUDP, err = strconv.ParseBool(strings.TrimSpace(s)); err != nil {
				return fmt.Errorf("%q is not a boolean", s)
			}
			return nil
		},
	},
}

// ConfigFlags lists the flags that make up a Config, in the order egress-init documents them.
func ConfigFlags() []FlagSpec {
	defaults := DefaultConfig()
	specs := make([]FlagSpec, 0, len(configFlags))
	for _, f := range configFlags {
		specs = append(specs, FlagSpec{
			Name:    f.name,
			Env:     EnvVar(f.name),
			Default: f.get(&defaults),
			Usage:   f.usage,
			Bool:    f.isBool,
		})
	}
	return specs
}

// EnvVar returns the environment variable that stands in for a flag: EGRESS_ and the flag's name in
// upper snake case, e.g. EGRESS_CAPTURE_PORT for --capture-port.
func EnvVar(flag string) string {
	return "EGRESS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Set sets the field of c that flag names from its command-line text. The error names the flag, e.g.
// `--exclude-outbound-cidrs: "10.0.0.0/33": invalid prefix: length 33 exceeds 32`.
func (c *Config) Set(flag, value string) error {
	for _, f := range configFlags {
		if f.name == flag {
			if err := f.set(c, value); err != nil {
				return fmt.Errorf("--%s: %w", flag, err)
			}
			return nil
		}
	}
	return fmt.Errorf("--%s: no such flag", flag)
}

// Args returns c as egress-init command-line arguments ("--capture-port=15001", ...), every flag
// included, in the order of ConfigFlags. Parsing them back with Set yields c.
func (c Config) Args() []string {
	args := make([]string, 0, len(configFlags))
	for _, f := range configFlags {
		args = append(args, "--"+f.name+"="+f.get(&c))
	}
	return args
}

// parseQuotedPort is parsePort with the offending text in its error, as the list parsers quote entries.
func parseQuotedPort(s string) (uint16, error) {
	port, err := parsePort(s)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return port, nil
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if numErr := (*strconv.NumError)(nil); errors.As(err, &numErr) {
		return 0, fmt.Errorf("%q: invalid id: %w", s, numErr.Err)
	}
	return uint32(n), nil
}

func joinPrefixes(prefixes []netip.Prefix) string {
	texts := make([]string, len(prefixes))
	for i, p := range prefixes {
		texts[i] = p.String()
	}
	return strings.Join(texts, ",")
}

func joinPorts(ranges []PortRange) string {
	texts := make([]string, len(ranges))
	for i, r := range ranges {
		texts[i] = r.String()
	}
	return strings.Join(texts, ",")
}
