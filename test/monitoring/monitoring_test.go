// Package monitoring_test holds the dashboard and the alerting rules of manifests/monitoring to promtool:
// the rules check, their unit tests pass, the PrometheusRule is the rules file, and every dashboard query
// parses. promtool comes with Debian's prometheus package (hack/install-deps.sh); without it these tests
// fail, naming it.
package monitoring_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"egress.io/egress/internal/controlplane"
	"egress.io/egress/internal/monitoring"
)

var update = flag.Bool("update", false, "rewrite prometheusrule.yaml from the rules file")

func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is missing (Debian package prometheus; make deps / hack/install-deps.sh installs it): %v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	out := promtool(t, monitoring.Dir(), "check", "rules", monitoring.RulesFile)
	if !strings.Contains(out, "SUCCESS: 7 rules found") {
		t.Errorf("promtool check rules: %s", out)
	}
}

// TestPromtoolTestRules runs the alerts' unit tests: each alert fires when it should, with its labels and
// annotations, and not otherwise.
func TestPromtoolTestRules(t *testing.T) {
	dir := filepath.Join(monitoring.Dir(), filepath.Dir(monitoring.AlertTestsFile))
	out := promtool(t, dir, "test", "rules", filepath.Base(monitoring.AlertTestsFile))
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules: %s", out)
	}
}

// TestPrometheusRuleIsTheRulesFile: prometheusrule.yaml is generated from the rules file, and its spec is
// the same groups.
func TestPrometheusRuleIsTheRulesFile(t *testing.T) {
	dir := monitoring.Dir()
	rules, err := os.ReadFile(filepath.Join(dir, monitoring.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	want := monitoring.PrometheusRule(rules)
	path := filepath.Join(dir, monitoring.PrometheusRuleFile)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is not generated from %s (go test ./test/monitoring -update)", monitoring.PrometheusRuleFile, monitoring.RulesFile)
	}
	var plain map[string]any
	var object struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(rules, &plain); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(got, &object); err != nil {
		t.Fatal(err)
	}
	if object.Kind != "PrometheusRule" || !reflect.DeepEqual(object.Spec, plain) {
		t.Errorf("the PrometheusRule's spec is not the rules file's groups")
	}
}

// TestDashboardQueriesParse: every panel has a query, and each, with the dashboard's variables expanded,
// is valid PromQL: promtool checks them as recording rules.
func TestDashboardQueriesParse(t *testing.T) {
	queries, err := monitoring.Queries(filepath.Join(monitoring.Dir(), monitoring.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var rules []map[string]string
	for i, q := range queries {
		rules = append(rules, map[string]string{"record": "dashboard:query_" + strconv.Itoa(i), "expr": monitoring.Expand(q.Expr, ".*", "1m", "1h")})
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-queries.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := promtool(t, dir, "check", "rules", "dashboard-queries.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool: %s", out)
	}
	for _, want := range []string{"egress_upstream_errors_total", "egress_dns_queries_total", "egress_policy_reloads_total",
		"egress_sidecar_ready", `decision="deny"`, `decision="audit"`, "topk(10"} {
		found := false
		for _, q := range queries {
			found = found || strings.Contains(q.Expr, want)
		}
		if !found {
			t.Errorf("no dashboard query uses %s", want)
		}
	}
}

// TestKustomization renders manifests/monitoring with the real kubectl: the PrometheusRule and the
// dashboard's ConfigMap, labelled for Grafana's dashboard sidecar, holding dashboard.json as it is.
func TestKustomization(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kubectl from KUBEBUILDER_ASSETS; not run with -short")
	}
	assets, err := controlplane.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", monitoring.Dir()).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v: %s", err, out)
	}
	dashboard, err := os.ReadFile(filepath.Join(monitoring.Dir(), monitoring.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var objects []map[string]any
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, o)
	}
	if len(objects) != 2 {
		t.Fatalf("%d objects:\n%s", len(objects), out)
	}
	cm, rule := objects[0], objects[1]
	meta := cm["metadata"].(map[string]any)
	if cm["kind"] != "ConfigMap" || meta["name"] != "egress-grafana-dashboard" || meta["namespace"] != "monitoring" ||
		meta["labels"].(map[string]any)["grafana_dashboard"] != "1" || cm["data"].(map[string]any)["egress.json"] != string(dashboard) {
		t.Errorf("dashboard ConfigMap: %v", cm["metadata"])
	}
	if rule["kind"] != "PrometheusRule" || rule["metadata"].(map[string]any)["namespace"] != "monitoring" {
		t.Errorf("PrometheusRule: %v", rule["metadata"])
	}
}
