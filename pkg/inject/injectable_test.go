package inject

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestInjectable(t *testing.T) {
	cfg := testConfig()
	ns := func(name string, annotations, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations, Labels: labels}}
	}
	enabled := map[string]string{AnnotationInject: ValueEnabled}
	disabled := map[string]string{AnnotationInject: ValueDisabled}
	podWith := func(annotations, labels map[string]string) *corev1.Pod {
		return basePod(func(p *corev1.Pod) {
			p.Annotations = annotations
			for k, v := range labels {
				p.Labels[k] = v
			}
		})
	}
	tests := []struct {
		name   string
		pod    *corev1.Pod
		ns     *corev1.Namespace
		want   bool
		reason Reason
	}{
		{"namespace annotation", basePod(), ns("shop", enabled, nil), true, ReasonNamespaceEnabled},
		{"namespace label", basePod(), ns("shop", nil, enabled), true, ReasonNamespaceEnabled},
		{"namespace annotation wins over label", basePod(), ns("shop", disabled, enabled), false, ReasonNamespaceNotEnabled},
		{"namespace not enabled", basePod(), ns("shop", nil, nil), false, ReasonNamespaceNotEnabled},
		{"namespace nil", basePod(), nil, false, ReasonNamespaceNotEnabled},
		{"namespace value not exact", basePod(), ns("shop", map[string]string{AnnotationInject: "true"}, nil), false, ReasonNamespaceNotEnabled},
		{"pod opted out by annotation", podWith(disabled, nil), ns("shop", enabled, nil), false, ReasonPodOptedOut},
		{"pod opted out by label", podWith(nil, disabled), ns("shop", enabled, nil), false, ReasonPodOptedOut},
		{"pod opted in by annotation", podWith(enabled, nil), ns("shop", nil, nil), true, ReasonPodOptedIn},
		{"pod opted in by label", podWith(nil, enabled), ns("shop", nil, nil), true, ReasonPodOptedIn},
		{"pod annotation wins over label", podWith(disabled, enabled), ns("shop", enabled, nil), false, ReasonPodOptedOut},
		{"pod invalid value", podWith(map[string]string{AnnotationInject: "yes"}, nil), ns("shop", enabled, nil), false, ReasonInvalidInjectValue},
		{"host network", basePod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), ns("shop", enabled, nil), false, ReasonHostNetwork},
		{"host network opted in", basePod(func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Annotations = enabled
		}), ns("shop", nil, nil), false, ReasonHostNetwork},
		{"excluded namespace", podWith(enabled, nil), ns("kube-system", enabled, nil), false, ReasonExcludedNamespace},
		{"already injected by annotation", podWith(map[string]string{AnnotationInjected: "v1"}, nil), ns("shop", enabled, nil), false, ReasonAlreadyInjected},
		{"already injected by container", basePod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: SidecarContainerName}}
		}), ns("shop", enabled, nil), false, ReasonAlreadyInjected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := Injectable(tc.pod, tc.ns, cfg)
			if got != tc.want || reason != tc.reason {
				t.Errorf("Injectable = %v, %s; want %v, %s", got, reason, tc.want, tc.reason)
			}
		})
	}
}
