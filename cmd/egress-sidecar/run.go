package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"egress.io/egress/pkg/filesource"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/sidecar"
)

// command is egress-sidecar's usage line and description.
var command = settings.Command{
	Name:     "egress-sidecar",
	Synopsis: "(--policy-service URL | --kube | --rules-file FILE) [flags]   |   gateway --name NAME [flags]",
	Description: "The egress data path of a pod: accepts the TCP and DNS traffic egress-init redirects to it " +
		"and lets through only what the pod's EgressRuleSets allow, from the policy service, from the " +
		"Kubernetes API or from a rules file.",
}

// run wires flags and environment → sidecar.Settings → policy source → sidecar.Run. --help goes to
// stdout, logs to stderr.
func run(ctx context.Context, args []string, env settings.Env, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "gateway" {
		return runGateway(ctx, args[1:], env, stdout, stderr)
	}
	s, err := parseSettings(args, env)
	if errors.Is(err, settings.ErrHelp) {
		defaults := sidecar.DefaultSettings()
		return settings.Usage(stdout, command, defaults.Flags())
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: s.LogLevel}))
	if s.PodLabelsFile != "" {
		if s.Pod.Labels, err = sidecar.ReadPodLabels(s.PodLabelsFile); err != nil {
			return fmt.Errorf("--%s: %w", sidecar.FlagPodLabelsFile, err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	src, detail, err := newSource(s, logger, reg)
	if err != nil {
		return err
	}
	return sidecar.Run(ctx, s.Config, src, sidecar.Options{Logger: logger, Registry: reg, PolicyDetail: detail})
}

// parseSettings reads the command line and the environment into validated settings.
func parseSettings(args []string, env settings.Env) (sidecar.Settings, error) {
	s := sidecar.DefaultSettings()
	if err := settings.Parse(s.Flags(), args, env); err != nil {
		return s, err
	}
	if err := s.Validate(); err != nil {
		return s, settings.Invalid(err)
	}
	for _, src := range []struct {
		on   bool
		flag string
	}{{s.Kube, sidecar.FlagKube}, {s.PolicyService != "", sidecar.FlagPolicyService}} {
		if src.on && s.Pod.Namespace == "" {
			return s, settings.Invalid(fmt.Errorf("--%s (or POD_NAMESPACE) is required with --%s", sidecar.FlagPodNamespace, src.flag))
		}
	}
	return s, nil
}

// newSource returns the policy source the settings ask for (the policy service, the Kubernetes watch or the
// rules file) and what it says for /ready about how current it is (the policy service only).
func newSource(s sidecar.Settings, logger *slog.Logger, reg prometheus.Registerer) (policy.Source, func() string, error) {
	switch {
	case s.RulesFile != "":
		return &filesource.Source{Path: s.RulesFile, Logger: logger.With("component", "rules-file")}, nil, nil
	case s.Kube:
		src, err := newKubeSource(s, logger)
		return src, nil, err
	default:
		src, err := newServiceSource(s, logger, reg)
		if err != nil {
			return nil, nil, err
		}
		return src, src.Detail, nil
	}
}
