package e2e

import (
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/internal/kubelet"
	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
)

// Addresses of the pod's link to the host (see the package comment).
var (
	HostIP = netip.MustParseAddr("198.18.1.1")
	PodIP  = netip.MustParseAddr("198.18.1.2")
)

// Env is the whole product running: cluster, world, and namespaces for pods.
type Env struct {
	Bin     Binaries
	Pair    *netnstest.Pair
	Host    netnstest.HostLink
	World   *World
	Cluster *Cluster
}

// Setup builds the network (pod and world namespaces, the pod's link to the host), the world's servers and
// the cluster with the product installed. It needs root, nginx, iptables and KUBEBUILDER_ASSETS.
func Setup(t T, bin Binaries) *Env {
	t.Helper()
	netnstest.RequireCommands(t, "ip", "iptables", "ip6tables", "iptables-save", "setpriv", "nginx", "curl")
	e := &Env{Bin: bin, Pair: netnstest.NewPair(t, netnstest.WithoutIPv6())}
	e.Host = e.Pair.ConnectHost(t, HostIP, PodIP)
	// The pod's default route leads into the world (a dead end), as a pod's leads off its node: the
	// .egress.local sentinel 240.0.0.1 is then routable, and redirected like any destination.
	if out, err := exec.Command("ip", "-n", e.Pair.Pod, "route", "add", "default", "via", netnstest.WorldIPv4.String()).CombinedOutput(); err != nil {
		t.Fatalf("default route of the pod: %v: %s", err, out)
	}
	netnsDir := filepath.Join("/etc/netns", e.Pair.Pod)
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { os.RemoveAll(netnsDir) })
	// The pod's resolver, as the kubelet writes it: `ip netns exec` bind-mounts it over /etc/resolv.conf.
	testworld.WriteFile(t, filepath.Join(netnsDir, "resolv.conf"), "nameserver "+netnstest.WorldIPv4.String()+"\n")

	e.World = startWorld(t, e.Pair.World)
	e.Cluster = startCluster(t, HostIP.String(), bin.Webhook)
	return e
}

// CreatePod applies a pod manifest with kubectl and returns the pod as the API server stored it (mutated by
// the webhook).
func (e *Env) CreatePod(t T, namespace, manifest string) *corev1.Pod {
	t.Helper()
	e.Cluster.Kubectl(t, manifest, "apply", "-n", namespace, "-f", "-")
	return e.GetPod(t, namespace, podName(t, manifest))
}

// GetPod returns a pod as the API server has it.
func (e *Env) GetPod(t T, namespace, name string) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod, err := e.Cluster.CP.Clientset().CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting pod %s/%s: %v", namespace, name, err)
	}
	return pod
}

// RunPod runs the pod in the pod namespace as the kubelet would (init containers, then the native sidecar
// until its startup probe passes). The sidecar image "trusts" the world's test CA, as an image with that CA
// in its trust store would. Container output goes to output (may be nil).
func (e *Env) RunPod(t T, pod *corev1.Pod, output func(container string) *testworld.SyncBuffer) *kubelet.Pod {
	t.Helper()
	opts := kubelet.Options{
		Netns:  e.Pair.Pod,
		PodIP:  PodIP,
		Dir:    testworld.Dir(t, "egress-e2e-pod-"),
		Client: e.Cluster.CP.Clientset(),
		Binaries: map[string]string{
			e.Cluster.InitImage:    e.Bin.Init,
			e.Cluster.SidecarImage: e.Bin.Sidecar,
		},
		ImageEnv:     map[string][]string{e.Cluster.SidecarImage: {"SSL_CERT_FILE=" + e.World.CAFile}},
		APIServerURL: e.Cluster.CP.APIServerURL(),
	}
	if output != nil {
		opts.Output = func(c string) io.Writer { return output(c) }
	}
	return kubelet.Start(t, pod, opts)
}
