// Package e2e_test proves that what the webhook writes into a pod spec is what makes egress control work:
// the product installed with kubectl on a real API server, a pod injected by the real webhook, and that pod
// run for real (egress-init, the native sidecar, the app) in a network namespace by internal/kubelet. It
// needs root, KUBEBUILDER_ASSETS (make test sets it), nginx, curl, iptables and prometheus; only -short
// skips it.
package e2e_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"egress.io/egress/internal/e2e"
)

// bin holds the product's binaries, built once by TestMain.
var bin e2e.Binaries

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	b, remove, err := e2e.BuildBinaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	remove()
	os.Exit(code)
}
