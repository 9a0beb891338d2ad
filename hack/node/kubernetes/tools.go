//go:build tools

// Package kubernetes pins the Kubernetes module that hack/build-node.sh builds the node's kubelet,
// kube-proxy, kube-controller-manager and kube-scheduler from (the control plane's kube-apiserver, kubectl
// and etcd come from hack/controlplane, at the same Kubernetes version).
package kubernetes

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
