package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in        string
		kind      TargetKind
		canonical string
	}{
		{"api.stripe.com:443", KindExact, "api.stripe.com:443"},
		{"API.Stripe.COM.:443", KindExact, "api.stripe.com:443"},
		{"bücher.example:443", KindExact, "xn--bcher-kva.example:443"},
		{"BÜCHER.example.:443", KindExact, "xn--bcher-kva.example:443"},
		{"_dmarc.example.org:53", KindExact, "_dmarc.example.org:53"},
		{"localhost:8080", KindExact, "localhost:8080"},
		{"*.s3.amazonaws.com:443", KindWildcard, "*.s3.amazonaws.com:443"},
		{"*.Example.ORG.:443", KindWildcard, "*.example.org:443"},
		{"*:80", KindAnyHost, "*:80"},
		{"*:8000-8100", KindAnyHost, "*:8000-8100"},
		{"203.0.113.7:5432", KindCIDR, "203.0.113.7:5432"},
		{"203.0.113.0/24:5432", KindCIDR, "203.0.113.0/24:5432"},
		{"203.0.113.7/32:5432", KindCIDR, "203.0.113.7:5432"},
		{"[2001:db8::1]:443", KindCIDR, "[2001:db8::1]:443"},
		{"[2001:DB8::/32]:443", KindCIDR, "[2001:db8::/32]:443"},
		{"[::ffff:203.0.113.7]:443", KindCIDR, "203.0.113.7:443"},
		{"[::ffff:203.0.113.0/120]:443", KindCIDR, "203.0.113.0/24:443"},
		{"db.internal:1-65535", KindExact, "db.internal:1-65535"},
		{"db.internal:5432-5432", KindExact, "db.internal:5432"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tt.in, err)
			}
			if got.Kind != tt.kind || got.String() != tt.canonical {
				t.Fatalf("ParseTarget(%q) = kind %d %q, want kind %d %q", tt.in, got.Kind, got, tt.kind, tt.canonical)
			}
			again, err := ParseTarget(got.String())
			if err != nil || again != got {
				t.Fatalf("canonical form %q does not parse back: %+v, %v", got, again, err)
			}
		})
	}
}

func TestParseTargetErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"", "empty target"},
		{"api.example.com", "missing port"},
		{"api.example.com:", "empty port"},
		{"api.example.com:*", "port wildcard is not accepted"},
		{"api.example.com:0", "out of range"},
		{"api.example.com:65536", "out of range"},
		{"api.example.com:http", "not a number"},
		{"api.example.com:+443", "not a number"},
		{"api.example.com:9000-8000", "runs backwards"},
		{"api.example.com:80-", "not a number"},
		{":443", "empty host"},
		{"*.:443", "empty suffix"},
		{"*.*.example.com:443", "one leading"},
		{"**.example.com:443", "leading"},
		{"api.*.example.com:443", "leading"},
		{"*example.com:443", "leading"},
		{"*.203.0.113.7:443", "not an address"},
		{"203.0.113.0/33:443", "invalid CIDR"},
		{"203.0.113.7/24:443", "host bits set"},
		{"2001:db8::1:443", "must be in brackets"},
		{"[2001:db8::1]443", "missing port"},
		{"[2001:db8::1:443", "missing \"]\""},
		{"[203.0.113.7]:443", "only for IPv6"},
		{"[fe80::1%eth0]:443", "zone"},
		{"256.1.1.1:443", "neither a valid IP address nor a host name"},
		{"a..b:443", "empty label"},
		{"-a.example:443", "starts or ends with '-'"},
		{"a b.example:443", "character"},
		{" api.example.com:443", "white space"},
		{strings.Repeat("a", 64) + ".example:443", "longer than 63"},
		{strings.Repeat("abcdefghi.", 26) + "com:443", "more than 253"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if err == nil {
				t.Fatalf("ParseTarget(%q) = %v, want error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseTarget(%q) error %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestParseTargetPrefixIsMasked(t *testing.T) {
	got, err := ParseTarget("[2001:db8::/32]:443")
	if err != nil {
		t.Fatal(err)
	}
	if got.Prefix != netip.MustParsePrefix("2001:db8::/32") {
		t.Fatalf("prefix = %v", got.Prefix)
	}
}
