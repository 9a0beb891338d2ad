package policy

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

const maxNameLength = 253

// normalizeHost returns the lower-case, punycode form of a host name without its trailing dot, or an error
// saying why it is not a valid name. ASCII names take a path that allocates only when they must change.
func normalizeHost(name string) (string, error) {
	if norm, ok := normalizeASCII(name); ok {
		return norm, nil
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return normalizeIDN(name)
		}
	}
	return "", describeInvalidName(name)
}

// normalizeIDN converts an international name to punycode with the IDNA lookup profile.
func normalizeIDN(name string) (string, error) {
	ascii, err := idna.Lookup.ToASCII(strings.TrimSuffix(name, "."))
	if err != nil {
		return "", fmt.Errorf("invalid international host name %q: %w", name, err)
	}
	if norm, ok := normalizeASCII(ascii); ok {
		return norm, nil
	}
	return "", describeInvalidName(ascii)
}

// normalizeASCII validates an ASCII name and lower-cases it, dropping one trailing dot. It returns a
// substring of name (no allocation) unless name has upper-case letters.
func normalizeASCII(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > maxNameLength {
		return "", false
	}
	upper, labelLen, lastLabelDigits := false, 0, true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if labelLen == 0 || name[i-1] == '-' {
				return "", false
			}
			labelLen, lastLabelDigits = 0, true
			continue
		case c >= 'a' && c <= 'z', c == '_':
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= '0' && c <= '9':
			labelLen++
			if labelLen > 63 {
				return "", false
			}
			continue
		case c == '-':
			if labelLen == 0 {
				return "", false
			}
		default:
			return "", false
		}
		lastLabelDigits = false
		labelLen++
		if labelLen > 63 {
			return "", false
		}
	}
	if name[len(name)-1] == '-' || lastLabelDigits {
		return "", false
	}
	if upper {
		return strings.ToLower(name), true
	}
	return name, true
}

// describeInvalidName says what is wrong with a name normalizeASCII refused.
func describeInvalidName(name string) error {
	trimmed := strings.TrimSuffix(name, ".")
	switch {
	case trimmed == "":
		return errors.New("empty host name")
	case len(trimmed) > maxNameLength:
		return fmt.Errorf("host name is %d characters long, more than %d", len(trimmed), maxNameLength)
	}
	labels := strings.Split(trimmed, ".")
	for _, label := range labels {
		switch {
		case label == "":
			return fmt.Errorf("host name %q has an empty label", name)
		case len(label) > 63:
			return fmt.Errorf("host name %q has a label longer than 63 characters", name)
		case strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-"):
			return fmt.Errorf("host name %q has a label that starts or ends with '-'", name)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("host name %q has the character %q", name, c)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("%q is neither a valid IP address nor a host name (its last label is numeric)", name)
	}
	return fmt.Errorf("invalid host name %q", name)
}
