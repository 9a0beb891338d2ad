package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/internal/cluster"
	"egress.io/egress/internal/e2e"
)

// demo is the story's state: the environment, for cleanup.
type demo struct {
	mu   sync.Mutex
	name string
	env  *e2e.Env
	step int
	ctx  context.Context
}

// failure stops the story with an error.
type failure struct{ err error }

func (d *demo) must(err error) {
	if err != nil {
		panic(failure{err})
	}
}

// say starts a step of the story.
func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Printf("\n==> %d. %s\n", d.step, fmt.Sprintf(format, args...))
}

// show prints what came back, indented.
func show(text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Println("    " + strings.TrimRight(line, "\r"))
	}
}

// command prints a command as the person would type it.
func command(cmd string) { fmt.Println("    $ " + cmd) }

// kubectl runs kubectl, printing the command and what it printed.
func (d *demo) kubectl(stdin string, args ...string) string {
	command("kubectl " + strings.Join(args, " "))
	out, err := d.env.Cluster.Kubectl(d.ctx, stdin, args...)
	d.must(err)
	show(out)
	return out
}

// quiet runs kubectl without printing.
func (d *demo) quiet(stdin string, args ...string) string {
	out, err := d.env.Cluster.Kubectl(d.ctx, stdin, args...)
	d.must(err)
	return out
}

func (d *demo) cleanup() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.env != nil {
		if err := d.env.Cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stopping the node:", err)
		}
		return
	}
	if d.name != "" {
		if c, err := cluster.Attach(d.name); err == nil {
			_ = c.Stop()
		}
	}
}

func (d *demo) tell() (err error) {
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(failure)
			if !ok {
				panic(v)
			}
			err = f.err
		}
	}()
	start := time.Now()
	var cancel context.CancelFunc
	d.ctx, cancel = context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d.name = "demo" + strconv.Itoa(os.Getpid())

	d.say("A real Kubernetes node on this machine, and the product's images built without Docker")
	fmt.Println("    kubelet, kube-proxy, controller manager, scheduler, containerd and CoreDNS built from their Go")
	fmt.Println("    modules (hack/build-node.sh); runc and CNI plugins from Debian; images imported, never pulled.")
	env, err := e2e.Setup(d.ctx, e2e.Options{Cluster: cluster.Options{Name: d.name}, Progress: indent{}})
	d.must(err)
	d.mu.Lock()
	d.env = env
	d.mu.Unlock()
	c := env.Cluster
	d.kubectl("", "get", "nodes", "-o", "wide")

	d.say("The product, installed as a user installs it: kubectl apply -k")
	fmt.Println("    An overlay of manifests/ names the local images and this cluster's ranges:")
	overlay, err := os.ReadFile(env.OverlayDir + "/kustomization.yaml")
	d.must(err)
	show(string(overlay))
	command("kubectl apply -k overlay/")
	show(env.Applied)
	d.kubectl("", "get", "pods", "-A")

	d.say("An operator opts a namespace in")
	command("kubectl create namespace shop && kubectl annotate namespace shop egress.io/inject=enabled")
	d.must(e2e.EnableNamespace(d.ctx, c, e2e.Namespace))
	fmt.Println("    The webhook's controller mirrors the annotation to the label its namespaceSelector uses:")
	d.kubectl("", "get", "namespace", "shop", "--show-labels")

	d.say("A team deploys its app; the webhook injects egress-init and the egress-sidecar")
	command("kubectl apply -f checkout.yaml")
	show(e2e.AppDeployment)
	d.quiet(e2e.AppDeployment, "apply", "-f", "-")
	app, err := e2e.ReadyPod(d.ctx, c, e2e.Namespace, "app=checkout")
	d.must(err)
	d.kubectl("", "get", "pods", "-n", "shop")
	fmt.Println("    What the API server stored: init containers before the app (egress-sidecar a native sidecar):")
	for _, ic := range app.Spec.InitContainers {
		kind := "runs to completion"
		if ic.RestartPolicy != nil {
			kind = "restartPolicy " + string(*ic.RestartPolicy)
		}
		show(fmt.Sprintf("  %s (%s), user %d: %s", ic.Name, kind, *ic.SecurityContext.RunAsUser, strings.Join(ic.Args, " ")))
	}
	d.kubectl("", "logs", "-n", "shop", app.Name, "-c", "egress-init")
	d.kubectl("", "logs", "-n", "shop", app.Name, "-c", "app")

	d.say("No EgressRuleSet selects the pod yet: everything it sends out is denied, with an explanation")
	worldBefore, err := c.WorldConnections()
	d.must(err)
	d.curl(app, "-i", "http://api.example.test/")
	d.curl(app, "-i", "http://api.example.test.egress.local/")
	d.curl(app, "https://api.example.test/")
	worldAfter, err := c.WorldConnections()
	d.must(err)
	fmt.Printf("    TCP connections that reached the world meanwhile: %d\n", worldAfter-worldBefore)

	d.say("The team allows api.example.test:443; the running sidecar picks it up live")
	command("kubectl apply -f payments-deps.yaml")
	show(e2e.AllowAPIRuleSet)
	d.quiet(e2e.AllowAPIRuleSet, "apply", "-f", "-")
	applied := time.Now()
	d.must(e2e.Poll(d.ctx, "the rule to be enforced", func() bool {
		out, err := e2e.Curl(d.ctx, c, app, "http://api.example.test.egress.local/")
		return err == nil && strings.HasPrefix(out, "hello")
	}))
	fmt.Printf("    (enforced %v after kubectl apply returned, each check a kubectl exec)\n", time.Since(applied).Round(time.Millisecond))
	d.kubectl("", "get", "ers", "-n", "shop")
	fmt.Println("    A plaintext call to NAME.egress.local leaves the pod as verified HTTPS to NAME:")
	d.curl(app, "http://api.example.test.egress.local/")
	fmt.Println("    HTTPS the app speaks itself passes through, by SNI:")
	d.curl(app, "https://api.example.test/")
	fmt.Println("    Port 80 is still not allowed:")
	d.curl(app, "-i", "http://api.example.test/")

	d.say("Audit mode: an operator observes before enforcing")
	command("kubectl apply -f observe.yaml   # mode: Audit")
	d.quiet(e2e.AuditRuleSet, "apply", "-f", "-")
	d.must(e2e.Poll(d.ctx, "audit mode", func() bool {
		_, err := e2e.Curl(d.ctx, c, app, "-f", "http://api.example.test/")
		return err == nil
	}))
	d.curl(app, "http://api.example.test/")
	fmt.Println("    and the sidecar logged it as a would-be denial:")
	logs, err := e2e.Logs(d.ctx, c, app, "egress-sidecar")
	d.must(err)
	show(lastMatching(logs, `"decision":"audit"`))
	d.kubectl("", "delete", "ers", "-n", "shop", "observe")
	d.must(e2e.Poll(d.ctx, "enforcement", func() bool {
		out, _ := e2e.Curl(d.ctx, c, app, "-i", "http://api.example.test/")
		return strings.Contains(out, "403")
	}))
	d.curl(app, "-i", "http://api.example.test/")

	d.say("The pod's metrics, from the admin port its annotations name")
	command("kubectl get --raw /api/v1/namespaces/shop/pods/" + app.Name + ":15020/proxy/metrics | grep -E '^egress_(http_requests|connections|policy_targets)'")
	metrics, err := e2e.MetricLines(d.ctx, c, app, "egress_http_requests_total", "egress_connections_total", "egress_policy_targets")
	d.must(err)
	show(metrics)

	d.gateway(app)

	d.say("The sidecar is killed: the app's connections are refused, never sent around it; the kubelet restarts it")
	d.deadSidecar(app)

	d.say("A Job completes: its native sidecar never keeps it alive")
	command("kubectl apply -f report-job.yaml")
	show(e2e.ReportJob)
	d.quiet(e2e.ReportJob, "apply", "-f", "-")
	d.kubectl("", "wait", "-n", "shop", "--for=condition=Complete", "job/report", "--timeout=120s")
	d.kubectl("", "logs", "-n", "shop", "job/report", "-c", "app")

	d.observeThenEnforce()

	d.say("Done in %v (the node was Ready after %v); cleaning up: the node, its namespaces, cgroups and state",
		time.Since(start).Round(time.Second), c.Started.Round(100*time.Millisecond))
	return nil
}

// observeThenEnforce is the rollout of default-deny with kubectl egress: a team's Deployment observed in
// audit mode, the rule set suggested from what its sidecars saw, applied, the namespace switched to
// Enforce, the same calls passing and others denied; then why and status.
func (d *demo) observeThenEnforce() {
	c := d.env.Cluster
	d.say("Observe, then enforce, with kubectl egress: a second team rolls out default-deny")
	plugin, err := e2e.BuildPlugin(d.ctx, c.Dir+"/plugin")
	d.must(err)
	fmt.Println("    The kubectl plugin is one binary on PATH (go build ./cmd/kubectl-egress); it talks only to the API server")
	fmt.Println("    (pods/proxy to the sidecars' /summary), with the ClusterRole manifests/rbac/kubectl-egress.yaml.")
	command("kubectl create namespace orders && kubectl annotate namespace orders egress.io/inject=enabled")
	d.must(e2e.EnableNamespace(d.ctx, c, e2e.OrdersNamespace))
	command("kubectl apply -f observe.yaml   # mode: Audit, for the whole namespace")
	show(e2e.OrdersObserve)
	d.quiet(e2e.OrdersObserve, "apply", "-f", "-")
	command("kubectl apply -f orders.yaml   # two replicas")
	d.quiet(e2e.OrdersDeployment, "apply", "-f", "-")
	d.quiet("", "-n", e2e.OrdersNamespace, "rollout", "status", "deployment/orders", "--timeout=120s")
	var pods []*corev1.Pod
	d.must(e2e.Poll(d.ctx, "two Ready orders pods", func() bool {
		pods, err = e2e.ReadyPods(d.ctx, c, e2e.OrdersNamespace, "app=orders")
		return err == nil && len(pods) == 2
	}))
	calls := func() {
		d.curlIn(pods[0], "http://api.example.test/")
		d.curlIn(pods[0], "https://api.example.test/")
		d.curlIn(pods[1], "http://api.example.test/")
		d.curlIn(pods[1], "-o", "/dev/null", "-w", `%{http_code}\n`, "http://198.18.0.2/")
	}
	fmt.Println("    The app does its work; in audit mode every call goes through, and each sidecar counts what it would deny:")
	calls()
	d.egress(plugin, "", "status", "-n", "orders")
	fmt.Println("    kubectl egress suggest merges both pods' summaries into the minimal targets, ready for kubectl apply:")
	suggested := d.egress(plugin, "", "suggest", "deployment/orders", "-n", "orders")
	command("kubectl egress suggest deployment/orders -n orders | kubectl apply -f -")
	show(d.quiet(suggested, "apply", "-f", "-"))
	fmt.Println("    The namespace is switched to Enforce:")
	command(`kubectl -n orders patch ers observe --type=merge -p '{"spec":{"mode":"Enforce"}}'`)
	show(d.quiet("", "-n", "orders", "patch", "ers", "observe", "--type=merge", "-p", `{"spec":{"mode":"Enforce"}}`))
	d.must(e2e.Poll(d.ctx, "enforcement in orders", func() bool {
		out, _ := e2e.Curl(d.ctx, c, pods[0], "-i", "http://other.example.test/")
		return strings.Contains(out, "403")
	}))
	fmt.Println("    The same calls succeed:")
	calls()
	fmt.Println("    and anything else is denied:")
	d.curlIn(pods[0], "-i", "http://other.example.test/")
	d.curlIn(pods[1], "https://other.example.test/")
	d.egress(plugin, "", "why", "-n", "orders", "pod/"+pods[0].Name, "api.example.test:443")
	d.egress(plugin, "", "why", "-n", "orders", "pod/"+pods[1].Name, "other.example.test:443")
	d.must(e2e.Poll(d.ctx, "the sidecars in sync", func() bool {
		out, _, err := plugin.Run(d.ctx, c, "status", "-n", "orders", "-o", "json")
		return err == nil && strings.Count(out, `"inSync": true`) == 2
	}))
	d.egress(plugin, "", "status", "-n", "orders")
}

// egress runs `kubectl egress ARGS` through the real kubectl, printing the command and what it printed.
func (d *demo) egress(plugin e2e.Plugin, stdin string, args ...string) string {
	command("kubectl egress " + strings.Join(args, " "))
	out, errOut, err := plugin.Run(d.ctx, d.env.Cluster, args...)
	d.must(err)
	show(out + errOut)
	return out
}

// curlIn runs curl in a pod of the orders Deployment and shows what came back.
func (d *demo) curlIn(pod *corev1.Pod, args ...string) {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if strings.ContainsAny(a, `{}\"' $`) {
			quoted[i] = "'" + a + "'"
		}
	}
	command("kubectl exec -n " + pod.Namespace + " " + pod.Name + " -- curl " + strings.Join(quoted, " "))
	out, err := e2e.Curl(d.ctx, d.env.Cluster, pod, args...)
	if out != "" {
		show(out)
	}
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, "curl: ("); i >= 0 {
			msg = msg[i:]
		}
		show(msg)
	}
}

// deadSidecar kills the sidecar (twice if the kubelet restarts it before the checks: a native sidecar's
// first restart is immediate, the next ones back off), shows the refused calls, then the restart.
func (d *demo) deadSidecar(app *corev1.Pod) {
	c := d.env.Cluster
	status := func() corev1.ContainerStatus {
		p, err := c.Client.CoreV1().Pods(app.Namespace).Get(d.ctx, app.Name, metav1.GetOptions{})
		d.must(err)
		s, _ := e2e.ContainerStatus(p, "egress-sidecar")
		return s
	}
	// The first kill is restarted at once; a second one within the back-off leaves it down for seconds.
	backingOff := func() bool {
		w := status().State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	}
	for attempt := 0; attempt < 4 && !backingOff(); attempt++ {
		s := status()
		if s.State.Running == nil {
			d.must(e2e.Poll(d.ctx, "the sidecar running", func() bool { return status().State.Running != nil }))
			s = status()
		}
		d.must(c.KillContainer(d.ctx, s.ContainerID))
		d.must(e2e.Poll(d.ctx, "the sidecar's exit", func() bool {
			now := status()
			return backingOff() || (now.State.Running != nil && now.RestartCount > s.RestartCount)
		}))
	}
	fmt.Println("    (ctr tasks kill --signal SIGKILL on the egress-sidecar container; it is down, in the kubelet's back-off)")
	before, err := c.WorldConnections()
	d.must(err)
	d.curl(app, "--resolve", "api.example.test:443:198.18.0.2", "https://api.example.test/")
	fmt.Println("    DNS went through the sidecar too, so names no longer resolve:")
	d.curl(app, "http://api.example.test.egress.local/")
	after, err := c.WorldConnections()
	d.must(err)
	fmt.Printf("    TCP connections that reached the world meanwhile: %d\n", after-before)
	fmt.Println("    The kubelet restarts the native sidecar (after a back-off), and the app works again:")
	d.must(e2e.Poll(d.ctx, "the restarted sidecar", func() bool {
		p, err := c.Client.CoreV1().Pods(app.Namespace).Get(d.ctx, app.Name, metav1.GetOptions{})
		return err == nil && e2e.PodReady(p)
	}))
	d.kubectl("", "get", "pod", "-n", "shop", app.Name, "-o", "custom-columns=POD:.metadata.name,SIDECAR RESTARTS:.status.initContainerStatuses[1].restartCount,READY:.status.conditions[?(@.type=='Ready')].status")
	d.curl(app, "http://api.example.test.egress.local/")
}

// gateway shows an EgressGateway: its objects, the app's call leaving through it, the gateway's decision
// log naming the pod, and, once it is deleted, the rule set saying so and the call failing, never direct.
func (d *demo) gateway(app *corev1.Pod) {
	c := d.env.Cluster
	d.say("An egress gateway: other.example.test must be called from known addresses, so it leaves through gateway pods that decide again")
	command("kubectl apply -f partners-gateway.yaml")
	show(e2e.GatewayObject)
	d.quiet(e2e.GatewayObject, "apply", "-f", "-")
	d.must(e2e.Poll(d.ctx, "the gateway's pods ready", func() bool {
		out, _ := c.Kubectl(d.ctx, "", "get", "egressgateway", "-n", e2e.SystemNamespace, "partners", "-o", "jsonpath={.status.readyReplicas}")
		return out == "2"
	}))
	d.kubectl("", "get", "egw", "-n", e2e.SystemNamespace)
	d.kubectl("", "get", "deploy,svc,pdb,networkpolicy,secret", "-n", e2e.SystemNamespace, "-l", "egress.io/gateway=partners")
	command("kubectl apply -f via-partners.yaml")
	show(e2e.GatewayRuleSet)
	d.quiet(e2e.GatewayRuleSet, "apply", "-f", "-")
	d.must(e2e.Poll(d.ctx, "the call through the gateway", func() bool {
		out, err := e2e.Curl(d.ctx, c, app, "https://other.example.test/")
		return err == nil && strings.HasPrefix(out, "hello")
	}))
	d.curl(app, "https://other.example.test/")
	fmt.Println("    The gateway checked the pod's token, decided again with the pod's own rule sets, and logged it:")
	pods, err := c.Client.CoreV1().Pods(e2e.SystemNamespace).List(d.ctx, metav1.ListOptions{LabelSelector: "egress.io/gateway=partners"})
	d.must(err)
	for i := range pods.Items {
		logs, _ := e2e.Logs(d.ctx, c, &pods.Items[i], "gateway")
		if line := lastMatching(logs, `"msg":"gateway allow"`); line != "(none)" {
			show(line)
			break
		}
	}
	fmt.Println("    The gateway deleted (its objects go with it): the rule set says so, and the call fails, never sent directly:")
	d.kubectl("", "delete", "egressgateway", "-n", e2e.SystemNamespace, "partners")
	d.must(e2e.Poll(d.ctx, "GatewayNotFound", func() bool {
		out, _ := c.Kubectl(d.ctx, "", "get", "ers", "-n", "shop", "via-partners", "-o", `jsonpath={.status.conditions[?(@.type=="Gateway")].reason}`)
		return out == "GatewayNotFound"
	}))
	d.kubectl("", "get", "ers", "-n", "shop", "via-partners", "-o", `custom-columns=RULE SET:.metadata.name,GATEWAY:.spec.gateway,CONDITION:.status.conditions[?(@.type=="Gateway")].reason`)
	d.curl(app, "-i", "http://other.example.test.egress.local/")
	d.quiet("", "delete", "ers", "-n", "shop", "via-partners")
}

// curl runs curl as the app with kubectl exec and shows what came back.
func (d *demo) curl(app *corev1.Pod, args ...string) {
	command("kubectl exec -n shop deploy/checkout -- curl " + strings.Join(args, " "))
	out, err := e2e.Curl(d.ctx, d.env.Cluster, app, args...)
	if out != "" {
		show(out)
	}
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, "curl: ("); i >= 0 {
			msg = msg[i:]
		}
		show(msg)
	}
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

// indent prints progress lines indented under the current step.
type indent struct{}

func (indent) Write(p []byte) (int, error) {
	show(string(p))
	return len(p), nil
}
