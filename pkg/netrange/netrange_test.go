package netrange

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
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
		got, err := ParsePrefixes(tt.in)
		if err != nil {
			t.Errorf("ParsePrefixes(%q): %v", tt.in, err)
			continue
		}
		var texts []string
		for _, p := range got {
			texts = append(texts, p.String())
		}
		if !reflect.DeepEqual(texts, tt.want) {
			t.Errorf("ParsePrefixes(%q) = %q, want %q", tt.in, texts, tt.want)
		}
		if tt.want != nil && FormatPrefixes(got) != strings.Join(tt.want, ",") {
			t.Errorf("FormatPrefixes(%v) = %q", got, FormatPrefixes(got))
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
		_, err := ParsePrefixes(tt.in)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParsePrefixes(%q) error = %v, want it to start with %s", tt.in, err, tt.want)
		}
	}
}

func TestParsePortRanges(t *testing.T) {
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
		got, err := ParsePortRanges(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParsePortRanges(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}

	bad := []struct{ in, want string }{
		{"0", `"0": port 0 is out of range 1-65535`},
		{"65536", `"65536": port 65536 is out of range 1-65535`},
		{"123456", `"123456": port "123456" is not a number from 1 to 65535`},
		{"http", `"http": port "http" is not a number from 1 to 65535`},
		{"-5", `"-5": port "" is not a number`},
		{"+5", `"+5": port "+5" is not a number`},
		{"8 0", `"8 0": port "8 0" is not a number`},
		{"9000-8000", `"9000-8000": port range 9000-8000 runs backwards`},
		{"80-", `"80-": port "" is not a number`},
		{"80-90-100", `"80-90-100": port "90-100" is not a number`},
		{"80,,443", `empty entry 2 in list`},
	}
	for _, tt := range bad {
		_, err := ParsePortRanges(tt.in)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParsePortRanges(%q) error = %v, want it to start with %s", tt.in, err, tt.want)
		}
	}
	if _, err := ParsePortRange(""); err == nil || err.Error() != "empty port" {
		t.Errorf(`ParsePortRange("") = %v`, err)
	}
}

func TestPortRange(t *testing.T) {
	r := PortRange{8000, 8080}
	if r.String() != "8000-8080" || Port(443).String() != "443" {
		t.Errorf("String: %q, %q", r.String(), Port(443).String())
	}
	if !r.Contains(8000) || !r.Contains(8080) || r.Contains(7999) || r.Contains(8081) {
		t.Error("Contains is wrong at the edges")
	}
	if got := FormatPortRanges([]PortRange{Port(25), r}); got != "25,8000-8080" {
		t.Errorf("FormatPortRanges = %q", got)
	}
	for _, tt := range []struct {
		r    PortRange
		want string
	}{
		{PortRange{0, 80}, "port 0 is out of range"},
		{PortRange{90, 80}, "port range 90-80 runs backwards"},
	} {
		if err := tt.r.Check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v.Check() = %v, want %q", tt.r, err, tt.want)
		}
	}
	if err := r.Check(); err != nil {
		t.Errorf("%v.Check() = %v", r, err)
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
		if err := CheckPrefix(tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckPrefix(%v) = %v, want %q", tt.p, err, tt.want)
		}
	}
}
