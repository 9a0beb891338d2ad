package redirect

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseCIDRList(t *testing.T) {
	good := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}},
		{" 10.0.0.0/8 , fd00::/8 ", []string{"10.0.0.0/8", "fd00::/8"}},
		{"192.0.2.7", []string{"192.0.2.7/32"}},
		{"2001:db8::7", []string{"2001:db8::7/128"}},
		{"0.0.0.0/0,::/0", []string{"0.0.0.0/0", "::/0"}},
	}
	for _, tt := range good {
		got, err := ParseCIDRList(tt.in)
		if err != nil {
			t.Errorf("ParseCIDRList(%q): %v", tt.in, err)
			continue
		}
		var texts []string
		for _, p := range got {
			texts = append(texts, p.String())
		}
		if !reflect.DeepEqual(texts, tt.want) {
			t.Errorf("ParseCIDRList(%q) = %q, want %q", tt.in, texts, tt.want)
		}
	}

	bad := []struct{ in, want string }{
		{"10.0.0.0/33", `"10.0.0.0/33": invalid prefix: length 33 exceeds 32`},
		{"fd00::/129", `"fd00::/129": invalid prefix: length 129 exceeds 128`},
		{"10.0.0.1/8", `"10.0.0.1/8": invalid prefix: host bits set (did you mean 10.0.0.0/8?)`},
		{"10.0.0.300/32", `"10.0.0.300/32": invalid prefix: ParseAddr("10.0.0.300")`},
		{"10.0.0.0/x", `"10.0.0.0/x": invalid prefix: length "x" is not a number`},
		{"10.0.0.0/-1", `"10.0.0.0/-1": invalid prefix: length "-1" is not a number`},
		{"10.0.0.0/", `"10.0.0.0/": invalid prefix: length "" is not a number`},
		{"fe80::1%eth0/128", `"fe80::1%eth0/128": invalid prefix: zones are not allowed`},
		{"::ffff:10.0.0.0/104", `"::ffff:10.0.0.0/104": invalid prefix: IPv4-mapped IPv6 address; write it as IPv4 (10.0.0.0)`},
		{"example.com", `"example.com": invalid prefix`},
		{"10.0.0.0/8,,fd00::/8", `empty entry 2 in list`},
		{"10.0.0.0/8,", `empty entry 2 in list`},
	}
	for _, tt := range bad {
		_, err := ParseCIDRList(tt.in)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParseCIDRList(%q) error = %v, want it to start with %s", tt.in, err, tt.want)
		}
	}
}

func TestParsePortList(t *testing.T) {
	good := []struct {
		in   string
		want []PortRange
	}{
		{"", nil},
		{"443", []PortRange{{443, 443}}},
		{"25, 587,8000-8080", []PortRange{{25, 25}, {587, 587}, {8000, 8080}}},
		{"1-65535", []PortRange{{1, 65535}}},
		{"80-80", []PortRange{{80, 80}}},
	}
	for _, tt := range good {
		got, err := ParsePortList(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParsePortList(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}

	bad := []struct{ in, want string }{
		{"0", `"0": invalid port: must be from 1 to 65535`},
		{"65536", `"65536": invalid port: value out of range`},
		{"http", `"http": invalid port: invalid syntax`},
		{"-5", `"-5": invalid port: invalid syntax`},
		{"9000-8000", `"9000-8000": invalid port range: 9000 is above 8000`},
		{"80-", `"80-": invalid port: invalid syntax`},
		{"80-90-100", `"80-90-100": invalid port: invalid syntax`},
		{"80,,443", `empty entry 2 in list`},
	}
	for _, tt := range bad {
		_, err := ParsePortList(tt.in)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParsePortList(%q) error = %v, want it to start with %s", tt.in, err, tt.want)
		}
	}
}

func TestPortRangeForms(t *testing.T) {
	for _, tt := range []struct {
		r              PortRange
		flag, iptables string
	}{
		{PortRange{443, 443}, "443", "443"},
		{PortRange{8000, 8080}, "8000-8080", "8000:8080"},
	} {
		if got := tt.r.String(); got != tt.flag {
			t.Errorf("%v.String() = %q, want %q", tt.r, got, tt.flag)
		}
		if got := tt.r.iptablesSpec(); got != tt.iptables {
			t.Errorf("%v.iptablesSpec() = %q, want %q", tt.r, got, tt.iptables)
		}
	}
}

func TestCheckPrefixOfHandBuiltPrefixes(t *testing.T) {
	for _, tt := range []struct {
		p    netip.Prefix
		want string
	}{
		{netip.Prefix{}, "invalid prefix"},
		{netip.PrefixFrom(netip.MustParseAddr("10.1.2.3"), 8), "host bits set"},
		{netip.PrefixFrom(netip.MustParseAddr("::ffff:10.0.0.0"), 104), "IPv4-mapped"},
	} {
		if err := checkPrefix(tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkPrefix(%v) = %v, want %q", tt.p, err, tt.want)
		}
	}
}
