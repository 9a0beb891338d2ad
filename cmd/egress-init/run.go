package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/settings"
)

// run is egress-init minus the process: it reads args and the environment and acts. --help and --dry-run
// write to stdout, logs to stderr; main turns the error into the one line "egress-init: ..." and the exit
// code (every failure is non-zero: the pod must not start without interception).
func run(args []string, env settings.Env, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, env)
	if errors.Is(err, settings.ErrHelp) {
		defaults := defaultOptions()
		return settings.Usage(stdout, command, defaults.flags())
	}
	if err != nil {
		return err
	}
	return execute(opts, slog.New(slog.NewTextHandler(stderr, nil)), stdout)
}

// execute plans from the pod's address families, then prints, installs or removes the rules.
func execute(opts options, log *slog.Logger, stdout io.Writer) error {
	families, err := redirect.DetectFamilies()
	if err != nil {
		return fmt.Errorf("detecting the pod's address families: %w", err)
	}
	if opts.dryRun {
		_, err := io.WriteString(stdout, opts.config.Plan(families).String())
		return err
	}
	if err := redirect.CheckNetAdmin(); err != nil {
		return err
	}
	applier := redirect.NewApplier(log, redirect.OpenTables)
	if opts.cleanup {
		changes, err := applier.Cleanup(families)
		if err != nil {
			return fmt.Errorf("removing interception: %w", err)
		}
		log.Info("egress interception removed", "changes", len(changes))
		return nil
	}
	plan := opts.config.Plan(families)
	changes, err := applier.Apply(plan)
	if err != nil {
		return fmt.Errorf("installing interception: %w", err)
	}
	attrs := []any{"changes", len(changes)}
	for _, rs := range plan.Rulesets {
		attrs = append(attrs, rs.Family.String(), rs.Mode.String())
	}
	log.Info("egress interception installed", attrs...)
	return nil
}
