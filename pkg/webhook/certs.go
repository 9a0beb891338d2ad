package webhook

import (
	"fmt"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// addCertificates sets up the serving certificates and returns a channel closed once they are in cfg.CertDir.
// With cfg.StaticCerts the files are used as they are. Otherwise cert-controller's rotator keeps a CA and a
// serving certificate for the Service's DNS names in the Secret cfg.CertSecretName (mounted at CertDir),
// renews them before they expire and writes the CA into the caBundle of every webhook of the
// MutatingWebhookConfiguration cfg.WebhookConfigName. It runs in every replica (not leader-elected), so
// each one becomes ready as soon as the Secret is mounted.
func addCertificates(mgr ctrl.Manager, cfg Config) (<-chan struct{}, error) {
	ready := make(chan struct{})
	if cfg.StaticCerts {
		close(ready)
		return ready, nil
	}
	svc := cfg.ServiceName + "." + cfg.ServiceNamespace + ".svc"
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: cfg.ServiceNamespace, Name: cfg.CertSecretName},
		CertDir:        cfg.CertDir,
		CAName:         "egress-webhook-ca",
		CAOrganization: "egress.io",
		DNSName:        svc,
		ExtraDNSNames:  []string{cfg.ServiceName, cfg.ServiceName + "." + cfg.ServiceNamespace, svc + ".cluster.local"},
		IsReady:        ready,
		Webhooks:       []rotator.WebhookInfo{{Name: cfg.WebhookConfigName, Type: rotator.Mutating}},
		FieldOwner:     "egress-webhook",
		// Every replica serves, so every replica needs the certificate, leader or not.
		RequireLeaderElection: false,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up certificate rotation (Secret %s/%s, --cert-secret): %w", cfg.ServiceNamespace, cfg.CertSecretName, err)
	}
	return ready, nil
}
