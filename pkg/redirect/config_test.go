package redirect

import (
	"net/netip"
	"strings"
	"testing"

	"egress.io/egress/pkg/netrange"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"capture port 0", func(c *Config) { c.CapturePort = 0 }, "--capture-port: 0: must be from 1 to 65535"},
		{"dns port 0", func(c *Config) { c.DNSPort = 0 }, "--dns-port: 0: must be from 1 to 65535"},
		{"dns port is capture port", func(c *Config) { c.DNSPort = c.CapturePort }, "--dns-port: 15001 is also --capture-port"},
		{"root uid", func(c *Config) { c.SidecarUID = 0 }, "--sidecar-uid: 0 (root)"},
		{"root gid", func(c *Config) { c.SidecarGID = 0 }, "--sidecar-gid: 0 (root)"},
		{
			"excluded host bits",
			func(c *Config) {
				c.ExcludeOutboundCIDRs = []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("10.0.0.1"), 8)}
			},
			`--exclude-outbound-cidrs: "10.0.0.1/8": invalid prefix: host bits set (did you mean 10.0.0.0/8?)`,
		},
		{
			"excluded zero prefix",
			func(c *Config) { c.ExcludeOutboundCIDRs = []netip.Prefix{{}} },
			`--exclude-outbound-cidrs: "invalid Prefix": invalid prefix`,
		},
		{
			"included mapped",
			func(c *Config) {
				c.IncludeOutboundCIDRs = []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("::ffff:10.0.0.0"), 104)}
			},
			`--include-outbound-cidrs: "::ffff:10.0.0.0/104": invalid prefix: IPv4-mapped`,
		},
		{"port 0", func(c *Config) { c.ExcludeOutboundPorts = []netrange.PortRange{{First: 0, Last: 80}} }, `--exclude-outbound-ports: "0-80": port 0 is out of range`},
		{"reversed range", func(c *Config) { c.ExcludeOutboundPorts = []netrange.PortRange{{First: 90, Last: 80}} }, `--exclude-outbound-ports: "90-80": port range 90-80 runs backwards`},
		{"ipv6 mode", func(c *Config) { c.IPv6 = "sometimes" }, `--ipv6: "sometimes" is not auto, on or off`},
		{"zero value", func(c *Config) { *c = Config{} }, "--capture-port: 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %s", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("the zero Config validated")
	}
	for _, flag := range []string{FlagCapturePort, FlagDNSPort, FlagSidecarUID, FlagSidecarGID, FlagIPv6} {
		if !strings.Contains(err.Error(), "--"+flag+": ") {
			t.Errorf("Validate() of the zero Config does not name --%s:\n%v", flag, err)
		}
	}
}
