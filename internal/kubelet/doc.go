// Package kubelet plays the kubelet's part for one pod in end-to-end tests and the demo: from the pod object
// the API server returned (after the webhook mutated it), it materialises the pod's volumes, runs each init
// container to completion in order, starts native sidecars (init containers with restartPolicy Always) and
// waits for their startup probes as the kubelet does, and runs "the app" as the app container's user, all
// inside a network namespace the caller created.
//
// What it does not do: pull images (Options.Binaries maps each image to a local executable standing in for
// its entrypoint), mount filesystems (a volume is materialised in a directory and every argument or
// environment value under a volume's mountPath is rewritten to it), enforce readOnlyRootFilesystem or
// resources, or restart containers. Where a container mounts a service-account token at the usual path, it
// also gets KUBECONFIG pointing at a kubeconfig built from that volume (token file and CA) and
// Options.APIServerURL, which stands in for the in-cluster variables.
package kubelet

import "egress.io/egress/internal/netnstest"

// T is what the runner needs of a test or of the demo.
type T interface {
	netnstest.T
	Logf(format string, args ...any)
}
