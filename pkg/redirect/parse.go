package redirect

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of destination ports; a single port has First == Last.
type PortRange struct {
	First, Last uint16
}

// String returns the range as egress-init's flags spell it: "443" or "8000-8080".
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// iptablesSpec returns the range as iptables' --dport spells it: "443" or "8000:8080".
func (r PortRange) iptablesSpec() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d:%d", r.First, r.Last)
}

func (r PortRange) check() error {
	if r.First == 0 || r.Last == 0 {
		return errors.New("invalid port: must be from 1 to 65535")
	}
	if r.First > r.Last {
		return fmt.Errorf("invalid port range: %d is above %d", r.First, r.Last)
	}
	return nil
}

// ParsePortList parses a comma-separated list of destination ports and inclusive ranges, such as
// "25,587,8000-8080". Spaces around entries are ignored; blank input is an empty list. Errors quote the
// offending entry, e.g. `"0": invalid port: must be from 1 to 65535`.
func ParsePortList(s string) ([]PortRange, error) {
	entries, err := splitList(s)
	if err != nil {
		return nil, err
	}
	var ranges []PortRange
	for _, entry := range entries {
		r, err := parsePortRange(entry)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
		ranges = append(ranges, r)
	}
	return ranges, nil
}

func parsePortRange(s string) (PortRange, error) {
	firstText, lastText, isRange := strings.Cut(s, "-")
	first, err := parsePort(firstText)
	if err != nil {
		return PortRange{}, err
	}
	last := first
	if isRange {
		if last, err = parsePort(lastText); err != nil {
			return PortRange{}, err
		}
	}
	r := PortRange{First: first, Last: last}
	return r, r.check()
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if numErr := (*strconv.NumError)(nil); errors.As(err, &numErr) {
		return 0, fmt.Errorf("invalid port: %w", numErr.Err)
	}
	if n == 0 {
		return 0, errors.New("invalid port: must be from 1 to 65535")
	}
	return uint16(n), nil
}

// ParseCIDRList parses a comma-separated list of IPv4 and IPv6 prefixes, such as "10.0.0.0/8,fd00::/8".
// A bare address stands for itself (/32 or /128). Prefixes must be canonical (no host bits set), and
// neither zones nor IPv4-mapped IPv6 addresses are accepted, so what iptables matches is exactly what was
// written. Spaces around entries are ignored; blank input is an empty list. Errors quote the offending
// entry, e.g. `"10.0.0.0/33": invalid prefix: length 33 exceeds 32`.
func ParseCIDRList(s string) ([]netip.Prefix, error) {
	entries, err := splitList(s)
	if err != nil {
		return nil, err
	}
	var prefixes []netip.Prefix
	for _, entry := range entries {
		p, err := parsePrefix(entry)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
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
	return p, checkPrefix(p)
}

// checkPrefix reports what makes p unusable as an iptables -d match, for parsed and hand-built prefixes.
func checkPrefix(p netip.Prefix) error {
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

// splitList splits a comma-separated list, trimming spaces; blank input is an empty list.
func splitList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	entries := strings.Split(s, ",")
	for i, e := range entries {
		entries[i] = strings.TrimSpace(e)
		if entries[i] == "" {
			return nil, fmt.Errorf("empty entry %d in list %q", i+1, s)
		}
	}
	return entries, nil
}
