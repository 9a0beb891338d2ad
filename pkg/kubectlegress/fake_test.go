package kubectlegress

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/sidecar/record"
)

// fakeCluster answers from memory: pods, workloads' selectors, rule sets and summaries by pod name.
type fakeCluster struct {
	pods      []corev1.Pod
	workloads map[string]*metav1.LabelSelector // "kind/name"
	sets      []v1alpha1.EgressRuleSet
	summaries map[string]record.SummaryReport
	ports     []string // the admin ports asked for
}

func (f *fakeCluster) Pods(_ context.Context, ns, selector string) ([]corev1.Pod, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range f.pods {
		if (ns == "" || p.Namespace == ns) && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeCluster) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	for i := range f.pods {
		if f.pods[i].Namespace == ns && f.pods[i].Name == name {
			return &f.pods[i], nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s not found", ns, name)
}

func (f *fakeCluster) Workload(_ context.Context, ns, kind, name string) (*metav1.LabelSelector, error) {
	if s, ok := f.workloads[kind+"/"+name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%s %s/%s not found", kind, ns, name)
}

func (f *fakeCluster) RuleSets(_ context.Context, ns string) ([]v1alpha1.EgressRuleSet, error) {
	var out []v1alpha1.EgressRuleSet
	for _, s := range f.sets {
		if ns == "" || s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeCluster) Summary(_ context.Context, pod *corev1.Pod, port string) (record.SummaryReport, error) {
	f.ports = append(f.ports, port)
	s, ok := f.summaries[pod.Name]
	if !ok {
		return s, fmt.Errorf("pod %s/%s: GET :%s/summary through pods/proxy: 503 Service Unavailable", pod.Namespace, pod.Name, port)
	}
	return s, nil
}

// injectedPod is a running pod with the sidecar the webhook injects (native sidecar, its arguments).
func injectedPod(ns, name string, podLabels map[string]string, ready bool, extraArgs ...string) corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	args := append([]string{"--capture-port=15001", "--dns-port=15053", "--admin-addr=:15020", "--kube",
		"--global-namespace=egress-system", "--pod-labels-file=/etc/egress/podinfo/labels", "--deny-cidrs=10.96.0.0/12"}, extraArgs...)
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: podLabels},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "egress-init"}, {Name: SidecarContainer, Args: args, RestartPolicy: &always,
				Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
			Containers: []corev1.Container{{Name: "app"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: []corev1.ContainerStatus{
			{Name: "egress-init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
			{Name: SidecarContainer, Ready: ready, RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		}},
	}
}

func ruleSet(ns, name string, selector map[string]string, mode v1alpha1.Mode, targets ...string) v1alpha1.EgressRuleSet {
	s := v1alpha1.EgressRuleSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Generation: 1}}
	if selector != nil {
		s.Spec.PodSelector = &metav1.LabelSelector{MatchLabels: selector}
	}
	s.Spec.Mode = mode
	for _, t := range targets {
		s.Spec.Targets = append(s.Spec.Targets, v1alpha1.Target(t))
	}
	return s
}

func minute(m int) time.Time { return time.Date(2026, 11, 30, 12, m, 0, 0, time.UTC) }

func summaryOf(entries ...string) record.SummaryReport {
	// Each entry: "decision protocol target count firstMinute lastMinute".
	var r record.SummaryReport
	for _, e := range entries {
		var d, p, t string
		var n uint64
		var first, last int
		if _, err := fmt.Sscan(e, &d, &p, &t, &n, &first, &last); err != nil {
			panic(e)
		}
		if t == "-" {
			t = ""
		}
		r.Entries = append(r.Entries, record.SummaryEntry{SummaryKey: record.SummaryKey{Decision: d, Protocol: p, Target: t},
			Count: n, FirstSeen: minute(first), LastSeen: minute(last), Reason: "no_match"})
		r.Events += n
	}
	return r
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func fakeDial(f *fakeCluster) dialer {
	return func(c common) (Cluster, string, error) {
		ns := c.Namespace
		if ns == "" {
			ns = "default"
		}
		return f, ns, nil
	}
}
