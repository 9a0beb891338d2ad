package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/servicesource"
	"egress.io/egress/pkg/sidecar"
)

// newServiceSource returns the policy service's source for --policy-service: a stream of the rule sets of
// the pod's namespace and --global-namespace, authenticated by the pod's projected token
// (--policy-token-file), the service's certificate checked against --policy-ca-file. Its metrics go on reg;
// sidecar.Run selects and compiles what it delivers, exactly as for the other sources.
func newServiceSource(s sidecar.Settings, logger *slog.Logger, reg prometheus.Registerer) (*servicesource.Source, error) {
	m, err := servicesource.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", sidecar.FlagPolicyService, err)
	}
	src, err := servicesource.New(servicesource.Options{
		URL:             s.PolicyService,
		Namespace:       s.Pod.Namespace,
		GlobalNamespace: s.GlobalNamespace,
		Token:           &podauth.TokenFile{Path: s.PolicyTokenFile},
		CAFile:          s.PolicyCAFile,
		Log:             logger.With("component", "policy-service", "pod", s.PodName),
		Metrics:         m,
	})
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", sidecar.FlagPolicyService, err)
	}
	return src, nil
}
