package e2e_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/internal/cluster"
	"egress.io/egress/internal/e2e"
)

// testGateway runs an EgressGateway on the node: the webhook deploys it from the manifests' RBAC and the
// product's one sidecar image; the world then accepts connections only from the gateway pods' addresses
// (iptables in the world's namespace), and the app reaches other.example.test through the gateway (TLS
// passthrough and .egress.local origination) while its direct call to api.example.test is refused by the
// world. The gateway's log names the app's pod. Deleting the gateway: the rule set says GatewayNotFound, the
// garbage collector removes its Deployment, and the app's calls fail with 502 naming the gateway, never
// directly.
func testGateway(t *testing.T, ctx context.Context, c *cluster.Cluster, app *corev1.Pod, curl func(...string) (string, error)) {
	kubectl := func(stdin string, args ...string) string {
		t.Helper()
		out, err := c.Kubectl(ctx, stdin, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	kubectl(e2e.GatewayObject, "apply", "-f", "-")
	t.Cleanup(func() {
		c.Kubectl(ctx, "", "delete", "egressgateway", "-n", e2e.SystemNamespace, "partners", "--ignore-not-found")
	})
	var gateways []corev1.Pod
	waitFor(t, "two gateway pods ready", 180*time.Second, func() bool {
		list, err := c.Client.CoreV1().Pods(e2e.SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: "egress.io/gateway=partners"})
		if err != nil {
			return false
		}
		gateways = gateways[:0]
		for _, p := range list.Items {
			if e2e.PodReady(&p) && p.Status.PodIP != "" {
				gateways = append(gateways, p)
			}
		}
		return len(gateways) == 2
	})
	waitFor(t, "the gateway Available", 30*time.Second, func() bool {
		out, _ := c.Kubectl(ctx, "", "get", "egressgateway", "-n", e2e.SystemNamespace, "partners", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}/{.status.readyReplicas}`)
		return out == "Available/2"
	})

	// The world accepts only the gateways from now on.
	rules := [][]string{{"-p", "tcp", "-m", "multiport", "--dports", "80,443", "-j", "REJECT", "--reject-with", "tcp-reset"}}
	for _, p := range gateways {
		rules = append(rules, []string{"-p", "tcp", "-s", p.Status.PodIP, "-j", "ACCEPT"})
	}
	for _, r := range rules {
		worldIptables(t, c, append([]string{"-I", "INPUT", "1"}, r...)...)
	}
	t.Cleanup(func() {
		for _, r := range rules {
			_ = exec.Command("ip", append([]string{"netns", "exec", c.WorldNetns, "iptables", "-D", "INPUT"}, r...)...).Run()
		}
	})

	kubectl(e2e.GatewayRuleSet, "apply", "-f", "-")
	t.Cleanup(func() { c.Kubectl(ctx, "", "delete", "ers", "-n", e2e.Namespace, "via-partners", "--ignore-not-found") })
	waitFor(t, "through the gateway", 20*time.Second, func() bool {
		out, err := curl("https://other.example.test/")
		return err == nil && out == "hello from other.example.test over verified TLS\n"
	})
	out, err := curl("http://other.example.test.egress.local/")
	expect(t, err == nil && out == "hello from other.example.test over verified TLS\n", "origination through the gateway", out, err)
	out, err = curl("https://api.example.test/")
	expect(t, err != nil, "the app's own direct call refused by the world", out, err)
	var logs string
	for _, p := range gateways {
		l, _ := e2e.Logs(ctx, c, &p, "gateway")
		logs += l
	}
	expect(t, strings.Contains(logs, `"msg":"gateway allow"`) && strings.Contains(logs, `"source_pod":"`+app.Name+`"`),
		"the gateway's decision log names the app's pod", logs, nil)
	lines, _ := e2e.MetricLines(ctx, c, app, "egress_gateway_tunnels_total")
	expect(t, strings.Contains(lines, `gateway="partners"`) && strings.Contains(lines, `result="ok"`), "the sidecar's tunnels metric", lines, nil)

	kubectl("", "delete", "egressgateway", "-n", e2e.SystemNamespace, "partners")
	waitFor(t, "GatewayNotFound on the rule set", 20*time.Second, func() bool {
		out, _ := c.Kubectl(ctx, "", "get", "ers", "-n", e2e.Namespace, "via-partners", "-o", `jsonpath={.status.conditions[?(@.type=="Gateway")].reason}`)
		return out == "GatewayNotFound"
	})
	waitFor(t, "the garbage collector removes the gateway's Deployment and Service, and its pods are gone", 90*time.Second, func() bool {
		_, err := c.Kubectl(ctx, "", "get", "deployment,service", "-n", e2e.SystemNamespace, "egress-gateway-partners")
		list, lerr := c.Client.CoreV1().Pods(e2e.SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: "egress.io/gateway=partners"})
		return err != nil && lerr == nil && len(list.Items) == 0
	})
	// (A sidecar still holding the Service's address waits out --connect-timeout per attempt: a longer curl.)
	out, err = curl("--max-time", "20", "-i", "http://other.example.test.egress.local/")
	if !(err == nil && strings.Contains(out, "502 Bad Gateway") && strings.Contains(out, "gateway partners")) {
		logs, _ := e2e.Logs(ctx, c, app, "egress-sidecar")
		previous, _ := c.Kubectl(ctx, "", "logs", "-n", app.Namespace, app.Name, "-c", "egress-sidecar", "--previous", "--tail", "60")
		state, _ := c.Kubectl(ctx, "", "get", "pod", "-n", app.Namespace, app.Name, "-o", "jsonpath={.status.initContainerStatuses[1]}")
		t.Errorf("a deleted gateway: 502 naming it: got %q, %v\nsidecar log (end):\n%s\nprevious sidecar log:\n%s\nsidecar status: %s", out, err, tail(logs, 15), previous, state)
	}
	out, err = curl("https://other.example.test/")
	expect(t, err != nil, "a deleted gateway: TLS closed, never direct", out, err)
}

func worldIptables(t *testing.T, c *cluster.Cluster, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"netns", "exec", c.WorldNetns, "iptables"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables %s in the world: %v: %s", strings.Join(args, " "), err, out)
	}
}
