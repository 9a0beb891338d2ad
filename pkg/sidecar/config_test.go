package sidecar

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	tests := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.CapturePort = 0 }, "--capture-port"},
		{func(c *Config) { c.DNSPort = c.CapturePort }, "--dns-port: 15001 is also --capture-port"},
		{func(c *Config) { c.ListenAddrs = nil }, "--listen-addrs"},
		{func(c *Config) { c.AdminAddr = "15020" }, "--admin-addr"},
		{func(c *Config) { c.AdminAddr = "0.0.0.0:15001" }, "--admin-addr: port 15001"},
		{func(c *Config) { c.SniffTimeout = 0 }, "--sniff-timeout"},
		{func(c *Config) { c.SniffBytes = 10 }, "--sniff-bytes"},
		{func(c *Config) { c.ServerFirstPorts = []uint16{0} }, "--server-first-ports"},
		{func(c *Config) { c.ConnectTimeout = -time.Second }, "--connect-timeout"},
		{func(c *Config) { c.UpstreamDNS = []string{"dns.example:53"} }, "--upstream-dns"},
		{func(c *Config) { c.LocalSuffix = "" }, "--local-suffix"},
		{func(c *Config) { c.DenyCIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")} }, "--deny-cidrs"},
		{func(c *Config) { c.MaxHostLabels = -1 }, "--max-host-labels"},
		{func(c *Config) { c.DrainTimeout = -1 }, "--drain-timeout"},
		{func(c *Config) { c.GlobalNamespace = "" }, "--global-namespace"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
		}
	}
}

func TestParsePodLabels(t *testing.T) {
	labels, err := ParsePodLabels(strings.NewReader("app=\"checkout\"\n\npod-template-hash=\"7d9f\"\nquote=\"a\\\"b\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if labels["app"] != "checkout" || labels["pod-template-hash"] != "7d9f" || labels["quote"] != `a"b` || len(labels) != 3 {
		t.Errorf("labels = %v", labels)
	}
	for _, bad := range []string{"app", "app=checkout", "=\"x\""} {
		if _, err := ParsePodLabels(strings.NewReader(bad)); err == nil {
			t.Errorf("ParsePodLabels(%q) accepted it", bad)
		}
	}
}
