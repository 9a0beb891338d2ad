package e2e_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"egress.io/egress/internal/cluster"
	"egress.io/egress/internal/e2e"
	"egress.io/egress/internal/monitoring"
	"egress.io/egress/pkg/kubectlegress"
)

// testKubectlEgress is the observe-then-enforce loop with kubectl egress, run as a user bound only to the
// shipped kubectl-egress ClusterRole: an audit-mode Deployment makes calls, `kubectl egress suggest` prints
// a rule set, it is applied with kubectl apply, the namespace is switched to Enforce, the same calls succeed
// and others are denied; then why and status against the same cluster.
func testKubectlEgress(t *testing.T, ctx context.Context, c *cluster.Cluster) {
	begin := time.Now()
	plugin, err := e2e.BuildPlugin(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kubectl := func(stdin string, args ...string) string {
		t.Helper()
		out, err := c.Kubectl(ctx, stdin, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	egress := func(args ...string) (string, string) {
		t.Helper()
		out, errOut, err := plugin.Run(ctx, c, append(args, "--as", e2e.PluginUser)...)
		if err != nil {
			t.Fatal(err)
		}
		return out, errOut
	}
	if err := e2e.EnableNamespace(ctx, c, e2e.OrdersNamespace); err != nil {
		t.Fatal(err)
	}
	kubectl(e2e.PluginUserRBAC, "apply", "-f", "-")
	kubectl(e2e.OrdersObserve, "apply", "-f", "-")
	kubectl(e2e.OrdersDeployment, "apply", "-f", "-")
	kubectl("", "-n", e2e.OrdersNamespace, "rollout", "status", "deployment/orders", "--timeout=120s")
	pods := readyPods(t, ctx, c, e2e.OrdersNamespace, "app=orders", 2)
	a, b := pods[0], pods[1]

	help, _ := egress("--help")
	expect(t, strings.Contains(help, "kubectl egress suggest"), "kubectl egress --help through kubectl", help, nil)

	// Audit mode: everything goes through and is recorded as a would-be denial.
	calls := []struct {
		pod  *corev1.Pod
		args []string
		want string
	}{
		{a, []string{"http://api.example.test/"}, "hello from api.example.test over plain HTTP\n"},
		{a, []string{"https://api.example.test/"}, "hello from api.example.test over verified TLS\n"},
		{b, []string{"http://api.example.test/"}, "hello from api.example.test over plain HTTP\n"},
		{b, []string{"-o", "/dev/null", "-w", "%{http_code}", "http://198.18.0.2/"}, ""},
	}
	run := func(what string) {
		t.Helper()
		for _, call := range calls {
			out, err := e2e.Curl(ctx, c, call.pod, call.args...)
			expect(t, err == nil && (call.want == "" || out == call.want), what+": "+strings.Join(call.args, " "), out, err)
		}
	}
	run("audit mode")
	// An audited call to a port nothing listens on: an upstream error (for the dashboard).
	out, err := e2e.Curl(ctx, c, b, "-i", "http://api.example.test:8080/")
	expect(t, err == nil && strings.Contains(out, "HTTP/1.1 50"), "an audited call to a closed port: an upstream error", out, err)

	suggested, warnings := egress("suggest", "deployment/orders", "-n", e2e.OrdersNamespace)
	t.Logf("kubectl egress suggest deployment/orders -n orders:\n%s%s", suggested, warnings)
	for _, want := range []string{
		"name: orders-egress", "namespace: orders", "matchLabels:\n      app: orders",
		"  # audited 2 times (http) by 2 pods, first ",
		"  - api.example.test:80\n", "  - api.example.test:443\n", "  - api.example.test:8080\n", "  - 198.18.0.2:80\n",
	} {
		expect(t, strings.Contains(suggested, want), "suggest prints "+want, suggested, nil)
	}
	if i, j := strings.Index(suggested, "api.example.test:80\n"), strings.Index(suggested, "198.18.0.2:80"); i < 0 || j < i {
		t.Errorf("targets are not sorted, names before addresses:\n%s", suggested)
	}
	kubectl(suggested, "apply", "-f", "-")
	kubectl("", "-n", e2e.OrdersNamespace, "patch", "ers", "observe", "--type=merge", "-p", `{"spec":{"mode":"Enforce"}}`)
	waitFor(t, "Enforce: other.example.test denied", 20*time.Second, func() bool {
		out, err := e2e.Curl(ctx, c, a, "-i", "http://other.example.test/")
		return err == nil && strings.Contains(out, "403 Forbidden")
	})
	run("enforced with the suggested rule set")
	for _, p := range []*corev1.Pod{a, b} {
		out, err := e2e.Curl(ctx, c, p, "https://other.example.test/")
		expect(t, err != nil, "https://other.example.test/ denied", out, err)
		out, err = e2e.Curl(ctx, c, p, "-i", "http://other.example.test/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden"), "http://other.example.test/ denied", out, err)
	}
	again, warnings := egress("suggest", "deployment/orders", "-n", e2e.OrdersNamespace, "-o", "table")
	t.Logf("kubectl egress suggest again, after enforcing (table):\n%s%s", again, warnings)
	expect(t, strings.Contains(again, "other.example.test:80") && strings.Contains(again, "other.example.test:443") &&
		!strings.Contains(again, "api.example.test:443"), "a second suggest names only what is denied now", again, nil)

	whyText, _ := egress("why", "-n", e2e.OrdersNamespace, "pod/"+a.Name, "api.example.test:443")
	t.Logf("kubectl egress why -n orders pod/%s api.example.test:443:\n%s", a.Name, whyText)
	expect(t, strings.Contains(whyText, "allow") && strings.Contains(whyText, "orders/orders-egress") &&
		strings.Contains(whyText, `allowed by target "api.example.test:443" of rule set orders/orders-egress`), "why: allowed", whyText, nil)
	whyJSON, _ := egress("why", "-n", e2e.OrdersNamespace, "pod/"+a.Name, "other.example.test:443", "-o", "json")
	var why kubectlegress.Explanation
	if err := json.Unmarshal([]byte(whyJSON), &why); err != nil {
		t.Fatal(err)
	}
	if why.Decision != "deny" || why.Suggestion != "other.example.test:443" || why.GlobalNS != e2e.SystemNamespace ||
		strings.Join(why.SelectedBy, ",") != "orders/observe,orders/orders-egress" {
		t.Errorf("why other.example.test:443: %+v", why)
	}

	var st kubectlegress.Status
	waitFor(t, "status: both sidecars in sync with the live rule sets, both accepted", 30*time.Second, func() bool {
		out, _, err := plugin.Run(ctx, c, "status", "-n", e2e.OrdersNamespace, "-o", "json", "--as", e2e.PluginUser)
		if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Pods) != 2 || len(st.RuleSets) != 2 {
			return false
		}
		for _, p := range st.Pods {
			if !p.Ready || !p.InSync || p.Mode != "Enforce" {
				return false
			}
		}
		return st.RuleSets[0].Accepted == "True" && st.RuleSets[1].Accepted == "True"
	})
	table, _ := egress("status", "-n", e2e.OrdersNamespace)
	t.Logf("kubectl egress status -n orders:\n%s", table)
	var top []string
	for _, tt := range st.Top {
		top = append(top, tt.Target+" "+strings.Join(tt.Decisions, ","))
	}
	expect(t, strings.Contains(strings.Join(top, "\n"), "other.example.test:80 deny"), "status: top denied", strings.Join(top, "\n"), nil)

	// RBAC: without the bindings the plugin is refused, and says what it needs.
	for _, as := range []string{"nobody"} {
		_, _, err := plugin.Run(ctx, c, "status", "-n", e2e.OrdersNamespace, "--as", as)
		expect(t, err != nil && strings.Contains(err.Error(), "forbidden") && strings.Contains(err.Error(), "kubectl-egress ClusterRole"),
			"a user without the role is refused", "", err)
	}
	_, _, err = plugin.Run(ctx, c, "suggest", "deployment/checkout", "-n", e2e.Namespace, "--as", e2e.PluginUser)
	expect(t, err != nil && strings.Contains(err.Error(), "forbidden"), "the role is bound in orders only", "", err)
	t.Logf("kubectl egress loop: %v", time.Since(begin).Round(100*time.Millisecond))
}

// testDashboard runs every query of the shipped dashboard against the real Prometheus, which scrapes the
// pods (the kubectl egress story's among them), and checks the shipped alerting rules loaded and evaluate.
func testDashboard(t *testing.T, ctx context.Context, prom *e2e.Prometheus) {
	queries, err := monitoring.Queries(monitoring.Dir() + "/" + monitoring.DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		expr := monitoring.Expand(q.Expr, ".*", "1m", "1h")
		waitFor(t, "data for dashboard panel "+q.Panel+": "+expr, 90*time.Second, func() bool {
			n, err := prom.Series(ctx, expr)
			return err == nil && n > 0
		})
	}
	t.Logf("%d dashboard queries returned data", len(queries))
	waitFor(t, "the alerting rules loaded and evaluated", 30*time.Second, func() bool {
		rules, err := prom.Rules(ctx)
		if err != nil || len(rules) != 7 {
			return false
		}
		for _, r := range rules {
			if r.Health != "ok" {
				return false
			}
		}
		return true
	})
}

// readyPods waits for n Ready pods matching selector in ns.
func readyPods(t *testing.T, ctx context.Context, c *cluster.Cluster, ns, selector string, n int) []*corev1.Pod {
	t.Helper()
	var ready []*corev1.Pod
	waitFor(t, "Ready pods "+selector, 120*time.Second, func() bool {
		var err error
		ready, err = e2e.ReadyPods(ctx, c, ns, selector)
		return err == nil && len(ready) == n
	})
	return ready
}
