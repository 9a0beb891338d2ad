// Package monitoring reads the dashboard and alerting rules the product ships in manifests/monitoring, for
// the tests that hold them to promtool (test/monitoring) and run the dashboard's queries against the
// end-to-end test's real Prometheus (test/e2e).
package monitoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Dir is manifests/monitoring in this repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "manifests", "monitoring")
}

// Files of Dir.
const (
	RulesFile          = "egress-alerts.yaml"
	PrometheusRuleFile = "prometheusrule.yaml"
	DashboardFile      = "dashboard.json"
	AlertTestsFile     = "tests/alerts-test.yaml"
)

// Query is one query of a dashboard panel.
type Query struct {
	Panel string
	RefID string
	Expr  string
	// Instant is set for table panels, which ask for one instant.
	Instant bool
}

// dashboard is the part of Grafana's dashboard JSON the queries are in.
type dashboard struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			RefID   string `json:"refId"`
			Expr    string `json:"expr"`
			Instant bool   `json:"instant"`
		} `json:"targets"`
	} `json:"panels"`
}

// Queries reads a dashboard's panels' queries; it fails on a panel without one.
func Queries(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		return nil, fmt.Errorf("%s: a dashboard needs a title, a uid and panels", path)
	}
	var out []Query
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			return nil, fmt.Errorf("%s: panel %q has no query", path, p.Title)
		}
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) == "" {
				return nil, fmt.Errorf("%s: panel %q query %s is empty", path, p.Title, t.RefID)
			}
			out = append(out, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Instant: t.Instant})
		}
	}
	return out, nil
}

// Expand replaces Grafana's variables in a query as Grafana would for one choice: $namespace (the
// dashboard's variable, a regular expression), $__rate_interval and $__range.
func Expand(expr, namespaceRegexp, rateInterval, rangeText string) string {
	return strings.NewReplacer("$namespace", namespaceRegexp, "$__rate_interval", rateInterval, "$__range", rangeText).Replace(expr)
}

// PrometheusRule is the rules file as a prometheus-operator PrometheusRule: its comment, then the object
// whose spec is the file's groups.
func PrometheusRule(rules []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# Generated from " + RulesFile + " by `go test ./test/monitoring -update`: the same groups, as a\n" +
		"# prometheus-operator PrometheusRule. Edit " + RulesFile + ", not this file.\n")
	b.WriteString("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: egress\n  labels:\n" +
		"    app.kubernetes.io/name: egress\nspec:\n")
	for _, line := range strings.Split(strings.TrimRight(string(rules), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if line == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("  " + line + "\n")
	}
	return b.Bytes()
}
