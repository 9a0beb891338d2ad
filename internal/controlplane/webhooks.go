package controlplane

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PointWebhooksAt replaces the clientConfig of every webhook of the MutatingWebhookConfiguration name (a
// Service in a cluster, which this control plane cannot reach without kube-proxy) with url and caPEM, so
// that the API server calls a webhook server running locally.
func (cp *ControlPlane) PointWebhooksAt(ctx context.Context, name, url string, caPEM []byte) error {
	cfg, err := cp.clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", name, err)
	}
	var ops []map[string]any
	for i := range cfg.Webhooks {
		ops = append(ops, map[string]any{
			"op": "replace", "path": fmt.Sprintf("/webhooks/%d/clientConfig", i),
			"value": map[string]any{"url": url, "caBundle": base64.StdEncoding.EncodeToString(caPEM)},
		})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	if _, err := cp.clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().
		Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("pointing MutatingWebhookConfiguration %s at %s: %w", name, url, err)
	}
	return nil
}
