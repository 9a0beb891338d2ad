// Package e2e_test proves the product on a real Kubernetes node: a kubelet v1.37 with containerd, runc and
// CNI (internal/cluster), the product's images built without Docker and imported into containerd, installed
// with `kubectl apply -k`, the webhook running as its Deployment and injecting real pods. It needs root and
// EGRESS_NODE_ASSETS (make test sets both up); only -short skips it.
package e2e_test

import (
	"flag"
	"os"
	"testing"

	"egress.io/egress/internal/cluster"
)

func TestMain(m *testing.M) {
	cluster.Main() // the node's agent re-executes this binary
	flag.Parse()
	os.Exit(m.Run())
}
