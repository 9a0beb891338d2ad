package inject

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"egress.io/egress/pkg/netrange"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current output")

// testConfig is a fixed Config for golden output: no default that may change later leaks into the files.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Version = "v0.0.0-test"
	cfg.InitImage = "registry.example/egress-init:test"
	cfg.SidecarImage = "registry.example/egress-sidecar:test"
	cfg.Init.ExcludeOutboundCIDRs = mustCIDRs("198.18.0.0/16,198.19.128.0/20")
	cfg.Init.ExcludeOutboundPorts = []netrange.PortRange{netrange.Port(9999)}
	return cfg
}

func mustCIDRs(s string) []netip.Prefix {
	p, err := netrange.ParsePrefixes(s)
	if err != nil {
		panic(err)
	}
	return p
}

func enabledNamespace(name string, annotations map[string]string) *corev1.Namespace {
	a := map[string]string{AnnotationInject: ValueEnabled}
	for k, v := range annotations {
		a[k] = v
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: a}}
}

func basePod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop", Labels: map[string]string{"app": "checkout"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	for _, m := range mutate {
		m(pod)
	}
	return pod
}

// goldenCases are the pod shapes whose injected form is pinned in testdata/<name>.golden.yaml.
var goldenCases = []struct {
	name string
	pod  *corev1.Pod
	ns   *corev1.Namespace
}{
	{name: "plain", pod: basePod(), ns: enabledNamespace("shop", nil)},
	{name: "app-init-containers", pod: basePod(func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:1"}}
	}), ns: enabledNamespace("shop", nil)},
	{name: "existing-sidecars", pod: basePod(func(p *corev1.Pod) {
		always := corev1.ContainerRestartPolicyAlways
		p.Spec.InitContainers = []corev1.Container{{Name: "log-shipper", Image: "registry.example/logs:1", RestartPolicy: &always}}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "metrics-proxy", Image: "registry.example/proxy:1"})
	}), ns: enabledNamespace("shop", nil)},
	{name: "host-network", pod: basePod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), ns: enabledNamespace("shop", nil)},
	{name: "opted-out", pod: basePod(func(p *corev1.Pod) {
		p.Annotations = map[string]string{AnnotationInject: ValueDisabled}
	}), ns: enabledNamespace("shop", nil)},
	{name: "opted-in-namespace-not-enabled", pod: basePod(func(p *corev1.Pod) {
		p.Labels[LabelInject] = ValueEnabled
	}), ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}},
	{name: "interception-annotations", pod: basePod(func(p *corev1.Pod) {
		p.Annotations = map[string]string{
			AnnotationExcludeOutboundCIDRs: "203.0.113.0/24, 2001:db8::/32",
			AnnotationExcludeOutboundPorts: "5432,6379,8000-8100",
			AnnotationIncludeOutboundCIDRs: "192.0.2.0/24",
		}
	}), ns: enabledNamespace("shop", map[string]string{
		AnnotationExcludeOutboundCIDRs: "198.51.100.7",
		AnnotationIncludeOutboundCIDRs: "0.0.0.0/0",
	})},
	{name: "not-native-sidecar", pod: basePod(func(p *corev1.Pod) {
		p.Annotations = map[string]string{AnnotationNativeSidecar: "false"}
	}), ns: enabledNamespace("shop", nil)},
	{name: "own-prometheus-annotations", pod: basePod(func(p *corev1.Pod) {
		p.Annotations = map[string]string{AnnotationPrometheusScrape: "true", AnnotationPrometheusPort: "8080"}
	}), ns: enabledNamespace("shop", nil)},
	{name: "policy-source-kube", pod: basePod(), ns: enabledNamespace("shop", map[string]string{AnnotationPolicySource: "kube"})},
	{name: "automount-off-and-security-context", pod: basePod(func(p *corev1.Pod) {
		p.Spec.AutomountServiceAccountToken = ptr.To(false)
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000)}
	}), ns: enabledNamespace("shop", nil)},
}

// TestGolden pins what Injectable and Inject make of each pod shape. Refresh with go test ./pkg/inject -update.
func TestGolden(t *testing.T) {
	cfg := testConfig()
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod.DeepCopy()
			ok, reason := Injectable(pod, tc.ns, cfg)
			if ok {
				if err := Inject(pod, tc.ns, cfg); err != nil {
					t.Fatalf("Inject: %v", err)
				}
			}
			body, err := yaml.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			got := "# injectable: " + boolString(ok) + " (" + string(reason) + ")\n" + string(body)
			compareGolden(t, filepath.Join("testdata", tc.name+".golden.yaml"), got)

			if ok {
				again := pod.DeepCopy()
				if err := Inject(again, tc.ns, cfg); err != nil {
					t.Fatalf("second Inject: %v", err)
				}
				if !equality.Semantic.DeepEqual(pod, again) {
					t.Error("a second Inject changed the pod")
				}
				if ok2, reason2 := Injectable(pod, tc.ns, cfg); ok2 || reason2 != ReasonAlreadyInjected {
					t.Errorf("Injectable(injected pod) = %v, %s; want false, %s", ok2, reason2, ReasonAlreadyInjected)
				}
			}
		})
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/inject -update to create it)", err)
	}
	if string(want) == got {
		return
	}
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(want)), B: difflib.SplitLines(got),
		FromFile: path, ToFile: "got", Context: 3,
	})
	t.Errorf("%s is stale (run go test ./pkg/inject -update and review the diff):\n%s", path, strings.TrimSpace(diff))
}
