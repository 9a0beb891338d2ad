//go:build tools

// Package containerd pins the containerd module that hack/build-node.sh builds containerd, ctr and
// containerd-shim-runc-v2 from (Kubernetes 1.36 and later need containerd 2).
package containerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
