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
