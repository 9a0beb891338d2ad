// Package apiserver tests the manifests, the webhook, its controllers and the sidecar's Kubernetes policy
// source against a real kube-apiserver and etcd (internal/controlplane), using the real kubectl.
// It needs KUBEBUILDER_ASSETS (`make test` sets it) and fails without it; -short skips it.
package apiserver

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"egress.io/egress/internal/controlplane"
)

// cp is the control plane shared by every test of the package but TestKubeSource (which stops its API server).
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	flag.Parse()
	code := controlplane.Main(m, controlplane.Options{}, &cp)
	if shared.certDir != "" {
		os.RemoveAll(shared.certDir) // the shared webhook's certificates, kubeconfig and binary
	}
	os.Exit(code)
}

// needControlPlane skips under -short (the only skip), else returns the shared control plane.
func needControlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	if testing.Short() {
		t.Skip("needs etcd and kube-apiserver; not run with -short")
	}
	return cp
}

// repoPath returns a path relative to the repository root.
func repoPath(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", rel)
}

// kubectl runs the real kubectl against c and fails the test on error.
func kubectl(t *testing.T, c *controlplane.ControlPlane, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, err := c.Kubectl(ctx, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kubectlErr runs kubectl and returns its combined output and error, for commands expected to fail.
func kubectlErr(t *testing.T, c *controlplane.ControlPlane, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := c.Kubectl(ctx, stdin, args...)
	return strings.TrimSpace(out + errOut), err
}

// eventually polls cond every 50ms until it returns true or timeout passes, then fails with what it says.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
