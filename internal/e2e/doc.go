// Package e2e assembles the whole product for the end-to-end test (test/e2e) and the demo (hack/demo): a real
// kube-apiserver and etcd, `kubectl apply -k manifests/`, the real webhook binary run as a local process with
// the Deployment's flags, a namespace annotated for injection, a pod created through the API server and run
// by internal/kubelet in a network namespace (egress-init, then the native sidecar as its UID, then the app),
// and a "world" namespace at 198.18.0.0/15 addresses with nginx (HTTP and HTTPS for api.example.test with a
// test CA) and a DNS server. Nothing in it asserts: the test asserts, the demo narrates.
//
// Addresses:
//
//	198.18.0.1   the pod, on its veth to the world     198.18.0.2  the world: nginx :80 :443, DNS :53
//	198.18.1.2   the pod, on its veth to the host       198.18.1.1  the host: kube-apiserver
package e2e

import "egress.io/egress/internal/testworld"

// T is what the environment needs of a test or of the demo.
type T = testworld.T
