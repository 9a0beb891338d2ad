package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"egress.io/egress/internal/e2e"
	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
)

func TestInjectedPodEndToEnd(t *testing.T) {
	netnstest.SkipIfShort(t)
	netnstest.RequireRoot(t)
	netnstest.RequireCommands(t, "prometheus")
	env := e2e.Setup(t, bin)
	env.Cluster.EnableNamespace(t, "shop")

	pod := env.CreatePod(t, "shop", e2e.PodManifest)
	assertInjected(t, pod)
	logs := map[string]*testworld.SyncBuffer{}
	running := env.RunPod(t, pod, func(container string) *testworld.SyncBuffer {
		if logs[container] == nil {
			logs[container] = &testworld.SyncBuffer{}
		}
		return logs[container]
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sidecar log:\n%s", logs["egress-sidecar"])
		}
	})
	running.WaitReady(t, "egress-sidecar")
	app := env.WrapPod(running)

	t.Run("no rule set: everything is denied and nothing reaches the world", func(t *testing.T) {
		before := env.World.Connections(t)
		out, err := app.Curl("-i", "http://api.example.test/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden") &&
			strings.Contains(out, `X-Egress-Denied: api.example.test:80; allow with target "api.example.test:80"`), "plain HTTP", out, err)
		out, err = app.Curl("-i", "http://api.example.test.egress.local/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden") && strings.Contains(out, "api.example.test:443"), "egress.local", out, err)
		out, err = app.Curl("https://api.example.test/")
		expect(t, err != nil, "HTTPS must be closed", out, err)
		if after := env.World.Connections(t); after != before {
			t.Errorf("%d connections reached the world while everything was denied", after-before)
		}
	})

	t.Run("a rule set allows api.example.test:443 within a second", func(t *testing.T) {
		env.Cluster.Kubectl(t, e2e.AllowAPIRuleSet, "apply", "-f", "-")
		applied := time.Now()
		var out string
		var err error
		for {
			out, err = app.Curl("http://api.example.test.egress.local/")
			if err == nil && out == "hello from api.example.test over verified TLS\n" {
				break
			}
			if time.Since(applied) > time.Second {
				t.Fatalf("not allowed a second after kubectl apply: %q, %v", out, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("enforced %v after kubectl apply returned", time.Since(applied).Round(time.Millisecond))
		out, err = app.Curl("https://api.example.test/")
		expect(t, err == nil && out == "hello from api.example.test over verified TLS\n", "HTTPS passthrough", out, err)
		out, err = app.Curl("-i", "http://api.example.test/")
		expect(t, err == nil && strings.Contains(out, "403 Forbidden"), "port 80 is still denied", out, err)
		testworld.WaitFor(t, "Accepted=True on the rule set", 10*time.Second, func() bool {
			return env.Cluster.Kubectl(t, "", "get", "ers", "-n", "shop", "payments-deps",
				"-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].status}`) == "True"
		})
	})

	t.Run("relabelling the pod re-selects its rule sets", func(t *testing.T) {
		// payments-deps selects app=checkout: relabelled, the pod loses it; labelled back, it regains it.
		for _, c := range []struct {
			label, want string
		}{{"app=web", "403 Forbidden"}, {"app=checkout", "200 OK"}} {
			env.Cluster.Kubectl(t, "", "label", "pod", "-n", e2e.Namespace, "checkout", c.label, "--overwrite")
			if err := running.RefreshDownwardAPI(context.Background()); err != nil {
				t.Fatal(err)
			}
			testworld.WaitFor(t, c.label+": "+c.want, 5*time.Second, func() bool {
				out, err := app.Curl("-i", "http://api.example.test.egress.local/")
				return err == nil && strings.Contains(out, c.want)
			})
		}
	})

	t.Run("an Audit rule set lets denied calls through and reports them; deleting it enforces again", func(t *testing.T) {
		env.Cluster.Kubectl(t, e2e.AuditRuleSet, "apply", "-f", "-")
		testworld.WaitFor(t, "audit mode", 5*time.Second, func() bool {
			out, err := app.Curl("http://api.example.test/")
			return err == nil && out == "hello from api.example.test over plain HTTP\n"
		})
		metrics, err := app.MetricLines("egress_http_requests_total")
		expect(t, err == nil && strings.Contains(metrics, `decision="audit"`), "audit in metrics", metrics, err)
		expect(t, strings.Contains(logs["egress-sidecar"].String(), `"decision":"audit"`), "audit in logs", logs["egress-sidecar"].String(), nil)
		env.Cluster.Kubectl(t, "", "delete", "ers", "-n", "shop", "observe")
		testworld.WaitFor(t, "enforcement after deleting the audit rule set", 5*time.Second, func() bool {
			out, err := app.Curl("-i", "http://api.example.test/")
			return err == nil && strings.Contains(out, "403 Forbidden")
		})
	})

	t.Run("Prometheus scrapes the pod's allowed and denied counts", func(t *testing.T) {
		prom := env.StartPrometheus(t, app)
		for _, decision := range []string{"allow", "deny", "audit"} {
			query := `sum(egress_http_requests_total{job="egress-sidecar",pod="checkout",decision="` + decision + `"})`
			testworld.WaitFor(t, query, 20*time.Second, func() bool {
				v, err := prom.Query(query)
				return err == nil && v > 0
			})
		}
	})

	t.Run("a dead sidecar means refused connections, never bypass", func(t *testing.T) {
		if err := running.Kill("egress-sidecar"); err != nil {
			t.Fatal(err)
		}
		before := env.World.Connections(t)
		// DNS goes to the dead sidecar too, so names no longer resolve: nothing leaks there either.
		out, err := app.Curl("http://api.example.test/")
		expect(t, err != nil && strings.Contains(err.Error(), "Could not resolve host"), "DNS must fail", out, err)
		// With addresses given, the connections themselves are refused.
		for _, c := range []struct{ resolve, url string }{
			{"api.example.test.egress.local:80:240.0.0.1", "http://api.example.test.egress.local/"},
			{"api.example.test:443:198.18.0.2", "https://api.example.test/"},
			{"api.example.test:80:198.18.0.2", "http://api.example.test/"},
		} {
			out, err := app.Curl("--resolve", c.resolve, c.url)
			// curl's exit status 7: the connection was refused (RST from the redirect to a closed port).
			expect(t, err != nil && strings.Contains(err.Error(), "exit status 7"), c.url+" must be refused", out, err)
		}
		if after := env.World.Connections(t); after != before {
			t.Errorf("%d connections reached the world with the sidecar dead", after-before)
		}
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
		t.Fatalf("init containers = %v, want egress-init then egress-sidecar", names)
	}
	sidecar := pod.Spec.InitContainers[1]
	if sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("egress-sidecar is not a native sidecar: %+v", sidecar.RestartPolicy)
	}
	if pod.Annotations["prometheus.io/scrape"] != "true" || pod.Annotations["egress.io/injected"] == "" {
		t.Fatalf("annotations = %v", pod.Annotations)
	}
}

func expect(t *testing.T, ok bool, what, out string, err error) {
	t.Helper()
	if !ok {
		t.Errorf("%s: got %q, %v", what, out, err)
	}
}
