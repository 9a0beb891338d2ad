package main

import (
	"errors"

	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/settings"
)

// Flags of egress-init that choose what to do rather than configure the rules.
const (
	flagDryRun  = "dry-run"
	flagCleanup = "cleanup"
)

// command is egress-init's usage line and description.
var command = settings.Command{
	Name:        "egress-init",
	Synopsis:    "[flags]",
	Description: "Installs (or with --cleanup removes) the iptables rules of egress interception.",
}

// options are egress-init's parsed command line: what to do, and the Config to do it with.
type options struct {
	config  redirect.Config
	dryRun  bool
	cleanup bool
}

// defaultOptions installs the rules of redirect.DefaultConfig.
func defaultOptions() options { return options{config: redirect.DefaultConfig()} }

// flags is egress-init's table: the Config flags (shared with the webhook), then the actions.
func (o *options) flags() []settings.Flag {
	return append(o.config.Flags(),
		settings.Flag{
			Name: flagDryRun, Value: settings.Bool(&o.dryRun),
			Usage: "Print the rules in iptables-restore form and change nothing. Needs neither privileges nor iptables.",
		},
		settings.Flag{
			Name: flagCleanup, Value: settings.Bool(&o.cleanup),
			Usage: "Remove the jumps and chains egress-init installs, in both families. Excludes `--dry-run`.",
		},
	)
}

// parseOptions reads args and the environment (a flag wins over its EGRESS_* variable) into options with
// a validated Config.
func parseOptions(args []string, env settings.Env) (options, error) {
	o := defaultOptions()
	if err := settings.Parse(o.flags(), args, env); err != nil {
		return options{}, err
	}
	if err := o.config.Validate(); err != nil {
		return options{}, settings.Invalid(err)
	}
	if o.dryRun && o.cleanup {
		return options{}, settings.Invalid(errors.New("--dry-run and --cleanup exclude each other"))
	}
	return o, nil
}
