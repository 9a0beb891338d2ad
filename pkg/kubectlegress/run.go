package kubectlegress

import (
	"context"
	"fmt"
	"io"
	"time"

	"egress.io/egress/pkg/settings"
)

// dialer connects to the API server named by the common flags and returns the namespace to use.
type dialer func(common) (Cluster, string, error)

func dialKube(c common) (Cluster, string, error) {
	k, ns, err := connect(c)
	if err != nil {
		return nil, "", err
	}
	return k, ns, nil
}

func defaultCommon() common {
	return common{Output: OutputTable, Timeout: 30 * time.Second}
}

// Usage is `kubectl egress --help`.
const Usage = `kubectl egress: egress control from the command line, through the API server only.

Usage:
  kubectl egress suggest [deployment/NAME | -l SELECTOR] [-n NAMESPACE] [--wildcards] [-o yaml|json|table]
      An EgressRuleSet allowing what the workload's sidecars denied or audited, for kubectl apply -f -.
  kubectl egress why pod/NAME HOST:PORT [-n NAMESPACE] [-o table|yaml|json]
      Which rule set and target allow HOST:PORT for the pod, or what would.
  kubectl egress status [-n NAMESPACE | -A] [-o table|yaml|json]
      Injected pods, their sidecars' readiness and policy versions, rule sets, top denied targets.

Run kubectl egress COMMAND --help for a command's flags. Installed as kubectl-egress on PATH (kubectl's
plugin convention); it needs the permissions of the kubectl-egress ClusterRole (manifests/rbac/kubectl-egress.yaml).
`

// Run runs kubectl-egress with args (without the program name); env is the environment. It returns the
// error to report (settings.Exit turns it into the exit code).
func Run(ctx context.Context, args []string, env settings.Env, stdout, stderr io.Writer) error {
	return run(ctx, args, env, stdout, stderr, dialKube)
}

func run(ctx context.Context, args []string, env settings.Env, stdout, stderr io.Writer, dial dialer) error {
	if len(args) == 0 {
		io.WriteString(stderr, Usage)
		return &settings.UsageError{Err: fmt.Errorf("a command is required: suggest, why or status")}
	}
	type command struct {
		about settings.Command
		flags func() []settings.Flag
		run   func(context.Context, []string, settings.Env, io.Writer, io.Writer, dialer) error
	}
	commands := map[string]command{
		"suggest": {suggestCommand, func() []settings.Flag { o := newSuggestOptions(); return o.flags() }, runSuggest},
		"why":     {whyCommand, func() []settings.Flag { o := whyOptions{common: defaultCommon()}; return o.flags() }, runWhy},
		"status":  {statusCommand, func() []settings.Flag { o := statusOptions{common: defaultCommon(), Top: 10}; return o.flags() }, runStatus},
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		_, err := io.WriteString(stdout, Usage)
		return err
	}
	cmd, ok := commands[name]
	if !ok {
		io.WriteString(stderr, Usage)
		return &settings.UsageError{Err: fmt.Errorf("unknown command %q: suggest, why or status", name)}
	}
	for _, a := range rest {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			return settings.Usage(stdout, cmd.about, cmd.flags())
		}
	}
	return cmd.run(ctx, rest, env, stdout, stderr, dial)
}
