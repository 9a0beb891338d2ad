package main

import (
	"fmt"
	"log/slog"

	"github.com/go-logr/logr"

	"egress.io/egress/pkg/kubesource"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar"
)

// newKubeSource returns the Kubernetes policy source for --kube: a watch of EgressRuleSets in the pod's
// namespace and --global-namespace, as the pod's service account (in-cluster credentials, or
// --kubeconfig). The source delivers every rule set it sees; sidecar.Run selects them by the pod's labels
// and compiles them, exactly as for the rules file.
func newKubeSource(s sidecar.Settings, logger *slog.Logger) (policy.Source, error) {
	cfg, err := kubesource.RESTConfig(s.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", sidecar.FlagKube, err)
	}
	src, err := kubesource.New(kubesource.Options{
		Config:          cfg,
		Namespace:       s.Pod.Namespace,
		GlobalNamespace: s.GlobalNamespace,
		Log:             logr.FromSlogHandler(logger.With("component", "kubesource", "pod", s.PodName).Handler()),
	})
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", sidecar.FlagKube, err)
	}
	return src, nil
}
