package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"egress.io/egress/pkg/redirect"
)

// Exit codes: the pod must not start without interception, so every failure is non-zero.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run is egress-init minus the process: it reads args and the environment, acts, and returns the exit
// code. Failures are one line on stderr, "egress-init: ...", naming what is missing or wrong.
func run(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "egress-init: "+oneLine(err))
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := execute(opts, log, stdout); err != nil {
		fmt.Fprintln(stderr, "egress-init: "+oneLine(err))
		return exitFailure
	}
	return exitOK
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

// oneLine joins a multi-line error (iptables output, joined validation errors) into one log line.
func oneLine(err error) string {
	lines := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(slices.DeleteFunc(lines, func(s string) bool { return s == "" }), "; ")
}
