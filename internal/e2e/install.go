package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"egress.io/egress/internal/cluster"
)

// Names from manifests/.
const (
	SystemNamespace = "egress-system"
	WebhookName     = "egress-webhook"
)

// Overlay is the kustomization this package applies: manifests/ as it is, with the local images and the
// webhook flags for this cluster's ranges. A user installs the same way with their registry and ranges.
// base maps each image's name in manifests/ (egress-init) to the name the base kustomization gives it.
func Overlay(manifestsDir string, base map[string]string) string {
	return fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %s
# The base's images: renamed to the images imported into the node. kustomizeconfig.yaml (a copy of the
# base's) makes that rewrite the webhook's EGRESS_INIT_IMAGE and EGRESS_SIDECAR_IMAGE too.
images:
- {name: %s, newName: %s, newTag: %s}
- {name: %s, newName: %s, newTag: %s}
- {name: %s, newName: %s, newTag: %s}
configurations:
- kustomizeconfig.yaml
# This cluster's pod, service and node ranges are never redirected; the world's servers are public.
patches:
- target: {kind: Deployment, name: egress-webhook}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --exclude-outbound-cidrs=%s
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --public-cidrs=%s
`, manifestsDir,
		base["egress-webhook"], imageName(ProductRef("egress-webhook")), Version,
		base["egress-init"], imageName(ProductRef("egress-init")), Version,
		base["egress-sidecar"], imageName(SidecarWorldCARef), Version+"-world-ca",
		cluster.ClusterCIDRs, cluster.WorldPublicCIDRs)
}

func imageName(ref string) string { return ref[:strings.LastIndex(ref, ":")] }

// baseImages reads the images of manifests/kustomization.yaml: name to the newName it sets.
func baseImages(manifests string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(manifests, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("manifests/kustomization.yaml: %w", err)
	}
	out := map[string]string{}
	for _, img := range k.Images {
		out[img.Name] = img.Name
		if img.NewName != "" {
			out[img.Name] = img.NewName
		}
	}
	for _, name := range []string{"egress-webhook", "egress-init", "egress-sidecar"} {
		if out[name] == "" {
			return nil, fmt.Errorf("manifests/kustomization.yaml names no image %s", name)
		}
	}
	return out, nil
}

// WriteOverlay writes the overlay's kustomization.yaml (naming manifests/ relative to dir) and its copy of
// kustomizeconfig.yaml into dir.
func WriteOverlay(dir string) error {
	manifests := filepath.Join(RepoRoot(), "manifests")
	rel, err := filepath.Rel(dir, manifests)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base, err := baseImages(manifests)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(Overlay(rel, base)), 0o644); err != nil {
		return err
	}
	config, err := os.ReadFile(filepath.Join(manifests, "kustomizeconfig.yaml"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "kustomizeconfig.yaml"), config, 0o644)
}

// Install writes the overlay into dir (relative to manifests/, as kustomize wants), applies it with
// `kubectl apply -k` and waits until the webhook's Deployment is available and its configuration carries
// the CA bundle of its rotated certificate. It returns what kubectl printed.
func Install(ctx context.Context, c *cluster.Cluster, dir string) (string, error) {
	if err := WriteOverlay(dir); err != nil {
		return "", err
	}
	out, err := c.Kubectl(ctx, "", "apply", "-k", dir)
	if err != nil {
		return out, err
	}
	if _, err := c.Kubectl(ctx, "", "-n", SystemNamespace, "rollout", "status", "deployment/"+WebhookName, "--timeout=150s"); err != nil {
		return out, fmt.Errorf("%w\n%s", err, c.Diagnostics())
	}
	err = Poll(ctx, "the webhook's caBundle", func() bool {
		mwc, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, WebhookName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, w := range mwc.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return false
			}
		}
		return true
	})
	return out, err
}

// Poll checks ok every 100 ms until it holds or ctx ends.
func Poll(ctx context.Context, what string, ok func() bool) error {
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
