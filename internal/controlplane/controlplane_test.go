package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestControlPlane starts a control plane and checks what the tests rely on: RBAC, kubectl, the service range,
// service-account tokens, and an API-server restart on the same address.
func TestControlPlane(t *testing.T) {
	cp := StartT(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	out, _, err := cp.Kubectl(ctx, "", "get", "--raw", "/readyz")
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("kubectl get --raw /readyz = %q, %v", out, err)
	}
	svc, err := cp.Clientset().CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kubernetes service: %v", err)
	}
	if !strings.HasPrefix(svc.Spec.ClusterIP, "198.18.128.") {
		t.Errorf("kubernetes service ClusterIP %s is not from 198.18.128.0/20", svc.Spec.ClusterIP)
	}

	if err := cp.EnsureNamespace(ctx, "cp-test", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := cp.EnsureServiceAccount(ctx, "cp-test", "reader"); err != nil {
		t.Fatal(err)
	}
	saCfg, err := cp.ServiceAccountConfig(ctx, "cp-test", "reader")
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(saCfg)
	_, err = sa.CoreV1().Secrets("cp-test").List(ctx, metav1.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), `"system:serviceaccount:cp-test:reader" cannot list resource "secrets"`) {
		t.Errorf("a service account without RBAC listing secrets: err = %v; want RBAC forbidden", err)
	}

	if err := cp.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Clientset().CoreV1().Namespaces().Get(ctx, "cp-test", metav1.GetOptions{}); err == nil {
		t.Error("the API server answered while stopped")
	}
	if err := cp.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Clientset().CoreV1().Namespaces().Get(ctx, "cp-test", metav1.GetOptions{}); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

func TestAssetsDirUnset(t *testing.T) {
	t.Setenv(EnvAssets, "")
	_, err := AssetsDir()
	if err == nil || !strings.Contains(err.Error(), "KUBEBUILDER_ASSETS is not set") {
		t.Errorf("AssetsDir() = %v", err)
	}
	t.Setenv(EnvAssets, t.TempDir())
	_, err = AssetsDir()
	if err == nil || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Errorf("AssetsDir() with an empty dir = %v", err)
	}
}
