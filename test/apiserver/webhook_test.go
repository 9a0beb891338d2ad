package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"egress.io/egress/pkg/inject"
)

// podYAML is a minimal pod; extra is indented YAML appended under metadata (meta) and to the container (ctr).
func podYAML(name, namespace, meta, ctr string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
%s
spec:
  containers:
  - name: app
    image: registry.example/app:1
%s
`, name, namespace, meta, ctr)
}

// createPod creates a pod with kubectl and returns what the API server stored.
func createPod(t *testing.T, doc string) *corev1.Pod {
	t.Helper()
	out := kubectl(t, cp, doc, "create", "-f", "-", "-o", "json")
	pod := &corev1.Pod{}
	if err := json.Unmarshal([]byte(out), pod); err != nil {
		t.Fatalf("decoding kubectl output: %v\n%s", err, out)
	}
	return pod
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func countNamed(pod *corev1.Pod, name string) int {
	n := 0
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == name {
			n++
		}
	}
	return n
}

// injectionNamespaces creates "inject-on" (enabled by annotation only: the controller must mirror the
// label) and "inject-off", each with its default service account, and waits for the label.
func injectionNamespaces(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := cp.EnsureNamespace(ctx, "inject-on", nil, map[string]string{inject.AnnotationInject: inject.ValueEnabled}); err != nil {
		t.Fatal(err)
	}
	if err := cp.EnsureNamespace(ctx, "inject-off", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"inject-on", "inject-off"} {
		if err := cp.EnsureServiceAccount(ctx, ns, "default"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "namespace inject-on labelled by the namespace controller", func() (bool, string) {
		ns, err := cp.Clientset().CoreV1().Namespaces().Get(ctx, "inject-on", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return ns.Labels[inject.LabelInject] == inject.ValueEnabled, fmt.Sprint(ns.Labels)
	})
}

// TestInjection creates pods with kubectl through the real MutatingWebhookConfiguration and the webhook
// running in-process, and checks what the API server stores.
func TestInjection(t *testing.T) {
	setupShared(t)
	startWebhook(t, webhookConfig(t))
	injectionNamespaces(t)

	t.Run("enabled namespace is injected", func(t *testing.T) {
		pod := createPod(t, podYAML("app", "inject-on", "", ""))
		if got := containerNames(pod.Spec.InitContainers); strings.Join(got, ",") != "egress-init,egress-sidecar" {
			t.Errorf("init containers = %v; want egress-init, egress-sidecar", got)
		}
		if got := containerNames(pod.Spec.Containers); strings.Join(got, ",") != "app" {
			t.Errorf("containers = %v; want app", got)
		}
		if v := pod.Annotations[inject.AnnotationInjected]; v != "v0.0.0-apiserver-test" {
			t.Errorf("%s = %q", inject.AnnotationInjected, v)
		}
		if pod.Annotations[inject.AnnotationPrometheusPort] != "15020" {
			t.Errorf("prometheus annotations: %v", pod.Annotations)
		}
		sidecar := pod.Spec.InitContainers[1]
		if sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Error("sidecar is not a native sidecar (restartPolicy: Always)")
		}
		if sidecar.Image != testSidecarImage || pod.Spec.InitContainers[0].Image != testInitImage {
			t.Errorf("images %s, %s", pod.Spec.InitContainers[0].Image, sidecar.Image)
		}
		// The ServiceAccount admission plugin ran (as in a real cluster) and the sidecar has its own token.
		var volumes []string
		for _, v := range pod.Spec.Volumes {
			volumes = append(volumes, v.Name)
		}
		if v := strings.Join(volumes, ","); !strings.Contains(v, "kube-api-access-") || !strings.Contains(v, inject.TokenVolumeName) {
			t.Errorf("volumes = %s; want kube-api-access-* (ServiceAccount admission) and %s", v, inject.TokenVolumeName)
		}
		if !strings.Contains(strings.Join(pod.Spec.InitContainers[0].Args, " "), "--exclude-outbound-cidrs=198.18.128.0/20") {
			t.Errorf("egress-init args %v lack the cluster's excluded CIDRs", pod.Spec.InitContainers[0].Args)
		}
	})

	t.Run("other namespace untouched", func(t *testing.T) {
		pod := createPod(t, podYAML("app", "inject-off", "", ""))
		if len(pod.Spec.InitContainers) != 0 || pod.Annotations[inject.AnnotationInjected] != "" {
			t.Errorf("pod in a namespace without egress.io/inject was changed: %v %v", containerNames(pod.Spec.InitContainers), pod.Annotations)
		}
	})

	t.Run("opted out by annotation", func(t *testing.T) {
		pod := createPod(t, podYAML("opted-out-annotation", "inject-on", "  annotations: {egress.io/inject: disabled}", ""))
		if countNamed(pod, inject.SidecarContainerName) != 0 {
			t.Error("opted-out pod was injected")
		}
	})

	t.Run("opted out by label", func(t *testing.T) {
		pod := createPod(t, podYAML("opted-out-label", "inject-on", "  labels: {egress.io/inject: disabled}", ""))
		if countNamed(pod, inject.SidecarContainerName) != 0 {
			t.Error("opted-out pod was injected")
		}
	})

	t.Run("opted in by label in another namespace", func(t *testing.T) {
		pod := createPod(t, podYAML("opted-in", "inject-off", "  labels: {egress.io/inject: enabled}", ""))
		if countNamed(pod, inject.SidecarContainerName) != 1 {
			t.Errorf("pod labelled egress.io/inject=enabled was not injected: %v", containerNames(pod.Spec.InitContainers))
		}
	})

	t.Run("not a native sidecar", func(t *testing.T) {
		pod := createPod(t, podYAML("classic", "inject-on", `  annotations: {egress.io/native-sidecar: "false"}`, ""))
		if got := containerNames(pod.Spec.Containers); strings.Join(got, ",") != "egress-sidecar,app" {
			t.Errorf("containers = %v; want egress-sidecar, app", got)
		}
	})

	t.Run("sidecar UID rejected", func(t *testing.T) {
		out, err := kubectlErr(t, cp, podYAML("as-sidecar", "inject-on", "", "    securityContext: {runAsUser: 2555}"), "create", "-f", "-")
		if err == nil {
			t.Fatalf("pod running as the sidecar's UID was admitted: %s", out)
		}
		t.Logf("API server said: %s", out)
		for _, want := range []string{`admission webhook "namespace.inject.egress.io" denied the request`, `container "app" runs as UID 2555`, "sidecar's UID"} {
			if !strings.Contains(out, want) {
				t.Errorf("message lacks %q", want)
			}
		}
	})

	t.Run("NET_ADMIN rejected", func(t *testing.T) {
		out, err := kubectlErr(t, cp, podYAML("net-admin", "inject-on", "", "    securityContext: {capabilities: {add: [NET_ADMIN]}}"), "create", "-f", "-")
		if err == nil || !strings.Contains(out, "adds capability NET_ADMIN") {
			t.Errorf("pod adding NET_ADMIN: err %v, output %s", err, out)
		}
	})

	t.Run("invalid annotation rejected", func(t *testing.T) {
		out, err := kubectlErr(t, cp, podYAML("bad-cidr", "inject-on", "  annotations: {egress.io/exclude-outbound-cidrs: 203.0.113.0/33}", ""), "create", "-f", "-")
		if err == nil || !strings.Contains(out, "pod annotation egress.io/exclude-outbound-cidrs") || !strings.Contains(out, "203.0.113.0/33") {
			t.Errorf("pod with an invalid CIDR annotation: err %v, output %s", err, out)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		out := kubectl(t, cp, podYAML("dry", "inject-on", "", ""), "create", "--dry-run=server", "-f", "-", "-o", "yaml")
		pod := &corev1.Pod{}
		if err := yaml.Unmarshal([]byte(out), pod); err != nil {
			t.Fatal(err)
		}
		if countNamed(pod, inject.SidecarContainerName) != 1 {
			t.Error("server-side dry run did not return the injected pod")
		}
		if _, err := kubectlErr(t, cp, "", "get", "pod", "-n", "inject-on", "dry"); err == nil {
			t.Error("dry-run pod was stored")
		}
	})
}

// TestReinvocation registers a second webhook, called after the egress webhook, that changes every pod; the
// API server then calls the egress webhook again (reinvocationPolicy: IfNeeded), which must add nothing.
func TestReinvocation(t *testing.T) {
	setupShared(t)
	w := startWebhook(t, webhookConfig(t))
	injectionNamespaces(t)

	calls := make(chan struct{}, 100)
	port := startTouchWebhook(t, calls)
	touch := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: zz-test-touch
webhooks:
- name: touch.test.egress.io
  admissionReviewVersions: [v1]
  clientConfig:
    url: https://127.0.0.1:%d/touch
    caBundle: %s
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: inject-on}}
  failurePolicy: Fail
  sideEffects: None
`, port, b64(shared.caPEM))
	kubectl(t, cp, touch, "apply", "-f", "-")
	t.Cleanup(func() { kubectl(t, cp, "", "delete", "mutatingwebhookconfiguration", "zz-test-touch") })

	before := w.counter(t, "skipped", string(inject.ReasonAlreadyInjected))
	pod := createPod(t, podYAML("reinvoked", "inject-on", "", ""))
	if len(calls) == 0 {
		t.Fatal("the second webhook was not called")
	}
	if pod.Annotations["test.egress.io/touched"] != "true" {
		t.Error("the second webhook's change is missing")
	}
	if countNamed(pod, inject.InitContainerName) != 1 || countNamed(pod, inject.SidecarContainerName) != 1 {
		t.Errorf("containers after re-invocation: init %v, app %v", containerNames(pod.Spec.InitContainers), containerNames(pod.Spec.Containers))
	}
	if got := w.counter(t, "skipped", string(inject.ReasonAlreadyInjected)); got <= before {
		t.Errorf("egress webhook was not re-invoked (already_injected count %v, before %v)", got, before)
	}
}

// TestFailClosed runs no webhook while the configuration still points at its port: pod creation fails in
// an enabled namespace (failurePolicy: Fail) and works elsewhere and for pods opted out by label.
func TestFailClosed(t *testing.T) {
	setupShared(t)
	w := startWebhook(t, webhookConfig(t)) // only to have the namespace label mirrored
	injectionNamespaces(t)
	w.Stop()
	if tlsServing(shared.port) {
		t.Fatal("the webhook still serves after stopping")
	}
	out, err := kubectlErr(t, cp, podYAML("while-down", "inject-on", "", ""), "create", "-f", "-")
	if err == nil {
		t.Fatalf("pod created in an enabled namespace while the webhook was down: %s", out)
	}
	t.Logf("API server said: %s", out)
	if !strings.Contains(out, `failed calling webhook "namespace.inject.egress.io"`) {
		t.Errorf("message lacks the failed webhook call")
	}
	kubectl(t, cp, podYAML("while-down", "inject-off", "", ""), "create", "-f", "-")
	kubectl(t, cp, podYAML("while-down-opted-out", "inject-on", "  labels: {egress.io/inject: disabled}", ""), "create", "-f", "-")
}

// startTouchWebhook serves a mutating webhook that adds an annotation to every pod, on the tests' certificate.
func startTouchWebhook(t *testing.T, calls chan<- struct{}) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/touch", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		calls <- struct{}{}
		patch := `[{"op":"add","path":"/metadata/annotations","value":{"test.egress.io/touched":"true"}}]`
		var pod corev1.Pod
		if json.Unmarshal(review.Request.Object.Raw, &pod) == nil && pod.Annotations != nil {
			patch = `[{"op":"add","path":"/metadata/annotations/test.egress.io~1touched","value":"true"}]`
		}
		pt := admissionv1.PatchTypeJSONPatch
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true, Patch: []byte(patch), PatchType: &pt}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	})
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: mux}
	go func() { _ = srv.ListenAndServeTLS(shared.certDir+"/tls.crt", shared.certDir+"/tls.key") }()
	t.Cleanup(func() { _ = srv.Close() })
	eventually(t, 5*time.Second, "touch webhook serving", func() (bool, string) { return tlsServing(port), "" })
	return port
}
