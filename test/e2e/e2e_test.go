package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/internal/cluster"
	"egress.io/egress/internal/e2e"
)

func TestOnARealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node; not run with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the end-to-end test needs root (a real node: namespaces, cgroups, mounts); euid is %d", os.Geteuid())
	}
	if _, err := cluster.AssetsDir(); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env, err := e2e.Setup(ctx, e2e.Options{Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	c := env.Cluster
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node diagnostics:\n%s", c.Diagnostics())
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the node: %v", err)
		}
	})
	t.Logf("node Ready in %v, images imported at %v, product installed at %v",
		env.NodeReady.Round(100*time.Millisecond), env.ImagesReady.Round(100*time.Millisecond), env.Installed.Round(100*time.Millisecond))
	kubectl := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		out, err := c.Kubectl(ctx, stdin, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	if err := e2e.EnableNamespace(ctx, c, e2e.Namespace); err != nil {
		t.Fatal(err)
	}
	kubectl(t, e2e.AppDeployment, "apply", "-f", "-")
	app, err := e2e.ReadyPod(ctx, c, e2e.Namespace, "app=checkout")
	if err != nil {
		t.Fatalf("%v\n%s", err, describe(ctx, c))
	}
	assertInjected(t, app)
	curl := func(args ...string) (string, error) { return e2e.Curl(ctx, c, app, args...) }

	t.Run("the sidecar gets its policy from the policy service, and the pod may read no rule sets", func(t *testing.T) {
		args := strings.Join(app.Spec.InitContainers[1].Args, " ")
		expect(t, strings.Contains(args, "--policy-service=https://egress-policy.egress-system.svc") && !strings.Contains(args, "--kube"),
			"the sidecar's policy source", args, nil)
		for _, ns := range []string{"shop", e2e.SystemNamespace} {
			out, _ := c.Kubectl(ctx, "", "auth", "can-i", "list", "egressrulesets.egress.io", "-n", ns, "--as=system:serviceaccount:shop:default")
			expect(t, strings.TrimSpace(out) == "no", "shop's service account listing rule sets in "+ns, out, nil)
		}
		waitFor(t, "the policy stream open", 30*time.Second, func() bool { return sidecarMetric(t, ctx, c, app, "egress_policy_service_connected") == 1 })
	})

	t.Run("no rule set: everything is denied, with an explanation, and nothing reaches the world", func(t *testing.T) {
		before := worldConnections(t, c)
		out, err := curl("-i", "http://api.example.test/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden") &&
			strings.Contains(out, `X-Egress-Denied: api.example.test:80; allow with target "api.example.test:80"`), "plain HTTP", out, err)
		out, err = curl("-i", "http://api.example.test.egress.local/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden") && strings.Contains(out, "api.example.test:443"), "egress.local", out, err)
		out, err = curl("https://api.example.test/")
		expect(t, err != nil, "HTTPS must be closed", out, err)
		logs, _ := e2e.Logs(ctx, c, app, e2e.AppContainer)
		expect(t, strings.Contains(logs, "startup call:") && !strings.Contains(logs, "hello from"), "the startup call was denied", logs, nil)
		if after := worldConnections(t, c); after != before {
			t.Errorf("%d connections reached the world while everything was denied", after-before)
		}
	})

	t.Run("a rule set allows api.example.test:443 live: origination and passthrough", func(t *testing.T) {
		kubectl(t, e2e.AllowAPIRuleSet, "apply", "-f", "-")
		applied := time.Now()
		var out string
		var err error
		for {
			out, err = curl("http://api.example.test.egress.local/")
			if err == nil && out == "hello from api.example.test over verified TLS\n" {
				break
			}
			if time.Since(applied) > 5*time.Second {
				t.Fatalf("not allowed 5s after kubectl apply: %q, %v", out, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("enforced %v after kubectl apply returned (each check is a kubectl exec)", time.Since(applied).Round(time.Millisecond))
		out, err = curl("https://api.example.test/")
		expect(t, err == nil && out == "hello from api.example.test over verified TLS\n", "HTTPS passthrough", out, err)
		out, err = curl("-i", "http://api.example.test/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden"), "port 80 is still denied", out, err)
		out, err = curl("https://other.example.test/")
		expect(t, err != nil, "other.example.test is not allowed", out, err)
		waitFor(t, "Accepted=True on the rule set", 10*time.Second, func() bool {
			out, _ := c.Kubectl(ctx, "", "get", "ers", "-n", "shop", "payments-deps", "-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].status}`)
			return out == "True"
		})
	})

	t.Run("the app's first connection at startup succeeds: no race with the sidecar", func(t *testing.T) {
		old := app.Name
		kubectl(t, "", "-n", "shop", "rollout", "restart", "deployment/checkout")
		kubectl(t, "", "-n", "shop", "rollout", "status", "deployment/checkout", "--timeout=120s")
		waitFor(t, "the restarted pod", 60*time.Second, func() bool {
			p, err := e2e.ReadyPod(ctx, c, "shop", "app=checkout")
			if err == nil && p.Name != old {
				app = p
			}
			return app.Name != old
		})
		waitFor(t, "the new pod's startup call", 30*time.Second, func() bool {
			logs, _ := e2e.Logs(ctx, c, app, e2e.AppContainer)
			return strings.Contains(logs, "startup call: hello from api.example.test over verified TLS")
		})
	})

	t.Run("a Job completes: its native sidecar never keeps it alive", func(t *testing.T) {
		kubectl(t, e2e.ReportJob, "apply", "-f", "-")
		kubectl(t, "", "-n", "shop", "wait", "--for=condition=Complete", "job/report", "--timeout=120s")
		out := kubectl(t, "", "-n", "shop", "logs", "job/report", "-c", "app")
		expect(t, out == "hello from api.example.test over verified TLS\n", "the Job's call", out, nil)
	})

	t.Run("relabelling the pod re-selects its rule sets", func(t *testing.T) {
		for _, step := range []struct{ label, want string }{{"app=web", "403 Forbidden"}, {"app=checkout", "200 OK"}} {
			kubectl(t, "", "label", "pod", "-n", "shop", app.Name, step.label, "--overwrite")
			waitFor(t, step.label+": "+step.want, 30*time.Second, func() bool {
				out, err := curl("-i", "http://api.example.test.egress.local/")
				return err == nil && strings.Contains(out, step.want)
			})
		}
	})

	t.Run("an Audit rule set lets denied calls through and reports them; deleting it enforces again", func(t *testing.T) {
		kubectl(t, e2e.AuditRuleSet, "apply", "-f", "-")
		waitFor(t, "audit mode", 10*time.Second, func() bool {
			out, err := curl("http://api.example.test/")
			return err == nil && out == "hello from api.example.test over plain HTTP\n"
		})
		metrics, err := e2e.MetricLines(ctx, c, app, "egress_http_requests_total")
		expect(t, err == nil && strings.Contains(metrics, `decision="audit"`), "audit in metrics", metrics, err)
		logs, err := e2e.Logs(ctx, c, app, "egress-sidecar")
		expect(t, err == nil && strings.Contains(logs, `"decision":"audit"`), "audit in the sidecar's log", logs, err)
		kubectl(t, "", "delete", "ers", "-n", "shop", "observe")
		waitFor(t, "enforcement after deleting the audit rule set", 10*time.Second, func() bool {
			out, err := curl("-i", "http://api.example.test/")
			return err == nil && strings.Contains(out, "403 Forbidden")
		})
	})

	t.Run("kubectl egress: an audit-mode Deployment's calls become a rule set, applied and enforced; why and status", func(t *testing.T) {
		testKubectlEgress(t, ctx, c)
	})

	var prom *e2e.Prometheus
	t.Run("Prometheus discovers the pods by their annotations and scrapes their decisions", func(t *testing.T) {
		var err error
		prom, err = e2e.StartPrometheus(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, decision := range []string{"allow", "deny", "audit"} {
			query := `sum(egress_http_requests_total{namespace="shop",pod="` + app.Name + `",decision="` + decision + `"})`
			waitFor(t, query, 60*time.Second, func() bool {
				v, err := prom.Query(ctx, query)
				return err == nil && v > 0
			})
		}
	})

	t.Run("the shipped dashboard's queries return data from the real Prometheus; the shipped alerting rules load", func(t *testing.T) {
		if prom == nil {
			t.Fatal("no Prometheus")
		}
		testDashboard(t, ctx, prom)
	})

	t.Run("an EgressGateway on the node: the world accepts only it, the app reaches it through the gateway, never directly", func(t *testing.T) {
		testGateway(t, ctx, c, app, curl)
	})

	t.Run("the sidecar killed: connections refused, nothing reaches the world, the kubelet restarts it", func(t *testing.T) {
		testDeadSidecar(t, ctx, c, app, curl)
	})

	t.Run("the controller's pods deleted: running pods enforce the same policy; a rule change reaches them within a second once it is back", func(t *testing.T) {
		testControllerRestart(t, ctx, c, app, curl)
	})

	t.Run("the webhook scaled to zero: pods of enabled namespaces are refused, never created uninjected", func(t *testing.T) {
		kubectl(t, "", "-n", e2e.SystemNamespace, "scale", "deployment/"+e2e.WebhookName, "--replicas=0")
		waitFor(t, "no webhook pod", 60*time.Second, func() bool {
			pods, err := c.Client.CoreV1().Pods(e2e.SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=egress-webhook"})
			return err == nil && len(pods.Items) == 0
		})
		_, err := c.Kubectl(ctx, e2e.BarePod("shop", "while-down"), "apply", "-f", "-")
		expect(t, err != nil && strings.Contains(err.Error(), "failed calling webhook"), "refused while the webhook is down", "", err)
		if _, err := c.Client.CoreV1().Pods("shop").Get(ctx, "while-down", metav1.GetOptions{}); err == nil {
			t.Error("a pod was created while the webhook was down")
		}
		// With the policy service down too, the running pod enforces its last policy, stays Ready and says
		// how stale the policy is.
		out, err := curl("http://api.example.test.egress.local/")
		expect(t, err == nil && out == "hello from api.example.test over verified TLS\n", "allowed while the service is down", out, err)
		out, err = curl("-i", "http://api.example.test/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden"), "denied while the service is down", out, err)
		waitFor(t, "a stale policy reported", 30*time.Second, func() bool {
			return sidecarMetric(t, ctx, c, app, "egress_policy_stale_seconds") > 0
		})
		ready, err := e2e.Admin(ctx, c, app, "/ready")
		expect(t, err == nil && strings.HasPrefix(ready, "ready\npolicy stale for "), "/ready while the service is down", ready, err)
		t.Logf("/ready with the policy service down: %q", ready)
		p, err := c.Client.CoreV1().Pods("shop").Get(ctx, app.Name, metav1.GetOptions{})
		expect(t, err == nil && e2e.PodReady(p), "the app stays Ready while the service is down", "", err)
		kubectl(t, "", "-n", e2e.SystemNamespace, "scale", "deployment/"+e2e.WebhookName, "--replicas=2")
		kubectl(t, "", "-n", e2e.SystemNamespace, "rollout", "status", "deployment/"+e2e.WebhookName, "--timeout=120s")
	})

	t.Run("the webhook's pods restarted: every pod created meanwhile is refused or injected", func(t *testing.T) {
		kubectl(t, "", "-n", e2e.SystemNamespace, "delete", "pods", "-l", "app.kubernetes.io/name=egress-webhook", "--wait=false")
		refused, created := 0, 0
		deadline := time.Now().Add(90 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			name := fmt.Sprintf("during-restart-%d", i)
			if _, err := c.Kubectl(ctx, e2e.BarePod("shop", name), "apply", "-f", "-"); err != nil {
				expect(t, strings.Contains(err.Error(), "failed calling webhook"), "the refusal names the webhook", "", err)
				refused++
			} else {
				created++
				pod, err := c.Client.CoreV1().Pods("shop").Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				assertInjected(t, pod)
			}
			d, err := c.Client.AppsV1().Deployments(e2e.SystemNamespace).Get(ctx, e2e.WebhookName, metav1.GetOptions{})
			if created > 0 && err == nil && d.Status.ReadyReplicas == 2 && d.Status.UpdatedReplicas == 2 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("while the webhook restarted: %d pods refused, %d created injected", refused, created)
		if created == 0 {
			t.Error("no pod could be created after the webhook came back")
		}
		kubectl(t, "", "-n", "shop", "delete", "pods", "-l", "app=probe", "--wait=false")
	})

	t.Run("PodSecurity: baseline refuses injected pods and says why; privileged runs them", func(t *testing.T) {
		if err := e2e.EnableNamespace(ctx, c, "shop-baseline", "pod-security.kubernetes.io/enforce=baseline"); err != nil {
			t.Fatal(err)
		}
		_, err := c.Kubectl(ctx, e2e.BarePod("shop-baseline", "app"), "apply", "-f", "-")
		expect(t, err != nil && strings.Contains(err.Error(), `violates PodSecurity "baseline`) &&
			strings.Contains(err.Error(), `container "egress-init" must not include "NET_ADMIN"`), "baseline names egress-init and NET_ADMIN", "", err)
		t.Logf("baseline: %v", err)
		if err := e2e.EnableNamespace(ctx, c, "shop-privileged", "pod-security.kubernetes.io/enforce=privileged"); err != nil {
			t.Fatal(err)
		}
		kubectl(t, e2e.BarePod("shop-privileged", "app"), "apply", "-f", "-")
		kubectl(t, "", "-n", "shop-privileged", "wait", "--for=condition=Ready", "pod/app", "--timeout=120s")
	})
	t.Logf("end-to-end on a real node: %v", time.Since(begin).Round(time.Second))
}

// testControllerRestart deletes the webhook's pods (the policy service's replicas) and checks, until both
// replacements are ready, that the running pod allows and denies exactly as before and stays Ready; then,
// once its sidecar has reconnected, that a new rule set is enforced within a second of kubectl apply
// (measured by the sidecar's own reload timestamp).
func testControllerRestart(t *testing.T, ctx context.Context, c *cluster.Cluster, app *corev1.Pod, curl func(...string) (string, error)) {
	snapshots := sidecarMetric(t, ctx, c, app, "egress_policy_snapshots_total")
	kubectl := func(stdin string, args ...string) {
		t.Helper()
		if _, err := c.Kubectl(ctx, stdin, args...); err != nil {
			t.Fatal(err)
		}
	}
	old, err := c.Client.CoreV1().Pods(e2e.SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=egress-webhook"})
	if err != nil {
		t.Fatal(err)
	}
	kubectl("", "-n", e2e.SystemNamespace, "delete", "pods", "-l", "app.kubernetes.io/name=egress-webhook", "--wait=false")
	begin := time.Now()
	checks := 0
	for {
		out, err := curl("http://api.example.test.egress.local/")
		expect(t, err == nil && out == "hello from api.example.test over verified TLS\n", "allowed while the controller restarts", out, err)
		out, err = curl("-i", "http://api.example.test/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden"), "denied while the controller restarts", out, err)
		p, err := c.Client.CoreV1().Pods("shop").Get(ctx, app.Name, metav1.GetOptions{})
		expect(t, err == nil && e2e.PodReady(p), "the app stays Ready while the controller restarts", "", err)
		checks++
		if replaced(ctx, c, old.Items) {
			break
		}
		if time.Since(begin) > 3*time.Minute {
			t.Fatal("the webhook's pods were not replaced within 3 minutes")
		}
	}
	t.Logf("%d allow/deny/Ready checks while the controller restarted (%v)", checks, time.Since(begin).Round(100*time.Millisecond))
	waitFor(t, "the sidecar to reconnect", 30*time.Second, func() bool {
		return sidecarMetric(t, ctx, c, app, "egress_policy_service_connected") == 1
	})
	t.Logf("sidecar reconnected %v after the pods were deleted; snapshots received meanwhile: %v (resumed with its version)",
		time.Since(begin).Round(100*time.Millisecond), sidecarMetric(t, ctx, c, app, "egress_policy_snapshots_total")-snapshots)

	applied := time.Now()
	kubectl(allowPort80, "apply", "-f", "-")
	var reload float64
	waitFor(t, "the new rule set in the sidecar", 10*time.Second, func() bool {
		reload = sidecarMetric(t, ctx, c, app, "egress_policy_last_reload_timestamp_seconds")
		return reload >= float64(applied.UnixNano())/1e9
	})
	took := time.Duration((reload - float64(applied.UnixNano())/1e9) * float64(time.Second))
	t.Logf("a rule set applied after the restart was enforced %v after kubectl apply began", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the rule change took %v to reach the running pod, want at most 1s", took)
	}
	out, err := curl("http://api.example.test/")
	expect(t, err == nil && out == "hello from api.example.test over plain HTTP\n", "port 80 allowed by the new rule set", out, err)
	kubectl("", "delete", "ers", "-n", "shop", "allow-port-80")
	waitFor(t, "port 80 denied again", 10*time.Second, func() bool {
		out, err := curl("-i", "http://api.example.test/")
		return err == nil && strings.Contains(out, "403 Forbidden")
	})
}

// allowPort80 is a rule set that testControllerRestart applies after the restart.
const allowPort80 = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: allow-port-80, namespace: shop}
spec:
  podSelector: {matchLabels: {app: checkout}}
  targets: ["api.example.test:80"]
`

// replaced says whether the webhook Deployment has two ready pods, none of them one of old.
func replaced(ctx context.Context, c *cluster.Cluster, old []corev1.Pod) bool {
	pods, err := c.Client.CoreV1().Pods(e2e.SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=egress-webhook"})
	if err != nil {
		return false
	}
	ready := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		for _, o := range old {
			if o.UID == p.UID {
				return false
			}
		}
		if p.DeletionTimestamp == nil && e2e.PodReady(p) {
			ready++
		}
	}
	return ready == 2
}

// sidecarMetric reads one unlabelled series from the pod's sidecar /metrics (-1 when absent).
func sidecarMetric(t *testing.T, ctx context.Context, c *cluster.Cluster, pod *corev1.Pod, name string) float64 {
	t.Helper()
	lines, err := e2e.MetricLines(ctx, c, pod, name+" ")
	if err != nil {
		return -1
	}
	var v float64
	if _, err := fmt.Sscanf(strings.TrimPrefix(strings.TrimSpace(lines), name+" "), "%g", &v); err != nil {
		return -1
	}
	return v
}

// testDeadSidecar kills the sidecar container until a check runs while it is down: the kubelet restarts a
// native sidecar at once the first time, then after a back-off.
func testDeadSidecar(t *testing.T, ctx context.Context, c *cluster.Cluster, app *corev1.Pod, curl func(...string) (string, error)) {
	sidecar := func() corev1.ContainerStatus {
		p, err := c.Client.CoreV1().Pods(app.Namespace).Get(ctx, app.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, ok := e2e.ContainerStatus(p, "egress-sidecar")
		if !ok {
			t.Fatal("no egress-sidecar status")
		}
		return s
	}
	checked := false
	for attempt := 0; attempt < 4 && !checked; attempt++ {
		s := sidecar()
		if s.State.Running == nil {
			waitFor(t, "the sidecar running", 60*time.Second, func() bool { return sidecar().State.Running != nil })
			s = sidecar()
		}
		if err := c.KillContainer(ctx, s.ContainerID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the kubelet to see the sidecar exit", 30*time.Second, func() bool {
			now := sidecar()
			return now.State.Running == nil || now.RestartCount > s.RestartCount
		})
		down := sidecar()
		if down.State.Running != nil {
			continue // already restarted: kill again, into the back-off
		}
		before := worldConnections(t, c)
		type result struct {
			what, out string
			err       error
		}
		var results []result
		out, err := curl("http://api.example.test/")
		results = append(results, result{"DNS", out, err})
		for _, r := range []struct{ resolve, url string }{
			{"api.example.test.egress.local:80:240.0.0.1", "http://api.example.test.egress.local/"},
			{"api.example.test:443:198.18.0.2", "https://api.example.test/"},
			{"api.example.test:80:198.18.0.2", "http://api.example.test/"},
		} {
			out, err := curl("--resolve", r.resolve, r.url)
			results = append(results, result{r.url, out, err})
		}
		after := worldConnections(t, c)
		if now := sidecar(); now.State.Running != nil || now.RestartCount != down.RestartCount {
			continue // it came back during the checks: kill again
		}
		checked = true
		t.Logf("checked with the sidecar down (restart count %d)", down.RestartCount)
		expect(t, results[0].err != nil && strings.Contains(results[0].err.Error(), "Could not resolve host"), "DNS must fail", results[0].out, results[0].err)
		for _, r := range results[1:] {
			// curl's exit status 7: the connection was refused (RST from the redirect to a closed port).
			expect(t, r.err != nil && strings.Contains(r.err.Error(), "exit code 7"), r.what+" must be refused", r.out, r.err)
		}
		if after != before {
			t.Errorf("%d connections reached the world with the sidecar dead", after-before)
		}
	}
	if !checked {
		t.Fatal("the sidecar was never seen down long enough to check")
	}
	waitFor(t, "the restarted sidecar to serve", 90*time.Second, func() bool {
		out, err := curl("http://api.example.test.egress.local/")
		return err == nil && out == "hello from api.example.test over verified TLS\n"
	})
}

// assertInjected checks what the webhook wrote: egress-init, then the native sidecar, before the app.
func assertInjected(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "egress-init,egress-sidecar" {
		t.Fatalf("pod %s: init containers = %v, want egress-init then egress-sidecar", pod.Name, names)
	}
	sidecar := pod.Spec.InitContainers[1]
	if sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("egress-sidecar is not a native sidecar: %+v", sidecar.RestartPolicy)
	}
	if pod.Annotations["prometheus.io/scrape"] != "true" || pod.Annotations["egress.io/injected"] == "" {
		t.Fatalf("annotations = %v", pod.Annotations)
	}
}

func worldConnections(t *testing.T, c *cluster.Cluster) int {
	t.Helper()
	n, err := c.WorldConnections()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func describe(ctx context.Context, c *cluster.Cluster) string {
	out, _ := c.Kubectl(ctx, "", "get", "pods", "-A", "-o", "wide")
	events, _ := c.Kubectl(ctx, "", "get", "events", "-A", "--sort-by=.lastTimestamp")
	return out + "\n" + tail(events, 40)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func expect(t *testing.T, ok bool, what, out string, err error) {
	t.Helper()
	if !ok {
		t.Errorf("%s: got %q, %v", what, out, err)
	}
}

// testWriter sends progress lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
