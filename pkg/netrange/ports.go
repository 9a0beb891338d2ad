package netrange

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of ports; a single port has First == Last.
type PortRange struct {
	First, Last uint16
}

// Port returns the range of the single port p.
func Port(p uint16) PortRange { return PortRange{First: p, Last: p} }

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port uint16) bool { return port >= r.First && port <= r.Last }

// String returns the range as ParsePortRange reads it: "443" or "8000-8080".
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// Check reports what makes a range built by hand invalid: port 0, or a range that runs backwards.
func (r PortRange) Check() error {
	if r.First == 0 || r.Last == 0 {
		return errors.New("port 0 is out of range 1-65535")
	}
	if r.First > r.Last {
		return fmt.Errorf("port range %s runs backwards", r)
	}
	return nil
}

// ParsePort parses a port from 1 to 65535, written in decimal digits only.
func ParsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s is out of range 1-65535", s)
	}
	return uint16(n), nil
}

// ParsePortRange parses "443" or the inclusive range "8000-8080".
func ParsePortRange(s string) (PortRange, error) {
	if s == "" {
		return PortRange{}, errors.New("empty port")
	}
	firstText, lastText, isRange := strings.Cut(s, "-")
	first, err := ParsePort(firstText)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return Port(first), nil
	}
	last, err := ParsePort(lastText)
	if err != nil {
		return PortRange{}, err
	}
	r := PortRange{First: first, Last: last}
	if first > last {
		return PortRange{}, fmt.Errorf("port range %s runs backwards", s)
	}
	return r, nil
}

// ParsePortRanges parses a comma-separated list of ports and ranges, such as "25,587,8000-8080". Spaces
// around entries are ignored; blank input is an empty (nil) list. Errors quote the offending entry, e.g.
// `"0": port 0 is out of range 1-65535`.
func ParsePortRanges(s string) ([]PortRange, error) {
	entries, err := SplitList(s)
	if err != nil {
		return nil, err
	}
	var ranges []PortRange
	for _, entry := range entries {
		r, err := ParsePortRange(entry)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
		ranges = append(ranges, r)
	}
	return ranges, nil
}

// FormatPortRanges writes ranges as ParsePortRanges reads them: "25,8000-8080".
func FormatPortRanges(ranges []PortRange) string {
	texts := make([]string, len(ranges))
	for i, r := range ranges {
		texts[i] = r.String()
	}
	return strings.Join(texts, ",")
}

// SplitList splits a comma-separated list, trimming spaces around entries; blank input is an empty list
// and an empty entry is an error.
func SplitList(s string) ([]string, error) {
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
