package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/internal/controlplane"
	"egress.io/egress/internal/testworld"
	"egress.io/egress/pkg/inject"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/webhook"
)

// TestRunAgainstAPIServer runs run, as main does, against a real API server: it serves /readyz, its
// namespace controller mirrors an annotation to the label, it injects a pod sent to it as the API server
// would, /metrics counts that next to controller-runtime's own metrics, and it returns nil once its context
// is cancelled. The settings come from flags and from EGRESS_* and KUBECONFIG variables.
func TestRunAgainstAPIServer(t *testing.T) {
	cp := controlplane.StartT(t, controlplane.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := cp.Kubectl(ctx, "", "apply", "-f", "../../manifests/crd"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := controlplane.WriteKubeconfig(cp.Config, kubeconfig); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	caPEM := testworld.WriteServingCert(t, certDir, "127.0.0.1")
	ports := freePorts(t, 3)
	probe := fmt.Sprintf("127.0.0.1:%d", ports[1])
	metrics := fmt.Sprintf("127.0.0.1:%d", ports[2])

	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	var stderr syncBuilder
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{
			"--static-certs", "--cert-dir=" + certDir, "--webhook-host=127.0.0.1", fmt.Sprintf("--webhook-port=%d", ports[0]),
			"--leader-elect=false", "--metrics-bind-address=" + metrics,
		}, settings.EnvMap(map[string]string{
			"EGRESS_INIT_IMAGE":                "registry.example/init:1",
			"EGRESS_SIDECAR_IMAGE":             "registry.example/sidecar:1",
			"EGRESS_HEALTH_PROBE_BIND_ADDRESS": probe,
			"KUBECONFIG":                       kubeconfig,
		}), &strings.Builder{}, &stderr)
	}()
	waitFor(t, done, &stderr, "/readyz", func() bool { return httpOK("http://" + probe + "/readyz") })

	if _, _, err := cp.Kubectl(ctx, "", "create", "namespace", "shop"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cp.Kubectl(ctx, "", "annotate", "namespace", "shop", inject.AnnotationInject+"="+inject.ValueEnabled); err != nil {
		t.Fatal(err)
	}
	waitFor(t, done, &stderr, "the namespace label mirrored", func() bool {
		ns, err := cp.Clientset().CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
		return err == nil && ns.Labels[inject.LabelInject] == inject.ValueEnabled
	})

	// An admission request, as the API server sends it, is injected with the images of the variables.
	patch := admit(t, fmt.Sprintf("https://127.0.0.1:%d%s", ports[0], webhook.MutatePath), caPEM)
	if !strings.Contains(patch, "registry.example/init:1") || !strings.Contains(patch, "registry.example/sidecar:1") {
		t.Errorf("the patch does not inject the images of EGRESS_INIT_IMAGE and EGRESS_SIDECAR_IMAGE: %s", patch)
	}
	waitFor(t, done, &stderr, "/metrics with the injection counted and controller-runtime's metrics", func() bool {
		body, ok := httpGet("http://" + metrics + "/metrics")
		return ok && strings.Contains(body, `egress_webhook_injections_total{reason="namespace_enabled",result="injected"} 1`) &&
			strings.Contains(body, "controller_runtime_reconcile_total")
	})

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v after its context ended, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of its context ending")
	}
	if !strings.Contains(stderr.String(), `"msg":"starting"`) {
		t.Errorf("no start in the log:\n%s", stderr.String())
	}
}

// admit sends the webhook a pod CREATE admission review for namespace shop and returns the JSON patch.
func admit(t *testing.T, url string, caPEM []byte) string {
	t.Helper()
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","namespace":"shop"},` +
		`"spec":{"containers":[{"name":"app","image":"registry.example/app:1"}]}}`
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1",` +
		`"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},` +
		`"namespace":"shop","operation":"CREATE","userInfo":{},"object":` + pod + `}}`
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Post(url, "application/json", strings.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	if answer.Response == nil || !answer.Response.Allowed || answer.Response.Patch == nil {
		t.Fatalf("admission answer %+v", answer.Response)
	}
	return string(answer.Response.Patch)
}

// waitFor polls cond for 30s, failing early with the log when run returned.
func waitFor(t *testing.T, done <-chan error, log *syncBuilder, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("run returned %v while waiting for %s; log:\n%s", err, what, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s; log:\n%s", what, log.String())
		}
	}
}

func httpGet(url string) (string, bool) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	return b.String(), err == nil && resp.StatusCode == http.StatusOK
}

func httpOK(url string) bool {
	_, ok := httpGet(url)
	return ok
}

// freePorts returns n loopback TCP ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

// syncBuilder is a strings.Builder safe for one writer and concurrent readers.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
