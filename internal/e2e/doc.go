// Package e2e installs the whole product on a real node (internal/cluster) the way a user installs it, for
// the end-to-end test (test/e2e), the demo (hack/demo) and `make cluster-up`: the product's images built
// without Docker (internal/images) and imported into the node's containerd, `kubectl apply -k` of an overlay
// of manifests/ that names those images and gives the webhook the cluster's ranges, the webhook running as
// its Deployment behind its Service, and the story's objects (an app image with curl, a Prometheus that
// discovers pods by their scrape annotations). Nothing in it asserts: the test asserts, the demo narrates.
//
// The world's certificates are signed by the world's own CA, which an image trusts only if it carries it:
// the app image has it as its CA bundle, and the sidecar runs from an image layered on the product's that
// adds it with EGRESS_CA_BUNDLE (the sidecar's --ca-bundle), as a user with a private CA would build one.
package e2e
