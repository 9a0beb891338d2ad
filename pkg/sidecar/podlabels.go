package sidecar

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ReadPodLabels reads a Kubernetes downward-API labels file (one `key="value"` line per label, the value
// quoted as Go quotes strings).
func ReadPodLabels(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading pod labels: %w", err)
	}
	defer f.Close()
	labels, err := ParsePodLabels(f)
	if err != nil {
		return nil, fmt.Errorf("pod labels file %s: %w", path, err)
	}
	return labels, nil
}

// ParsePodLabels parses the downward-API labels format; blank lines are ignored.
func ParsePodLabels(r io.Reader) (map[string]string, error) {
	labels := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, quoted, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("line %d: want key=\"value\", got %q", n, line)
		}
		value, err := strconv.Unquote(quoted)
		if err != nil {
			return nil, fmt.Errorf("line %d: value of %q is not a quoted string: %w", n, key, err)
		}
		labels[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return labels, nil
}
