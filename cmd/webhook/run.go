package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"

	"egress.io/egress/pkg/kubesource"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/webhook"
)

// command is the webhook's usage line and description.
var command = settings.Command{
	Name:     "egress-webhook",
	Synopsis: "--init-image IMAGE --sidecar-image IMAGE [flags]",
	Description: "Injects egress-init and egress-sidecar into the pods of opted-in namespaces, serves their " +
		"rule sets to the sidecars (the policy service), keeps its serving certificate and the webhook " +
		"configuration's caBundle current and publishes the CA, mirrors the egress.io/inject annotation of " +
		"namespaces to the label the webhook selects on, lets namespaces that use the direct watch read their " +
		"rule sets, and writes the status of EgressRuleSets.",
}

// run is the webhook minus the process: it reads args and the environment, then runs the manager until
// ctx is done. --help goes to stdout, logs to stderr.
func run(ctx context.Context, args []string, env settings.Env, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, env)
	if errors.Is(err, settings.ErrHelp) {
		defaults := defaultConfig()
		return settings.Usage(stdout, command, defaults.Flags())
	}
	if err != nil {
		return err
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctrl.SetLogger(log) // controller-runtime's own packages log through this
	restConfig, err := kubesource.RESTConfig(cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("--%s: %w", webhook.FlagKubeconfig, err)
	}
	mgr, err := webhook.NewManager(cfg, webhook.Options{RESTConfig: restConfig, Registry: prometheus.NewRegistry(), Log: log})
	if err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	log.Info("starting", "version", version)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("manager stopped: %w", err)
	}
	return nil
}

// defaultConfig is webhook.DefaultConfig with the build's version.
func defaultConfig() webhook.Config {
	cfg := webhook.DefaultConfig()
	cfg.Inject.Version = version
	return cfg
}

// parseConfig reads the command line and the environment into a validated Config.
func parseConfig(args []string, env settings.Env) (webhook.Config, error) {
	cfg := defaultConfig()
	if err := settings.Parse(cfg.Flags(), args, env); err != nil {
		return cfg, err
	}
	return cfg, settings.Invalid(cfg.Validate())
}
