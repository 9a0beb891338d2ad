package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"egress.io/egress/pkg/filesource"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar"
)

// run wires flags → sidecar.Config → policy source → sidecar.Run.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--%s: %w", flagLogLevel, err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	if o.podLabelsFile != "" {
		if o.cfg.Pod.Labels, err = sidecar.ReadPodLabels(o.podLabelsFile); err != nil {
			return fmt.Errorf("--%s: %w", flagPodLabelsFile, err)
		}
		o.cfg.PodLabelsFile = o.podLabelsFile
	}
	src, err := newSource(o, logger)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return sidecar.Run(ctx, o.cfg, src, sidecar.Options{Logger: logger, Registry: reg})
}

// newSource returns the policy source the flags ask for: the rules file, or the Kubernetes watch.
func newSource(o options, logger *slog.Logger) (policy.Source, error) {
	if o.rulesFile != "" {
		return &filesource.Source{Path: o.rulesFile, Logger: logger.With("component", "rules-file")}, nil
	}
	return newKubeSource(o, logger)
}
