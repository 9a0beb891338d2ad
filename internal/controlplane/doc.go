// Package controlplane starts a real etcd and kube-apiserver on loopback ports for tests, from the binaries in
// KUBEBUILDER_ASSETS (built by hack/build-controlplane.sh; `make test` exports the variable).
//
// Usage, once per test package (a warm start takes a few seconds):
//
//	var cp *controlplane.ControlPlane
//
//	func TestMain(m *testing.M) {
//		flag.Parse()
//		os.Exit(controlplane.Main(m, controlplane.Options{}, &cp))
//	}
//
// or, for one test that wants a control plane of its own, cp := controlplane.StartT(t, opts).
//
// What runs: etcd, then kube-apiserver with serving certificates and a service-account signing key generated
// at start, --authorization-mode=RBAC, the default admission plugins (ServiceAccount included) and the
// service range Options.ServiceClusterIPRange (198.18.128.0/20 by default). No kube-controller-manager,
// scheduler or kubelet runs: pods are stored but never scheduled, and no controller creates namespaces'
// "default" ServiceAccount or the kube-root-ca.crt ConfigMap. Create the ServiceAccount before creating pods
// (EnsureServiceAccount), or the ServiceAccount admission plugin rejects them.
//
// Clients: Config is an admin (system:masters) client-certificate config; KubeconfigPath is the same
// identity as a kubeconfig file for the real kubectl (Kubectl runs it); ServiceAccountConfig returns a
// config authenticated only by a token from the TokenRequest API, so RBAC applies as in a cluster.
//
// Stop stops kube-apiserver, waits for it to exit, then does the same for etcd. StopAPIServer and
// StartAPIServer take the API server down and back up on the same address and certificates, for outage tests.
package controlplane
