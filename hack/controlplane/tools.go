//go:build tools

// Package controlplane pins the Kubernetes and etcd modules that hack/build-controlplane.sh builds
// kube-apiserver, kubectl and etcd from.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
