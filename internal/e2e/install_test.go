package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"egress.io/egress/internal/cluster"
)

// TestOverlayNamesTheLocalImages renders the overlay with the real kubectl: every image the installed
// objects name, the webhook's injected images included, is one imported into the node, and the webhook gets
// the cluster's ranges.
func TestOverlayNamesTheLocalImages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kubectl from EGRESS_NODE_ASSETS; not run with -short")
	}
	assets, err := cluster.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteOverlay(dir); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v: %s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"image: " + ProductRef("egress-webhook"),
		"value: " + ProductRef("egress-init"),
		"value: " + SidecarWorldCARef,
		"--exclude-outbound-cidrs=" + cluster.ClusterCIDRs,
		"--public-cidrs=" + cluster.WorldPublicCIDRs,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered overlay lacks %q", want)
		}
	}
	if strings.Contains(text, "registry.example.com") {
		t.Errorf("the rendered overlay still names registry.example.com:\n%s", text)
	}
}
