package controlplane

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// StartT starts a control plane for one test and stops it when the test ends. Without KUBEBUILDER_ASSETS it
// fails the test (it skips only under -short).
func StartT(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a control plane (etcd and kube-apiserver); not run with -short")
	}
	begin := time.Now()
	cp, err := Start(opts)
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	t.Logf("control plane up in %s at %s", time.Since(begin).Round(time.Millisecond), cp.APIServerURL())
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return cp
}

// Main runs a test package's tests against one shared control plane stored in *cp, and returns the exit
// code for os.Exit. Call flag.Parse first. Under -short it starts nothing and leaves *cp nil (tests should
// then t.Skip); otherwise a control plane that does not start fails the package with the reason.
func Main(m *testing.M, opts Options, cp **ControlPlane) int {
	if testing.Short() {
		return m.Run()
	}
	begin := time.Now()
	started, err := Start(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: control plane: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "control plane up in %s at %s\n", time.Since(begin).Round(time.Millisecond), started.APIServerURL())
	*cp = started
	code := m.Run()
	if err := started.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: stopping the control plane: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
