package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"egress.io/egress/pkg/gateway"
	"egress.io/egress/pkg/settings"
)

// gatewayCommand is `egress-sidecar gateway`: the same binary (and image) in gateway mode.
var gatewayCommand = settings.Command{
	Name:     "egress-sidecar gateway",
	Synopsis: "--name NAME [flags]",
	Description: "An EgressGateway's pod: accepts tunnels from sidecars (TLS, a CONNECT with the pod's token), " +
		"checks the token with TokenReview, decides again with the source pod's own rule sets, resolves, " +
		"applies the address guard and connects, so that the destination sees the gateway's address.",
}

// runGateway wires flags and environment → gateway.Settings → gateway.Run.
func runGateway(ctx context.Context, args []string, env settings.Env, stdout, stderr io.Writer) error {
	s := gateway.DefaultSettings()
	err := settings.Parse(s.Flags(), args, env)
	if errors.Is(err, settings.ErrHelp) {
		defaults := gateway.DefaultSettings()
		return settings.Usage(stdout, gatewayCommand, defaults.Flags())
	}
	if err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return settings.Invalid(err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: s.LogLevel}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return gateway.Run(ctx, s, gateway.RunOptions{Logger: logger, Registry: reg})
}
