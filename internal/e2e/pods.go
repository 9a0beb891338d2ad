package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/internal/cluster"
)

// AppContainer is the name of the app container in the story's pods.
const AppContainer = "app"

// EnableNamespace creates namespace ns with labels (may be nil), annotates it egress.io/inject=enabled with
// kubectl, and waits for the webhook's controller to mirror the annotation to the label the webhook selects
// on and to publish the policy service's CA (ConfigMap egress-policy-ca, which injected pods mount). (The
// kube-controller-manager gives it its default service account and kube-root-ca.crt.)
func EnableNamespace(ctx context.Context, c *cluster.Cluster, ns string, labels ...string) error {
	if _, err := c.Kubectl(ctx, "", "create", "namespace", ns); err != nil {
		return err
	}
	if len(labels) > 0 {
		if _, err := c.Kubectl(ctx, "", append([]string{"label", "namespace", ns}, labels...)...); err != nil {
			return err
		}
	}
	if _, err := c.Kubectl(ctx, "", "annotate", "namespace", ns, "egress.io/inject=enabled"); err != nil {
		return err
	}
	return Poll(ctx, "the egress.io/inject label on namespace "+ns, func() bool {
		got, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil || got.Labels["egress.io/inject"] != "enabled" {
			return false
		}
		if _, err = c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false
		}
		_, err = c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "egress-policy-ca", metav1.GetOptions{})
		return err == nil
	})
}

// ReadyPod waits for a Ready pod matching selector in ns and returns it.
func ReadyPod(ctx context.Context, c *cluster.Cluster, ns, selector string) (*corev1.Pod, error) {
	var ready *corev1.Pod
	err := Poll(ctx, "a Ready pod "+selector+" in "+ns, func() bool {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp == nil && PodReady(p) {
				ready = p
				return true
			}
		}
		return false
	})
	return ready, err
}

// PodReady says whether the pod's Ready condition is true.
func PodReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ContainerStatus returns the status of the named container, init (native sidecars) or regular.
func ContainerStatus(p *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range list {
			if s.Name == name {
				return s, true
			}
		}
	}
	return corev1.ContainerStatus{}, false
}

// Curl runs curl in the pod's app container with kubectl exec, as the app's user, and returns its standard
// output (with -i, headers too); the error quotes curl's standard error and exit status.
func Curl(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	argv := append([]string{"exec", "-n", pod.Namespace, pod.Name, "-c", AppContainer, "--", "curl", "-sS", "--max-time", "5"}, args...)
	out, err := c.Kubectl(ctx, "", argv...)
	if err != nil {
		return out, fmt.Errorf("curl %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// Admin fetches a path of the pod's sidecar admin port (15020) through the API server's pod proxy, as an
// operator would.
func Admin(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod, path string) (string, error) {
	body, err := c.Client.CoreV1().Pods(pod.Namespace).ProxyGet("http", pod.Name, "15020", path, nil).DoRaw(ctx)
	return string(body), err
}

// MetricLines returns the lines of the sidecar's /metrics that start with one of the prefixes.
func MetricLines(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod, prefixes ...string) (string, error) {
	body, err := Admin(ctx, c, pod, "/metrics")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, line := range strings.Split(body, "\n") {
		for _, prefix := range prefixes {
			if strings.HasPrefix(line, prefix) {
				b.WriteString(line + "\n")
				break
			}
		}
	}
	return b.String(), nil
}

// Logs returns a container's log.
func Logs(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod, container string) (string, error) {
	body, err := c.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	return string(body), err
}

// ReadyPods returns the Ready pods matching selector in ns, not being deleted, by name.
func ReadyPods(ctx context.Context, c *cluster.Cluster, ns, selector string) ([]*corev1.Pod, error) {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && PodReady(p) {
			out = append(out, p)
		}
	}
	return out, nil
}
