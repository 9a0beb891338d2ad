package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"egress.io/egress/pkg/redirect"
)

// Flags of egress-init that choose what to do rather than configure the rules.
const (
	flagDryRun  = "dry-run"
	flagCleanup = "cleanup"
)

// options are egress-init's parsed command line: what to do, and the Config to do it with.
type options struct {
	config  redirect.Config
	dryRun  bool
	cleanup bool
}

// parseOptions parses args into a validated Config. Each flag not given falls back to its EGRESS_
// environment variable (redirect.EnvVar), so a flag wins over its variable. -h prints usage to usageOut.
func parseOptions(args []string, lookupEnv func(string) (string, bool), usageOut io.Writer) (options, error) {
	var opts options
	fs, texts := newFlagSet(&opts)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		printUsage(fs, usageOut)
		return options{}, err
	} else if err != nil {
		return options{}, fmt.Errorf("%w (see egress-init -h)", err)
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q: egress-init takes flags only", fs.Arg(0))
	}
	fromEnv, err := applyEnv(fs, lookupEnv)
	if err != nil {
		return options{}, err
	}
	if opts.config, err = configFrom(texts, fromEnv); err != nil {
		return options{}, err
	}
	if opts.dryRun && opts.cleanup {
		return options{}, errors.New("--dry-run and --cleanup exclude each other")
	}
	return opts, nil
}

// newFlagSet defines egress-init's flags: the Config flags as text, parsed later by configFrom, and
// the action flags straight into opts.
func newFlagSet(opts *options) (*flag.FlagSet, map[string]*textValue) {
	fs := flag.NewFlagSet("egress-init", flag.ContinueOnError)
	// Errors become one line from run, and usage is printed for -h only: silence the flag package.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	texts := make(map[string]*textValue)
	for _, spec := range redirect.ConfigFlags() {
		texts[spec.Name] = &textValue{text: spec.Default, isBool: spec.Bool}
		fs.Var(texts[spec.Name], spec.Name, fmt.Sprintf("%s (env %s)", spec.Usage, spec.Env))
	}
	fs.BoolVar(&opts.dryRun, flagDryRun, false,
		"print the rules in iptables-restore form and change nothing (env "+redirect.EnvVar(flagDryRun)+")")
	fs.BoolVar(&opts.cleanup, flagCleanup, false,
		"remove the jumps and chains egress-init installs (env "+redirect.EnvVar(flagCleanup)+")")
	return fs, texts
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, "Usage: egress-init [flags]\n\n"+
		"Installs (or with --cleanup removes) the iptables rules of egress interception.\n"+
		"Every flag can also be set by its environment variable; a flag wins over its variable.\n\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// configFrom parses the flags' texts into a validated Config. An error names the flag, and the
// environment variable when the text came from one.
func configFrom(texts map[string]*textValue, fromEnv map[string]string) (redirect.Config, error) {
	config := redirect.DefaultConfig()
	for _, spec := range redirect.ConfigFlags() {
		if err := config.Set(spec.Name, texts[spec.Name].text); err != nil {
			if env, ok := fromEnv[spec.Name]; ok {
				err = fmt.Errorf("%w (set by %s)", err, env)
			}
			return redirect.Config{}, err
		}
	}
	return config, config.Validate()
}

// applyEnv sets each flag not given on the command line from its environment variable, and returns
// which flags it set, with the variable's name.
func applyEnv(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) (map[string]string, error) {
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fromEnv := make(map[string]string)
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := redirect.EnvVar(f.Name)
		value, ok := lookupEnv(env)
		if given[f.Name] || !ok {
			return
		}
		if err := fs.Set(f.Name, value); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: invalid value for --%s: %w", env, value, f.Name, err))
			return
		}
		fromEnv[f.Name] = env
	})
	return fromEnv, errors.Join(errs...)
}

// textValue holds a flag's text until the whole command line and environment are read; Config.Set
// parses it then, so errors name the flag in one format whatever their source.
type textValue struct {
	text   string
	isBool bool
}

func (v *textValue) String() string     { return v.text }
func (v *textValue) Set(s string) error { v.text = s; return nil }
func (v *textValue) IsBoolFlag() bool   { return v.isBool }
