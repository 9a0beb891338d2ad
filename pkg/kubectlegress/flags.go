package kubectlegress

import (
	"fmt"
	"strings"
	"time"

	"egress.io/egress/pkg/settings"
)

// Output formats.
const (
	OutputTable = "table"
	OutputYAML  = "yaml"
	OutputJSON  = "json"
)

// common are the flags every subcommand takes: where the API server is and as whom, the namespace, the
// output format.
type common struct {
	Kubeconfig string
	Context    string
	Namespace  string
	As         string
	Output     string
	Timeout    time.Duration
}

func (c *common) flags() []settings.Flag {
	return []settings.Flag{
		{Name: "namespace", Value: settings.String(&c.Namespace, "NAME"), DefaultText: "the kubeconfig context's namespace",
			Usage: "The namespace (`-n`)."},
		{Name: "output", Value: settings.String(&c.Output, "FORMAT"),
			Usage: "Output format (`-o`): `table`, `yaml` or `json`."},
		{Name: "kubeconfig", Value: settings.String(&c.Kubeconfig, "FILE"),
			DefaultText: "`$KUBECONFIG`, else `~/.kube/config`", Usage: "The kubeconfig file."},
		{Name: "context", Value: settings.String(&c.Context, "NAME"), DefaultText: "the current context",
			Usage: "The kubeconfig context."},
		{Name: "as", Value: settings.String(&c.As, "USER"), DefaultText: "none",
			Usage: "Act as this user (impersonation), e.g. to check what a user bound to the `kubectl-egress` ClusterRole sees."},
		{Name: "request-timeout", Value: settings.Duration(&c.Timeout),
			Usage: "How long the whole command may take, API calls and pod proxy requests included."},
	}
}

// shorthands are kubectl's one-letter flags, rewritten to their long names.
var shorthands = map[string]string{"n": "namespace", "o": "output", "l": "selector", "A": "all-namespaces"}

// splitArgs separates positional arguments from flags (kubectl takes them in any order), rewriting
// kubectl's one-letter flags to their long names, and parses the flags with settings.Parse.
func splitArgs(flags []settings.Flag, args []string, env settings.Env) ([]string, error) {
	takesValue := map[string]bool{}
	for _, f := range flags {
		takesValue[f.Name] = f.Value.Kind() != ""
	}
	var flagArgs, positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			positional = append(positional, arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if long, ok := shorthands[name]; ok && !strings.HasPrefix(arg, "--") {
			name = long
		}
		// -ojson, -nshop: kubectl's one-letter flag with its value attached.
		if !hasValue && !strings.HasPrefix(arg, "--") && len(name) > 1 {
			if long, ok := shorthands[name[:1]]; ok {
				if _, known := takesValue[name]; !known {
					name, value, hasValue = long, name[1:], true
				}
			}
		}
		if hasValue {
			flagArgs = append(flagArgs, "--"+name+"="+value)
			continue
		}
		flagArgs = append(flagArgs, "--"+name)
		if takesValue[name] && i+1 < len(args) {
			i++
			flagArgs = append(flagArgs, args[i])
		}
	}
	if err := settings.Parse(flags, flagArgs, env); err != nil {
		return nil, err
	}
	return positional, nil
}

func (c *common) validate() error {
	switch c.Output {
	case OutputTable, OutputYAML, OutputJSON:
		return nil
	}
	return settings.Invalid(fmt.Errorf("--output: %q is not table, yaml or json", c.Output))
}
