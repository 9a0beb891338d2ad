package e2e

import (
	"sigs.k8s.io/yaml"
)

// podName reads metadata.name from a pod manifest.
func podName(t T, manifest string) string {
	t.Helper()
	var obj struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(manifest), &obj); err != nil || obj.Metadata.Name == "" {
		t.Fatalf("pod manifest without metadata.name: %v", err)
	}
	return obj.Metadata.Name
}

// The story's objects, shared by the end-to-end test and the demo.
const (
	// Namespace is the namespace the story enables for injection.
	Namespace = "shop"

	// PodManifest is the app's pod: no egress configuration of its own, running as UID 1000.
	PodManifest = `apiVersion: v1
kind: Pod
metadata:
  name: checkout
  labels: {app: checkout}
spec:
  securityContext: {runAsUser: 1000, runAsGroup: 1000}
  containers:
  - name: app
    image: registry.example/shop/checkout:1
`

	// AllowAPIRuleSet lets the checkout pods reach api.example.test:443.
	AllowAPIRuleSet = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: payments-deps, namespace: shop}
spec:
  podSelector: {matchLabels: {app: checkout}}
  targets: ["api.example.test:443"]
`

	// AuditRuleSet puts every pod of the namespace in audit mode.
	AuditRuleSet = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: observe, namespace: shop}
spec:
  mode: Audit
  targets: ["audit.example.test:443"]
`
)
