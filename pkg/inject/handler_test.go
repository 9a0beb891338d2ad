package inject

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// namespaces is a client.Reader that knows only namespaces.
type namespaces map[string]*corev1.Namespace

func (n namespaces) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ns, ok := n[key.Name]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), key.Name)
	}
	ns.DeepCopyInto(obj.(*corev1.Namespace))
	return nil
}

func (n namespaces) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

func newTestHandler(t *testing.T, cfg Config) (*Handler, *prometheus.Registry) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(cfg, namespaces{"shop": enabledNamespace("shop", nil)}, scheme, m, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

func podRequest(t *testing.T, pod *corev1.Pod, dryRun bool) admission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: pod.Namespace,
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}, DryRun: ptr.To(dryRun),
	}}
}

// applyResponse applies the response's JSON patch to the request's pod.
func applyResponse(t *testing.T, req admission.Request, resp admission.Response) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	if err := json.Unmarshal(applyPatch(t, req.Object.Raw, resp), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func TestHandlerInjectsOnceAndCounts(t *testing.T) {
	h, reg := newTestHandler(t, testConfig())
	req := podRequest(t, basePod(), false)
	resp := h.Handle(context.Background(), req)
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("first call: allowed %v, %d patches, %v", resp.Allowed, len(resp.Patches), resp.Result)
	}
	injected := applyResponse(t, req, resp)
	if !IsInjected(injected) || len(injected.Spec.InitContainers) != 2 {
		t.Fatalf("patched pod not injected: %v", injected.Spec.InitContainers)
	}

	// Re-invocation on the patched pod: allowed, no patch.
	again := h.Handle(context.Background(), podRequest(t, injected, false))
	if !again.Allowed || len(again.Patches) != 0 {
		t.Errorf("re-invocation: allowed %v, %d patches", again.Allowed, len(again.Patches))
	}
	// A dry run answers the same but is not counted.
	dry := h.Handle(context.Background(), podRequest(t, basePod(), true))
	if !dry.Allowed || len(dry.Patches) == 0 {
		t.Errorf("dry run: allowed %v, %d patches", dry.Allowed, len(dry.Patches))
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"egress_webhook_injections_total reason=already_injected result=skipped":   1,
		"egress_webhook_injections_total reason=namespace_enabled result=injected": 1,
	}
	if len(got) != len(want) {
		t.Errorf("metrics = %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestHandlerRejectsAndWarns(t *testing.T) {
	unsafe := basePod(func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](2555)}
	})
	h, _ := newTestHandler(t, testConfig())
	resp := h.Handle(context.Background(), podRequest(t, unsafe, false))
	if resp.Allowed || !strings.Contains(resp.Result.Message, `container "app" runs as UID 2555`) {
		t.Errorf("reject mode: allowed %v, message %q", resp.Allowed, resp.Result.Message)
	}

	cfg := testConfig()
	cfg.UnsafePods = WarnUnsafePods
	h, _ = newTestHandler(t, cfg)
	resp = h.Handle(context.Background(), podRequest(t, unsafe, false))
	if !resp.Allowed || len(resp.Patches) == 0 || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "UID 2555") {
		t.Errorf("warn mode: allowed %v, %d patches, warnings %q", resp.Allowed, len(resp.Patches), resp.Warnings)
	}

	resp = h.Handle(context.Background(), podRequest(t, basePod(func(p *corev1.Pod) {
		p.Annotations = map[string]string{AnnotationInject: "true"}
	}), false))
	if resp.Allowed || !strings.Contains(resp.Result.Message, AnnotationInject) {
		t.Errorf("invalid inject value: allowed %v, %q", resp.Allowed, resp.Result.Message)
	}

	missing := basePod()
	missing.Namespace = "gone"
	resp = h.Handle(context.Background(), podRequest(t, missing, false))
	if resp.Allowed || resp.Result.Code != 500 {
		t.Errorf("unknown namespace: allowed %v, code %d (want a 500 so the API server fails closed)", resp.Allowed, resp.Result.Code)
	}
}
