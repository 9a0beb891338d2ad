// Command egress-webhook injects the egress init container and sidecar into pods, keeps its serving
// certificates and the webhook's caBundle up to date, mirrors namespaces' egress.io/inject annotation to the
// label the webhook selects on, keeps the RoleBindings that let injected namespaces read their rule sets,
// and reports EgressRuleSet validity in their status. See docs/webhook.md.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"egress.io/egress/pkg/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	cfg := webhook.DefaultConfig()
	cfg.Version = version
	fs := flag.NewFlagSet("egress-webhook", flag.ExitOnError)
	cfg.BindFlags(fs)
	verbose := fs.Bool("v", false, "debug logging")
	_ = fs.Parse(os.Args[1:])

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(log) // controller-runtime's own packages log through this

	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "egress-webhook: invalid flags:\n%v\n", err)
		os.Exit(2)
	}
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading the API server configuration")
		os.Exit(1)
	}
	mgr, err := webhook.NewManager(cfg, webhook.Options{RESTConfig: restConfig, Registry: ctrlmetrics.Registry, Log: log})
	if err != nil {
		log.Error(err, "setting up")
		os.Exit(1)
	}
	log.Info("starting", "version", version)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
