package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/pkg/inject"
)

// TestNamespaceLabelMirror checks the namespace controller: the annotation is mirrored to the label, its
// removal removes the label, and a label set directly by an operator is left alone.
func TestNamespaceLabelMirror(t *testing.T) {
	setupShared(t)
	startWebhook(t, webhookConfig(t))
	ctx := context.Background()
	nss := cp.Clientset().CoreV1().Namespaces()
	waitLabel := func(name, want string, present bool) {
		t.Helper()
		eventually(t, 10*time.Second, fmt.Sprintf("namespace %s label %s=%q (present %v)", name, inject.LabelInject, want, present), func() (bool, string) {
			ns, err := nss.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			v, ok := ns.Labels[inject.LabelInject]
			return ok == present && v == want, fmt.Sprint(ns.Labels)
		})
	}

	if err := cp.EnsureNamespace(ctx, "mirror", nil, map[string]string{inject.AnnotationInject: inject.ValueEnabled}); err != nil {
		t.Fatal(err)
	}
	waitLabel("mirror", inject.ValueEnabled, true)
	kubectl(t, cp, "", "annotate", "namespace", "mirror", "--overwrite", inject.AnnotationInject+"=disabled")
	waitLabel("mirror", inject.ValueDisabled, true)
	kubectl(t, cp, "", "annotate", "namespace", "mirror", inject.AnnotationInject+"-")
	waitLabel("mirror", "", false)

	// An operator's own label, without the annotation, stays.
	if err := cp.EnsureNamespace(ctx, "labelled", map[string]string{inject.LabelInject: inject.ValueEnabled}, nil); err != nil {
		t.Fatal(err)
	}
	kubectl(t, cp, "", "annotate", "namespace", "labelled", "unrelated=change")
	time.Sleep(time.Second)
	waitLabel("labelled", inject.ValueEnabled, true)
}

// TestCertRotation runs the webhook with certificate rotation (as in the Deployment) and checks that the
// rotator, with the manifests' RBAC, fills the Secret and writes its CA into both webhooks' caBundle. The
// serving side needs the Secret mounted by a kubelet, which this test does not have.
func TestCertRotation(t *testing.T) {
	setupShared(t)
	// Put the tests' own caBundle back afterwards (cleanups run last-in first-out: after the manager stops).
	t.Cleanup(func() {
		if err := pointWebhookAt(t, cp, shared.port, shared.caPEM); err != nil {
			t.Error(err)
		}
	})
	cfg := webhookConfig(t)
	cfg.StaticCerts = false
	cfg.CertDir = t.TempDir()
	startWebhook(t, cfg)

	ctx := context.Background()
	var ca []byte
	eventually(t, 20*time.Second, "Secret egress-webhook-certs filled", func() (bool, string) {
		s, err := cp.Clientset().CoreV1().Secrets("egress-system").Get(ctx, "egress-webhook-certs", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ca = s.Data["ca.crt"]
		return len(ca) > 0 && len(s.Data["tls.crt"]) > 0 && len(s.Data["tls.key"]) > 0, fmt.Sprint(len(s.Data), " keys")
	})
	eventually(t, 20*time.Second, "caBundle injected", func() (bool, string) {
		mwc, err := cp.Clientset().AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "egress-webhook", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, w := range mwc.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, ca) {
				return false, w.Name + " has another caBundle"
			}
		}
		return true, ""
	})
}
