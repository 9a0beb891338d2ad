package netrange

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParsePrefixes parses a comma-separated list of IPv4 and IPv6 prefixes, such as "10.0.0.0/8,fd00::/8"
// (see ParsePrefix). Spaces around entries are ignored; blank input is an empty (nil) list. Errors quote
// the offending entry, e.g. `"10.0.0.0/33": invalid prefix: length 33 exceeds 32`.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	entries, err := SplitList(s)
	if err != nil {
		return nil, err
	}
	var prefixes []netip.Prefix
	for _, entry := range entries {
		p, err := ParsePrefix(entry)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, nil
}

// ParsePrefix parses one prefix. A bare address stands for itself (/32 or /128). Prefixes must be
// canonical (no host bits set), and neither zones nor IPv4-mapped IPv6 addresses are accepted, so what
// iptables matches is exactly what was written.
func ParsePrefix(s string) (netip.Prefix, error) {
	addrText, bitsText, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrText)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid prefix: %w", err)
	}
	bits := addr.BitLen()
	if hasBits {
		n, err := strconv.Atoi(bitsText)
		if err != nil || n < 0 || strings.HasPrefix(bitsText, "+") {
			return netip.Prefix{}, fmt.Errorf("invalid prefix: length %q is not a number", bitsText)
		}
		if n > addr.BitLen() {
			return netip.Prefix{}, fmt.Errorf("invalid prefix: length %d exceeds %d", n, addr.BitLen())
		}
		bits = n
	}
	if addr.Zone() != "" {
		return netip.Prefix{}, errors.New("invalid prefix: zones are not allowed")
	}
	p := netip.PrefixFrom(addr, bits)
	return p, CheckPrefix(p)
}

// CheckPrefix reports what makes p unusable as an iptables -d match, for parsed and hand-built prefixes.
func CheckPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("invalid prefix")
	case p.Addr().Is4In6():
		return fmt.Errorf("invalid prefix: IPv4-mapped IPv6 address; write it as IPv4 (%s)", p.Addr().Unmap())
	case p.Masked() != p:
		return fmt.Errorf("invalid prefix: host bits set (did you mean %s?)", p.Masked())
	}
	return nil
}

// FormatPrefixes writes prefixes as ParsePrefixes reads them: "10.0.0.0/8,fd00::/8".
func FormatPrefixes(prefixes []netip.Prefix) string {
	texts := make([]string, len(prefixes))
	for i, p := range prefixes {
		texts[i] = p.String()
	}
	return strings.Join(texts, ",")
}
