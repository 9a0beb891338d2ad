package settings

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/pkg/netrange"
)

// funcValue is a Value made of functions.
type funcValue struct {
	kind string
	get  func() string
	set  func(string) error
}

func (v funcValue) String() string     { return v.get() }
func (v funcValue) Set(s string) error { return v.set(s) }
func (v funcValue) Kind() string       { return v.kind }

// Func returns a Value that reads and writes a field with get and set; kind is as Value.Kind. get must
// return text that set reads back to the same value.
func Func(kind string, get func() string, set func(string) error) Value {
	return funcValue{kind: kind, get: get, set: set}
}

// String binds a string; kind names it in usage (FILE, NAME, ADDR).
func String(p *string, kind string) Value {
	return Func(kind, func() string { return *p }, func(s string) error { *p = s; return nil })
}

// Bool binds a boolean, which may be given without a value (true).
func Bool(p *bool) Value {
	return Func("", func() string { return strconv.FormatBool(*p) }, func(s string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", s)
		}
		*p = b
		return nil
	})
}

// Int binds a decimal integer.
func Int(p *int) Value {
	return Func("N", func() string { return strconv.Itoa(*p) }, func(s string) error {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		*p = n
		return nil
	})
}

// Duration binds a duration as time.ParseDuration reads it ("500ms", "10s", "1m30s").
func Duration(p *time.Duration) Value {
	return Func("DURATION", func() string { return p.String() }, func(s string) error {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 500ms or 10s", s)
		}
		*p = d
		return nil
	})
}

// Port binds a port from 1 to 65535.
func Port(p *uint16) Value {
	return Func("PORT", func() string { return strconv.Itoa(int(*p)) }, func(s string) error {
		port, err := netrange.ParsePort(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		*p = port
		return nil
	})
}

// ID binds a user or group ID (0 to 4294967295).
func ID(p *uint32) Value {
	return Func("ID", func() string { return strconv.FormatUint(uint64(*p), 10) }, func(s string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not an ID from 0 to 4294967295", s)
		}
		*p = uint32(n)
		return nil
	})
}

// Ports binds a comma-separated list of ports; a port listed twice counts once. "" is the empty list.
func Ports(p *[]uint16) Value {
	return Func("PORTS", func() string {
		texts := make([]string, len(*p))
		for i, port := range *p {
			texts[i] = strconv.Itoa(int(port))
		}
		return strings.Join(texts, ",")
	}, func(s string) error {
		entries, err := netrange.SplitList(s)
		if err != nil {
			return err
		}
		var ports []uint16
		for _, entry := range entries {
			port, err := netrange.ParsePort(entry)
			if err != nil {
				return err
			}
			if !slices.Contains(ports, port) {
				ports = append(ports, port)
			}
		}
		*p = ports
		return nil
	})
}

// PortRanges binds a comma-separated list of ports and ranges (netrange.ParsePortRanges).
func PortRanges(p *[]netrange.PortRange) Value {
	return Func("PORTS", func() string { return netrange.FormatPortRanges(*p) }, func(s string) error {
		ranges, err := netrange.ParsePortRanges(s)
		if err != nil {
			return err
		}
		*p = ranges
		return nil
	})
}

// Prefixes binds a comma-separated list of canonical prefixes (netrange.ParsePrefixes).
func Prefixes(p *[]netip.Prefix) Value {
	return Func("CIDRS", func() string { return netrange.FormatPrefixes(*p) }, func(s string) error {
		prefixes, err := netrange.ParsePrefixes(s)
		if err != nil {
			return err
		}
		*p = prefixes
		return nil
	})
}

// Addrs binds a comma-separated list of IP addresses; IPv4-mapped IPv6 addresses are read as IPv4.
func Addrs(p *[]netip.Addr) Value {
	return Func("ADDRS", func() string {
		texts := make([]string, len(*p))
		for i, a := range *p {
			texts[i] = a.String()
		}
		return strings.Join(texts, ",")
	}, func(s string) error {
		entries, err := netrange.SplitList(s)
		if err != nil {
			return err
		}
		var addrs []netip.Addr
		for _, entry := range entries {
			a, err := netip.ParseAddr(entry)
			if err != nil {
				return fmt.Errorf("%q is not an IP address", entry)
			}
			addrs = append(addrs, a.Unmap())
		}
		*p = addrs
		return nil
	})
}

// Strings binds a comma-separated list; kind names it in usage (NAMES).
func Strings(p *[]string, kind string) Value {
	return Func(kind, func() string { return strings.Join(*p, ",") }, func(s string) error {
		entries, err := netrange.SplitList(s)
		if err != nil {
			return err
		}
		*p = entries
		return nil
	})
}

// LogLevel binds a log level: debug, info, warn or error.
func LogLevel(p *slog.Level) Value {
	return Func("LEVEL", func() string { return strings.ToLower(p.String()) }, func(s string) error {
		var level slog.Level
		if err := level.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
			return fmt.Errorf("%q is not a log level (debug, info, warn or error)", s)
		}
		*p = level
		return nil
	})
}

// OneOf binds a string-kinded field that takes one of choices.
func OneOf[T ~string](p *T, choices ...T) Value {
	names := make([]string, len(choices))
	for i, c := range choices {
		names[i] = string(c)
	}
	return Func(strings.Join(names, "|"), func() string { return string(*p) }, func(s string) error {
		v := T(strings.TrimSpace(s))
		if !slices.Contains(choices, v) {
			return fmt.Errorf("%q is not %s", s, orList(names))
		}
		*p = v
		return nil
	})
}

// orList writes "a, b or c".
func orList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
