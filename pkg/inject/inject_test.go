package inject

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
)

func TestInjectRejects(t *testing.T) {
	cfg := testConfig()
	ns := enabledNamespace("shop", nil)
	tests := []struct {
		name    string
		pod     *corev1.Pod
		ns      *corev1.Namespace
		wantErr any
		want    []string
	}{
		{"bad pod CIDR", basePod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationExcludeOutboundCIDRs: "203.0.113.0/33"}
		}), ns, new(*InvalidAnnotationError), []string{"pod annotation egress.io/exclude-outbound-cidrs", `"203.0.113.0/33"`}},
		{"bad namespace CIDR", basePod(), enabledNamespace("shop", map[string]string{AnnotationIncludeOutboundCIDRs: "nope"}),
			new(*InvalidAnnotationError), []string{"namespace shop annotation egress.io/include-outbound-cidrs", `"nope"`}},
		{"bad port", basePod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationExcludeOutboundPorts: "5432,70000"}
		}), ns, new(*InvalidAnnotationError), []string{"egress.io/exclude-outbound-ports", `"70000"`}},
		{"port zero", basePod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationExcludeOutboundPorts: "0"}
		}), ns, new(*InvalidAnnotationError), []string{"egress.io/exclude-outbound-ports"}},
		{"CIDR with host bits", basePod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationExcludeOutboundCIDRs: "203.0.113.7/24"}
		}), ns, new(*InvalidAnnotationError), []string{"egress.io/exclude-outbound-cidrs", `"203.0.113.7/24"`}},
		{"bad native-sidecar", basePod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{AnnotationNativeSidecar: "maybe"}
		}), ns, new(*InvalidAnnotationError), []string{"egress.io/native-sidecar", `"maybe"`}},
		{"app runs as sidecar UID", basePod(func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](2555)}
		}), ns, new(*UnsafePodError), []string{`container "app" runs as UID 2555 (securityContext.runAsUser), the egress sidecar's UID`}},
		{"pod runs as sidecar UID", basePod(func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](2555)}
		}), ns, new(*UnsafePodError), []string{`container "app" runs as UID 2555 (pod securityContext.runAsUser)`}},
		{"app runs with the sidecar GID", basePod(func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](2555)}
		}), ns, new(*UnsafePodError), []string{`container "app" runs with GID 2555 (securityContext.runAsGroup), the egress sidecar's GID`}},
		{"pod runs with the sidecar GID", basePod(func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsGroup: ptr.To[int64](2555)}
		}), ns, new(*UnsafePodError), []string{`container "app" runs with GID 2555 (pod securityContext.runAsGroup)`}},
		{"init container adds NET_ADMIN", basePod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", SecurityContext: &corev1.SecurityContext{
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}},
			}}}
		}), ns, new(*UnsafePodError), []string{`init container "setup" adds capability NET_ADMIN`}},
		{"app adds CAP_NET_RAW and is privileged", basePod(func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
				Privileged:   ptr.To(true),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"CAP_NET_RAW"}},
			}
		}), ns, new(*UnsafePodError), []string{`"app" is privileged`, "adds capability CAP_NET_RAW"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod.DeepCopy()
			err := Inject(pod, tc.ns, cfg)
			if err == nil {
				t.Fatal("Inject succeeded; want an error")
			}
			if !errors.As(err, tc.wantErr) {
				t.Errorf("error %T (%v) is not %T", err, err, tc.wantErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !equality.Semantic.DeepEqual(pod, tc.pod) {
				t.Error("Inject changed the pod although it failed")
			}
		})
	}
}

func TestInjectWarnMode(t *testing.T) {
	cfg := testConfig()
	cfg.UnsafePods = WarnUnsafePods
	pod := basePod(func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](2555)}
	})
	if err := Inject(pod, enabledNamespace("shop", nil), cfg); err != nil {
		t.Fatalf("Inject in warn mode: %v", err)
	}
	if !IsInjected(pod) {
		t.Error("pod not injected in warn mode")
	}
	if f := SecurityFindings(pod, cfg); len(f) != 1 || f[0].Container != "app" {
		t.Errorf("findings after injection = %v; want one for app (the sidecar's own UID is not a finding)", f)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("testConfig: %v", err)
	}
	cfg := testConfig()
	cfg.SidecarImage = ""
	cfg.AdminPort = cfg.Init.CapturePort
	cfg.UnsafePods = "ignore"
	cfg.Init.SidecarUID = 1 << 31
	err := cfg.Validate()
	for _, want := range []string{
		"--sidecar-image: must not be empty", "--admin-port: 15001 is also --capture-port", `--unsafe-pods: "ignore"`,
		"--sidecar-uid: 2147483648 is above 2147483647",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to mention %q", err, want)
		}
	}
}

func TestConfigValidateNamesPassedOnSidecarFlags(t *testing.T) {
	cfg := testConfig()
	cfg.Sidecar.PublicCIDRs = mustCIDRs("127.0.0.0/8")
	cfg.Sidecar.GlobalNamespace = ""
	err := cfg.Validate()
	for _, want := range []string{"--public-cidrs: ", "--global-namespace: must not be empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to mention %q", err, want)
		}
	}
}

func TestNewMetricsRefusesASecondRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil || !strings.Contains(err.Error(), "egress_webhook_injections_total") {
		t.Errorf("second NewMetrics on one registry = %v, want an error naming the metric", err)
	}
}
