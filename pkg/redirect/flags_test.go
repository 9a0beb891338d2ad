package redirect

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"egress.io/egress/pkg/netrange"
	"egress.io/egress/pkg/settings"
)

// parseArgs parses args into DefaultConfig as egress-init does, and validates the result.
func parseArgs(args []string) (Config, error) {
	cfg := DefaultConfig()
	if err := settings.Parse(cfg.Flags(), args, settings.NoEnv); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

func TestFlagErrorsNameTheFlag(t *testing.T) {
	tests := []struct{ arg, want string }{
		{"--exclude-outbound-cidrs=10.0.0.0/33", `--exclude-outbound-cidrs: "10.0.0.0/33": invalid prefix`},
		{"--include-outbound-cidrs=10.0.0.1/8", `--include-outbound-cidrs: "10.0.0.1/8": invalid prefix: host bits set`},
		{"--include-outbound-cidrs= ", `--include-outbound-cidrs: empty: use "*"`},
		{"--exclude-outbound-ports=80,0", `--exclude-outbound-ports: "0": port 0 is out of range`},
		{"--capture-port=http", `--capture-port: port "http" is not a number from 1 to 65535`},
		{"--dns-port=70000", `--dns-port: port 70000 is out of range 1-65535`},
		{"--sidecar-uid=-1", `--sidecar-uid: "-1" is not an ID`},
		{"--sidecar-gid=4294967296", `--sidecar-gid: "4294967296" is not an ID`},
		{"--ipv6=yes", `--ipv6: "yes" is not auto, on or off`},
		{"--drop-udp=maybe", `--drop-udp: "maybe" is not a boolean`},
		{"--no-such-flag=1", `unknown flag --no-such-flag`},
	}
	for _, tt := range tests {
		_, err := parseArgs([]string{tt.arg})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error starting with %s", tt.arg, err, tt.want)
		}
	}
}

// TestArgsRoundTrip changes every field from its default, one at a time and all at once, and parses Args
// back; the defaults round-trip too.
func TestArgsRoundTrip(t *testing.T) {
	changes := map[string]func(*Config){
		FlagCapturePort: func(c *Config) { c.CapturePort = 16001 },
		FlagDNSPort:     func(c *Config) { c.DNSPort = 16053 },
		FlagSidecarUID:  func(c *Config) { c.SidecarUID = 1337 },
		FlagSidecarGID:  func(c *Config) { c.SidecarGID = 1338 },
		FlagExcludeOutboundCIDRs: func(c *Config) {
			c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
		},
		FlagExcludeOutboundPorts: func(c *Config) {
			c.ExcludeOutboundPorts = []netrange.PortRange{netrange.Port(25), {First: 8000, Last: 8080}}
		},
		FlagIncludeOutboundCIDRs: func(c *Config) {
			c.IncludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		},
		FlagIPv6:    func(c *Config) { c.IPv6 = IPv6Off },
		FlagDropUDP: func(c *Config) { c.DropUDP = false },
	}
	d := DefaultConfig()
	for _, f := range d.Flags() {
		if changes[f.Name] == nil {
			t.Errorf("--%s: no change in this test; add one", f.Name)
		}
	}
	all := DefaultConfig()
	cases := map[string]Config{"defaults": DefaultConfig()}
	for name, change := range changes {
		c := DefaultConfig()
		change(&c)
		change(&all)
		if reflect.DeepEqual(c, DefaultConfig()) {
			t.Errorf("the change of --%s is no change", name)
		}
		cases[name] = c
	}
	cases["all"] = all
	for name, c := range cases {
		back, err := parseArgs(c.Args())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("%s: Args() = %q parse to\n %+v\nwant\n %+v", name, c.Args(), back, c)
		}
	}
}

// TestArgsOfDefaults pins what the injected egress-init is told at the defaults: every scalar, no list.
func TestArgsOfDefaults(t *testing.T) {
	want := []string{"--capture-port=15001", "--dns-port=15053", "--sidecar-uid=2555", "--sidecar-gid=2555", "--ipv6=auto", "--drop-udp=true"}
	if got := DefaultConfig().Args(); !reflect.DeepEqual(got, want) {
		t.Errorf("Args() = %q, want %q", got, want)
	}
}
