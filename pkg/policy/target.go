package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"egress.io/egress/pkg/netrange"
)

// TargetKind says how a target matches a destination.
type TargetKind uint8

const (
	// KindExact matches one host name.
	KindExact TargetKind = iota
	// KindWildcard ("*.suffix") matches names with one or more labels under the suffix, never the suffix itself.
	KindWildcard
	// KindAnyHost ("*") matches every destination on its ports.
	KindAnyHost
	// KindCIDR matches destination addresses in a prefix (a single address is a full-length prefix).
	KindCIDR
)

// Target is one parsed, normalised allow-list entry.
type Target struct {
	Kind TargetKind
	// Host is the normalised (lower-case, punycode, no trailing dot) name for KindExact and the suffix
	// (without "*.") for KindWildcard.
	Host string
	// Prefix is the masked prefix for KindCIDR; IPv4-mapped IPv6 prefixes are stored as IPv4.
	Prefix netip.Prefix
	Ports  netrange.PortRange
}

// String returns the target's canonical form, which ParseTarget reads back to the same Target.
func (t Target) String() string {
	var host string
	switch t.Kind {
	case KindWildcard:
		host = "*." + t.Host
	case KindAnyHost:
		host = "*"
	case KindCIDR:
		if t.Prefix.IsSingleIP() {
			host = t.Prefix.Addr().String()
		} else {
			host = t.Prefix.String()
		}
		if t.Prefix.Addr().Is6() {
			host = "[" + host + "]"
		}
	default:
		host = t.Host
	}
	return host + ":" + t.Ports.String()
}

// ParseTarget parses "host:port", "*.suffix:port", "*:port", "ip:port", "cidr:port", "[v6]:port" and
// "[v6cidr]:port", where port is 1-65535 or an inclusive range "low-high". Host names are normalised:
// lower case, one trailing dot dropped, international names converted to punycode.
func ParseTarget(s string) (Target, error) {
	host, portText, err := splitHostPort(s)
	if err != nil {
		return Target{}, err
	}
	ports, err := parsePortRange(portText)
	if err != nil {
		return Target{}, err
	}
	t := Target{Ports: ports}
	switch {
	case host == "*":
		t.Kind = KindAnyHost
	case strings.HasPrefix(host, "*."):
		suffix := host[2:]
		if suffix == "" || suffix == "." {
			return Target{}, errors.New("empty suffix after \"*.\"")
		}
		if strings.Contains(suffix, "*") {
			return Target{}, errors.New("a wildcard may only be one leading \"*.\"")
		}
		if _, err := netip.ParseAddr(strings.TrimSuffix(suffix, ".")); err == nil {
			return Target{}, errors.New("a wildcard suffix must be a host name, not an address")
		}
		norm, err := normalizeHost(suffix)
		if err != nil {
			return Target{}, err
		}
		t.Kind, t.Host = KindWildcard, norm
	case strings.Contains(host, "*"):
		return Target{}, errors.New("a wildcard may only be a leading \"*.\" or the whole host \"*\"")
	case strings.Contains(host, "/"):
		prefix, err := netip.ParsePrefix(host)
		if err != nil {
			return Target{}, fmt.Errorf("invalid CIDR: %w", err)
		}
		prefix = unmapPrefix(prefix)
		if prefix.Masked() != prefix {
			return Target{}, fmt.Errorf("CIDR %s has host bits set (did you mean %s?)", host, prefix.Masked())
		}
		t.Kind, t.Prefix = KindCIDR, prefix
	default:
		if addr, err := netip.ParseAddr(host); err == nil {
			if addr.Zone() != "" {
				return Target{}, errors.New("an address must not carry a zone")
			}
			addr = addr.Unmap()
			t.Kind, t.Prefix = KindCIDR, netip.PrefixFrom(addr, addr.BitLen())
			break
		}
		norm, err := normalizeHost(host)
		if err != nil {
			return Target{}, err
		}
		t.Kind, t.Host = KindExact, norm
	}
	return t, nil
}

// splitHostPort splits at the last colon, requiring brackets around IPv6 literals and prefixes.
func splitHostPort(s string) (host, port string, err error) {
	if s == "" {
		return "", "", errors.New("empty target")
	}
	if strings.TrimSpace(s) != s {
		return "", "", errors.New("leading or trailing white space")
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("missing \"]\" after IPv6 address")
		}
		host, rest := s[1:end], s[end+1:]
		if !strings.HasPrefix(rest, ":") {
			return "", "", errors.New("missing port after \"]\" (write [2001:db8::1]:443)")
		}
		if !strings.Contains(host, ":") {
			return "", "", errors.New("brackets are only for IPv6 addresses")
		}
		return host, rest[1:], nil
	}
	colon := strings.LastIndexByte(s, ':')
	if colon < 0 {
		return "", "", errors.New("missing port (write host:port, e.g. api.example.com:443)")
	}
	host, port = s[:colon], s[colon+1:]
	if strings.Contains(host, ":") {
		return "", "", errors.New("an IPv6 address must be in brackets ([2001:db8::1]:443)")
	}
	if host == "" {
		return "", "", errors.New("empty host")
	}
	return host, port, nil
}

// parsePortRange reads a target's port: netrange's syntax, with a clear word for the wildcard people try.
func parsePortRange(s string) (netrange.PortRange, error) {
	if s == "*" {
		return netrange.PortRange{}, errors.New("a port wildcard is not accepted: name the port or a range such as 8000-8100")
	}
	return netrange.ParsePortRange(s)
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:203.0.113.0/120) into its IPv4 form (203.0.113.0/24).
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() || p.Bits() < 96 {
		return p
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
}
