// Package rules writes the benchmark's rules files: EgressRuleSet YAML with a chosen number of targets,
// the named ones the benchmark uses plus filler (a mix of exact names, wildcards and CIDRs, none of which
// matches a benchmark destination), split into rule sets of at most MaxTargetsPerSet targets.
package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MaxTargetsPerSet is the most targets one EgressRuleSet may hold (the CRD's limit).
const MaxTargetsPerSet = 1000

// Filler returns the i-th filler target: exact names, "*." wildcards and CIDRs in turn. The CIDRs are /24s
// out of 100.0.0.0/16, far from 198.18.0.0/15 and the 240.0.0.0/4 sentinel, so filler never allows a
// destination the benchmark uses.
func Filler(i int) string {
	switch i % 3 {
	case 0:
		return fmt.Sprintf("api%d.service%d.example.com:443", i, i%97)
	case 1:
		return fmt.Sprintf("*.bucket%d.example.net:443", i)
	default:
		return fmt.Sprintf("100.0.%d.0/24:5432", (i/3)%256) + portSuffix(i)
	}
}

// portSuffix keeps CIDR fillers distinct beyond 256 of them by varying the port range instead.
func portSuffix(i int) string {
	if k := i / 3 / 256; k > 0 {
		return fmt.Sprintf("-%d", 5432+k)
	}
	return ""
}

// YAML returns a rules file with n targets in total: named first, then n-len(named) fillers.
func YAML(named []string, n int) (string, error) {
	if n < len(named) {
		return "", fmt.Errorf("rules: %d targets cannot hold the %d named ones", n, len(named))
	}
	targets := append([]string(nil), named...)
	for i := 0; len(targets) < n; i++ {
		targets = append(targets, Filler(i))
	}
	var b strings.Builder
	for set := 0; set*MaxTargetsPerSet < len(targets); set++ {
		chunk := targets[set*MaxTargetsPerSet : min((set+1)*MaxTargetsPerSet, len(targets))]
		if set > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: bench-%02d}\nspec:\n  targets:\n", set)
		for _, t := range chunk {
			fmt.Fprintf(&b, "  - %q\n", t)
		}
	}
	return b.String(), nil
}

// RoutedYAML returns a rules file allowing target (host:port) with n routes on it, of which only the last
// matches GET requests under matchPrefix: every request is checked against all n.
func RoutedYAML(target string, n int, matchPrefix string) (string, error) {
	if n < 1 {
		return "", fmt.Errorf("rules: %d routes: at least the matching one is needed", n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: bench-routes}\nspec:\n  targets: [%q]\n  routes:\n", target)
	for i := range n - 1 {
		fmt.Fprintf(&b, "  - {name: other-%d, hosts: [%q], matches: [{method: POST, path: {type: PathPrefix, value: /other/%d}}, {path: {type: Exact, value: /x%d}}]}\n",
			i, target, i, i)
	}
	fmt.Fprintf(&b, "  - {name: bench, hosts: [%q], matches: [{method: GET, path: {type: PathPrefix, value: %q}}], retries: {attempts: 2}, timeout: 10s}\n",
		target, matchPrefix)
	return b.String(), nil
}

// WriteAtomic replaces path with content by writing a temporary file in the same directory and renaming
// it over path, so a watcher never reads a half-written file.
func WriteAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rules-*.yaml")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
