package main

import (
	"fmt"
	"strings"
	"time"

	"egress.io/egress/internal/e2e"
	"egress.io/egress/internal/testworld"
)

var step int

// say starts a step of the story, or stops the story if the demo was interrupted.
func say(format string, args ...any) {
	if interrupted.Load() {
		panic(stop{})
	}
	step++
	fmt.Printf("\n==> %d. %s\n", step, fmt.Sprintf(format, args...))
}

// show prints what came back, indented.
func show(text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Println("    " + line)
	}
}

// command prints a command as the person would type it.
func command(cmd string) { fmt.Println("    $ " + cmd) }

func story(r *runner, bin e2e.Binaries) {
	start := time.Now()
	say("A local control plane: etcd and kube-apiserver built from their Go modules; the product installed with kubectl")
	env := e2e.Setup(r, bin)
	c := env.Cluster
	command("kubectl version")
	show(c.Kubectl(r, "", "version"))
	command("kubectl apply -k manifests/")
	show(c.Applied)
	fmt.Println("    The webhook runs as a local process with the Deployment's flags (certificates and ports local):")
	show("egress-webhook " + strings.Join(c.WebhookArgs, " "))

	say("An operator opts a namespace in")
	command("kubectl create namespace shop && kubectl annotate namespace shop egress.io/inject=enabled")
	c.EnableNamespace(r, "shop")
	show("namespace/shop annotated; the webhook's controller mirrored it to the label its namespaceSelector uses:")
	show(c.Kubectl(r, "", "get", "namespace", "shop", "--show-labels"))

	say("A team creates a pod; the webhook injects egress-init and the egress-sidecar")
	command("kubectl apply -n shop -f checkout.yaml")
	show(e2e.PodManifest)
	pod := env.CreatePod(r, "shop", e2e.PodManifest)
	fmt.Println("    The API server stored it with these init containers (before the app):")
	for _, ic := range pod.Spec.InitContainers {
		kind := "runs to completion"
		if ic.RestartPolicy != nil {
			kind = "native sidecar, restartPolicy " + string(*ic.RestartPolicy)
		}
		show(fmt.Sprintf("  %s (%s), user %d: %s", ic.Name, kind, *ic.SecurityContext.RunAsUser, strings.Join(ic.Args, " ")))
	}
	fmt.Println("    and annotations:")
	for _, k := range []string{"egress.io/injected", "prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"} {
		show("  " + k + ": " + pod.Annotations[k])
	}

	say("The pod runs in its own network namespace, as a kubelet would run it")
	logs := map[string]*testworld.SyncBuffer{}
	running := env.RunPod(r, pod, func(container string) *testworld.SyncBuffer {
		if logs[container] == nil {
			logs[container] = &testworld.SyncBuffer{}
		}
		return logs[container]
	})
	running.WaitReady(r, "egress-sidecar")
	app := env.WrapPod(running)
	fmt.Println("    egress-init installed the interception rules and exited:")
	show(lastLines(logs["egress-init"].String(), 1))
	fmt.Println("    egress-sidecar is ready (GET /ready on the admin port answered 200); it said:")
	show(lastLines(logs["egress-sidecar"].String(), 3))

	say("No EgressRuleSet selects the pod yet: everything it sends out is denied, with an explanation")
	worldBefore := env.World.Connections(r)
	call(app, "-i", "http://api.example.test/")
	call(app, "-i", "http://api.example.test.egress.local/")
	call(app, "https://api.example.test/")
	fmt.Printf("    TCP connections that reached the world meanwhile: %d\n", env.World.Connections(r)-worldBefore)

	say("The team allows api.example.test:443; the running sidecar picks it up live")
	command("kubectl apply -f payments-deps.yaml")
	show(e2e.AllowAPIRuleSet)
	c.Kubectl(r, e2e.AllowAPIRuleSet, "apply", "-f", "-")
	applied := time.Now()
	testworld.WaitFor(r, "the rule to be enforced", 10*time.Second, func() bool {
		out, err := app.Curl("http://api.example.test.egress.local/")
		return err == nil && strings.HasPrefix(out, "hello")
	})
	fmt.Printf("    (enforced %v after kubectl apply returned)\n", time.Since(applied).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // let the controller write the status
	command("kubectl get ers -n shop")
	show(c.Kubectl(r, "", "get", "ers", "-n", "shop"))
	fmt.Println("    A plaintext call to NAME.egress.local leaves the pod as verified HTTPS to NAME:")
	call(app, "http://api.example.test.egress.local/")
	fmt.Println("    HTTPS the app speaks itself passes through, by SNI:")
	call(app, "https://api.example.test/")
	fmt.Println("    Port 80 is still not allowed:")
	call(app, "-i", "http://api.example.test/")

	say("Audit mode: an operator observes before enforcing")
	command("kubectl apply -f observe.yaml   # mode: Audit")
	c.Kubectl(r, e2e.AuditRuleSet, "apply", "-f", "-")
	testworld.WaitFor(r, "audit mode", 10*time.Second, func() bool {
		_, err := app.Curl("-f", "http://api.example.test/")
		return err == nil
	})
	call(app, "http://api.example.test/")
	fmt.Println("    and the sidecar logged it as a would-be denial:")
	show(lastMatching(logs["egress-sidecar"].String(), `"decision":"audit"`))
	command("kubectl delete ers -n shop observe")
	c.Kubectl(r, "", "delete", "ers", "-n", "shop", "observe")
	testworld.WaitFor(r, "enforcement", 10*time.Second, func() bool {
		out, _ := app.Curl("-i", "http://api.example.test/")
		return strings.Contains(out, "403")
	})
	call(app, "-i", "http://api.example.test/")

	say("The pod's metrics, as Prometheus scrapes them from the annotated admin port")
	command("curl http://198.18.1.2:15020/metrics | grep -E '^egress_(http_requests|connections|policy_targets)'")
	metrics, err := app.MetricLines("egress_http_requests_total", "egress_connections_total", "egress_policy_targets")
	if err != nil {
		r.Fatalf("metrics: %v", err)
	}
	show(metrics)

	say("The sidecar dies: the app's connections are refused, never sent around it")
	if err := running.Kill("egress-sidecar"); err != nil {
		r.Fatalf("%v", err)
	}
	before := env.World.Connections(r)
	call(app, "--resolve", "api.example.test:443:198.18.0.2", "https://api.example.test/")
	fmt.Println("    DNS went through the sidecar too, so names no longer resolve:")
	call(app, "http://api.example.test.egress.local/")
	fmt.Printf("    TCP connections that reached the world meanwhile: %d\n", env.World.Connections(r)-before)

	say("Done in %v; cleaning up (namespaces, processes, control plane)", time.Since(start).Round(time.Second))
}

// call runs curl as the app and shows what came back.
func call(app *e2e.Pod, args ...string) {
	command("curl " + strings.Join(args, " "))
	out, err := app.Curl(args...)
	if out != "" {
		show(strings.ReplaceAll(strings.TrimRight(out, "\n"), "\r", ""))
	}
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, "curl: ("); i >= 0 {
			msg = msg[i:]
		}
		show(msg)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func lastMatching(s, substr string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], substr) {
			return lines[i]
		}
	}
	return "(none)"
}
