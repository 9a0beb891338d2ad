package kubectlegress

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/sidecar"
	"egress.io/egress/pkg/sidecar/record"
)

// SidecarContainer is the name of the injected sidecar container.
const SidecarContainer = "egress-sidecar"

// ruleSetsResource is the EgressRuleSet resource, read with the dynamic client (no generated clientset).
var ruleSetsResource = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "egressrulesets"}

// Cluster is what the commands read from the API server.
type Cluster interface {
	// Pods lists the pods of ns ("" for all) that selector matches.
	Pods(ctx context.Context, ns, selector string) ([]corev1.Pod, error)
	Pod(ctx context.Context, ns, name string) (*corev1.Pod, error)
	// Workload returns the pod selector of a workload: kind is deployment, statefulset, daemonset,
	// replicaset or job.
	Workload(ctx context.Context, ns, kind, name string) (*metav1.LabelSelector, error)
	RuleSets(ctx context.Context, ns string) ([]v1alpha1.EgressRuleSet, error)
	// Summary fetches a pod's sidecar /summary through the pods/proxy subresource.
	Summary(ctx context.Context, pod *corev1.Pod, port string) (record.SummaryReport, error)
}

// kube is Cluster over client-go.
type kube struct {
	client  kubernetes.Interface
	dynamic dynamic.Interface
}

// connect builds the client from the kubeconfig flags and returns it with the namespace to use.
func connect(c common) (*kube, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules.ExplicitPath = c.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
	overrides.Context.Namespace = c.Namespace
	overrides.AuthInfo.Impersonate = c.As
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("--kubeconfig: %w", err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("--namespace: %w", err)
	}
	k, err := newKube(cfg)
	return k, ns, err
}

func newKube(cfg *rest.Config) (*kube, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kubectl-egress"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kube{client: client, dynamic: dyn}, nil
}

func (k *kube) Pods(ctx context.Context, ns, selector string) ([]corev1.Pod, error) {
	list, err := k.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", nsName(ns), rbacHint(err))
	}
	return list.Items, nil
}

func (k *kube) Pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	p, err := k.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", ns, name, rbacHint(err))
	}
	return p, nil
}

func (k *kube) Workload(ctx context.Context, ns, kind, name string) (*metav1.LabelSelector, error) {
	var sel *metav1.LabelSelector
	var err error
	apps := k.client.AppsV1()
	switch kind {
	case "deployment":
		d, e := apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			sel = d.Spec.Selector
		}
	case "statefulset":
		s, e := apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			sel = s.Spec.Selector
		}
	case "daemonset":
		d, e := apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			sel = d.Spec.Selector
		}
	case "replicaset":
		r, e := apps.ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			sel = r.Spec.Selector
		}
	case "job":
		j, e := k.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			sel = j.Spec.Selector
		}
	default:
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", kind, ns, name, rbacHint(err))
	}
	if sel == nil {
		return nil, fmt.Errorf("%s %s/%s has no pod selector", kind, ns, name)
	}
	return sel, nil
}

func (k *kube) RuleSets(ctx context.Context, ns string) ([]v1alpha1.EgressRuleSet, error) {
	list, err := k.dynamic.Resource(ruleSetsResource).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing EgressRuleSets in %s: %w", nsName(ns), rbacHint(err))
	}
	data, err := list.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var sets v1alpha1.EgressRuleSetList
	if err := json.Unmarshal(data, &sets); err != nil {
		return nil, fmt.Errorf("EgressRuleSets in %s: %w", nsName(ns), err)
	}
	return sets.Items, nil
}

func (k *kube) Summary(ctx context.Context, pod *corev1.Pod, port string) (record.SummaryReport, error) {
	var s record.SummaryReport
	body, err := k.client.CoreV1().Pods(pod.Namespace).ProxyGet("http", pod.Name, port, "/summary", nil).DoRaw(ctx)
	if err != nil {
		return s, fmt.Errorf("pod %s/%s: GET :%s/summary through pods/proxy: %w", pod.Namespace, pod.Name, port, rbacHint(err))
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("pod %s/%s: /summary: %w (is its sidecar older than /summary?)", pod.Namespace, pod.Name, err)
	}
	return s, nil
}

// rbacHint wraps an API error, adding, when it is a refusal, the roles the plugin needs.
func rbacHint(err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w (kubectl egress needs the kubectl-egress ClusterRole bound in the namespace, and egress-ruleset-viewer "+
			"in the global namespace: manifests/rbac/kubectl-egress.yaml)", err)
	}
	return err
}

func nsName(ns string) string {
	if ns == "" {
		return "all namespaces"
	}
	return "namespace " + ns
}

// injected describes a pod's sidecar as its spec runs it: the container, and its settings parsed from its
// arguments and literal environment with the sidecar's own table.
type injected struct {
	container corev1.Container
	settings  sidecar.Settings
}

// sidecarOf finds a pod's egress-sidecar (a native sidecar, or a regular container) and parses its
// settings; ok is false for a pod that was not injected.
func sidecarOf(pod *corev1.Pod) (injected, bool, error) {
	var found *corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == SidecarContainer {
				found = &list[i]
			}
		}
	}
	if found == nil {
		return injected{}, false, nil
	}
	env := map[string]string{}
	for _, e := range found.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	// The downward API's POD_NAMESPACE is the pod's namespace, whatever the spec says.
	env["POD_NAMESPACE"] = pod.Namespace
	s := sidecar.DefaultSettings()
	if err := settings.Parse(s.Flags(), found.Args, settings.EnvMap(env)); err != nil {
		return injected{}, true, fmt.Errorf("pod %s/%s: container %s: %w", pod.Namespace, pod.Name, SidecarContainer, err)
	}
	return injected{container: *found, settings: s}, true, nil
}

// adminPort is the port of the sidecar's admin server (--admin-addr).
func (in injected) adminPort() (string, error) {
	_, port, err := net.SplitHostPort(in.settings.AdminAddr)
	if err != nil || port == "" {
		return "", fmt.Errorf("the sidecar has no admin server (--%s=%q)", sidecar.FlagAdminAddr, in.settings.AdminAddr)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("--%s=%q: %w", sidecar.FlagAdminAddr, in.settings.AdminAddr, err)
	}
	return port, nil
}

// sidecarReady reports whether the pod's egress-sidecar container is ready, with its restart count.
func sidecarReady(pod *corev1.Pod) (ready bool, restarts int32, state string) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range list {
			if s.Name != SidecarContainer {
				continue
			}
			switch {
			case s.State.Running != nil:
				state = "Running"
			case s.State.Waiting != nil:
				state = s.State.Waiting.Reason
			case s.State.Terminated != nil:
				state = s.State.Terminated.Reason
			}
			return s.Ready, s.RestartCount, state
		}
	}
	return false, 0, "NoStatus"
}

// liveVersion is the policy version a sidecar of a pod in ns should report: the digest of the rule sets
// of ns and global (as its Kubernetes source delivers them) at their current generations.
func liveVersion(sets []v1alpha1.EgressRuleSet, ns, global string) string {
	var versions []record.RuleSetVersion
	for _, s := range sets {
		if s.Namespace != ns && s.Namespace != global {
			continue
		}
		versions = append(versions, record.RuleSetVersion{Name: s.Namespace + "/" + s.Name, UID: string(s.UID), Generation: s.Generation})
	}
	return record.VersionOf(versions)
}
