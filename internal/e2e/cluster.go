package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/internal/controlplane"
	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
	"egress.io/egress/pkg/webhook"
)

// Names from manifests/.
const (
	systemNamespace = "egress-system"
	webhookName     = "egress-webhook"
	// ServiceCIDR is the control plane's service range, which the webhook excludes from interception as a
	// cluster would.
	ServiceCIDR = "198.18.128.0/20"
)

// Cluster is the control plane with the product installed and the webhook running as a local process.
type Cluster struct {
	CP *controlplane.ControlPlane
	// InitImage and SidecarImage are what the webhook injects (from the installed Deployment).
	InitImage, SidecarImage string
	// WebhookArgs are the flags the webhook runs with: the Deployment's, plus the local overrides.
	WebhookArgs []string
	// WebhookLog is the webhook's output.
	WebhookLog *testworld.SyncBuffer
	// Applied is what `kubectl apply -k manifests/` printed.
	Applied string
}

// startCluster starts etcd and kube-apiserver listening on address, applies manifests/ with the real kubectl
// and starts the webhook.
func startCluster(t T, address string, webhookBinary string) *Cluster {
	t.Helper()
	cp, err := controlplane.Start(controlplane.Options{Address: address, ServiceClusterIPRange: ServiceCIDR})
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	c := &Cluster{CP: cp, WebhookLog: &testworld.SyncBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, _, err := cp.Kubectl(ctx, "", "apply", "-k", filepath.Join(repoRoot(), "manifests"))
	if err != nil {
		t.Fatalf("kubectl apply -k manifests/: %v", err)
	}
	c.Applied = out
	if _, _, err := cp.Kubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=30s", "crd/egressrulesets.egress.io"); err != nil {
		t.Fatalf("waiting for the CRD: %v", err)
	}
	c.startWebhook(t, ctx, webhookBinary)
	return c
}

// startWebhook runs the webhook binary with the installed Deployment's flags, except that it serves a static
// certificate for 127.0.0.1 on local ports (the API server cannot reach a Service without kube-proxy), and
// points the MutatingWebhookConfiguration there. It authenticates as the manifests' service account.
func (c *Cluster) startWebhook(t T, ctx context.Context, binary string) {
	t.Helper()
	deploy, err := c.CP.Clientset().AppsV1().Deployments(systemNamespace).Get(ctx, webhookName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the webhook Deployment: %v", err)
	}
	container := deploy.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range container.Env {
		env[e.Name] = e.Value
	}
	c.InitImage, c.SidecarImage = env["EGRESS_INIT_IMAGE"], env["EGRESS_SIDECAR_IMAGE"]

	dir := testworld.Dir(t, "egress-e2e-webhook-")
	certDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatalf("%v", err)
	}
	caPEM := testworld.WriteServingCert(t, certDir, "127.0.0.1")
	ports := freePorts(t, 3)
	probeAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	c.WebhookArgs = overrideArgs(deploymentArgs(deploy, env), map[string]string{
		"cert-dir":                  certDir,
		"static-certs":              "true",
		"webhook-host":              "127.0.0.1",
		"webhook-port":              strconv.Itoa(ports[0]),
		"health-probe-bind-address": probeAddr,
		"metrics-bind-address":      "127.0.0.1:" + strconv.Itoa(ports[2]),
		"exclude-outbound-cidrs":    ServiceCIDR,
		"public-cidrs":              netnstest.WorldPublicCIDRs,
	})

	saConfig, err := c.CP.ServiceAccountConfig(ctx, systemNamespace, webhookName)
	if err != nil {
		t.Fatalf("webhook service account: %v", err)
	}
	kubeconfig := filepath.Join(dir, "webhook.kubeconfig")
	if err := controlplane.WriteKubeconfig(saConfig, kubeconfig); err != nil {
		t.Fatalf("%v", err)
	}
	cmd := exec.Command(binary, c.WebhookArgs...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = c.WebhookLog, c.WebhookLog
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the webhook: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("webhook output:\n%s", c.WebhookLog.String())
		}
	})
	testworld.WaitFor(t, "the webhook's /readyz", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + probeAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	url := fmt.Sprintf("https://127.0.0.1:%d%s", ports[0], webhook.MutatePath)
	if err := c.CP.PointWebhooksAt(ctx, webhookName, url, caPEM); err != nil {
		t.Fatalf("%v", err)
	}
}

// deploymentArgs returns the container's args with $(VAR) references to its env expanded.
func deploymentArgs(deploy *appsv1.Deployment, env map[string]string) []string {
	var args []string
	for _, a := range deploy.Spec.Template.Spec.Containers[0].Args {
		for name, value := range env {
			a = strings.ReplaceAll(a, "$("+name+")", value)
		}
		args = append(args, a)
	}
	return args
}

// overrideArgs replaces --name=value flags in args by the overrides and appends the overrides not present.
func overrideArgs(args []string, overrides map[string]string) []string {
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if _, ok := overrides[name]; !ok {
			out = append(out, a)
		}
	}
	for name, value := range overrides {
		out = append(out, "--"+name+"="+value)
	}
	return out
}

// EnableNamespace creates namespace ns with its default service account and kube-root-ca.crt (the
// controller manager's work in a cluster), annotates it egress.io/inject=enabled with kubectl, and waits
// for the webhook's controller to mirror the annotation to the label the webhook selects on.
func (c *Cluster) EnableNamespace(t T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := c.CP.Kubectl(ctx, "", "create", "namespace", ns); err != nil {
		t.Fatalf("%v", err)
	}
	if err := c.CP.EnsureServiceAccount(ctx, ns, "default"); err != nil {
		t.Fatalf("%v", err)
	}
	rootCA := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: ns},
		Data:       map[string]string{"ca.crt": string(c.CP.Config.CAData)},
	}
	if _, err := c.CP.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, rootCA, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating kube-root-ca.crt in %s: %v", ns, err)
	}
	if _, _, err := c.CP.Kubectl(ctx, "", "annotate", "namespace", ns, "egress.io/inject=enabled"); err != nil {
		t.Fatalf("%v", err)
	}
	testworld.WaitFor(t, "the egress.io/inject label on namespace "+ns, 30*time.Second, func() bool {
		got, err := c.CP.Clientset().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err == nil && got.Labels["egress.io/inject"] == "enabled"
	})
}

// Kubectl runs the real kubectl as the admin and returns its standard output; it fails t on error.
func (c *Cluster) Kubectl(t T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, err := c.CP.Kubectl(ctx, stdin, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

func freePorts(t T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}
