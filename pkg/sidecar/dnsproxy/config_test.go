package dnsproxy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if !slices.Equal(c.ListenAddrs, []string{"127.0.0.1:15053", "[::1]:15053"}) {
		t.Errorf("ListenAddrs = %q", c.ListenAddrs)
	}
	if c.ResolvConf != "/etc/resolv.conf" || c.LocalSuffix != "egress.local" || c.Timeout != 2*time.Second ||
		c.LocalTTL != 5*time.Second || c.MinTTL != 5*time.Second || c.MaxTTL != time.Hour {
		t.Errorf("defaults: %+v", c)
	}
	if c.SentinelV4 != netip.MustParseAddr("240.0.0.1") || c.SentinelV6 != netip.MustParseAddr("100::1") {
		t.Errorf("sentinels: %v %v", c.SentinelV4, c.SentinelV6)
	}
	c.Upstreams = []string{"10.96.0.10:53"}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	valid := Config{Upstreams: []string{"10.96.0.10:53"}}.WithDefaults()
	for _, tc := range []struct {
		field  string
		mutate func(*Config)
	}{
		{"Config.ListenAddrs", func(c *Config) { c.ListenAddrs = nil }},
		{"Config.ListenAddrs[0]", func(c *Config) { c.ListenAddrs = []string{"localhost:53"} }},
		{"Config.ListenAddrs[1]", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:1", "127.0.0.1"} }},
		{"Config.Upstreams", func(c *Config) { c.Upstreams = nil }},
		{"Config.Upstreams[0]", func(c *Config) { c.Upstreams = []string{"dns.google:53"} }},
		{"Config.Upstreams[0]", func(c *Config) { c.Upstreams = []string{"10.0.0.1:0"} }},
		{"Config.Upstreams[0]", func(c *Config) { c.Upstreams = []string{"10.0.0.1:70000"} }},
		{"Config.Upstreams[0]", func(c *Config) { c.Upstreams = []string{"127.0.0.1:15053"} }},
		{"Config.LocalSuffix", func(c *Config) { c.LocalSuffix = "." }},
		{"Config.LocalSuffix", func(c *Config) { c.LocalSuffix = "bad..suffix" }},
		{"Config.SentinelV4", func(c *Config) { c.SentinelV4 = netip.MustParseAddr("100::1") }},
		{"Config.SentinelV6", func(c *Config) { c.SentinelV6 = netip.MustParseAddr("240.0.0.1") }},
		{"Config.SentinelV6", func(c *Config) { c.SentinelV6 = netip.MustParseAddr("::ffff:240.0.0.1") }},
		{"Config.LocalTTL", func(c *Config) { c.LocalTTL = time.Millisecond }},
		{"Config.Timeout", func(c *Config) { c.Timeout = -time.Second }},
		{"Config.MinTTL", func(c *Config) { c.MinTTL = -time.Second }},
		{"Config.MaxTTL", func(c *Config) { c.MaxTTL = time.Second }},
	} {
		c := valid
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Validate() = %v, want an error naming it", tc.field, err)
		}
	}
}

func TestNewReadsResolvConf(t *testing.T) {
	path := writeFile(t, "nameserver 10.96.0.10\nnameserver 10.96.0.11\n")
	s, err := New(Config{ResolvConf: path}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Config().Upstreams; !slices.Equal(got, []string{"10.96.0.10:53", "10.96.0.11:53"}) {
		t.Errorf("Upstreams = %q", got)
	}

	_, err = New(Config{ResolvConf: writeFile(t, "search x\n")}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "Config.ResolvConf") {
		t.Errorf("resolv.conf without nameserver: err = %v", err)
	}
	_, err = New(Config{Upstreams: []string{"10.0.0.1:53"}, Timeout: -1}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "Config.Timeout") {
		t.Errorf("invalid config: err = %v", err)
	}
}
