// Command egress-init is the init container that makes egress interception transparent: it installs
// the iptables and ip6tables rules that send a pod's outbound TCP and DNS to the egress sidecar and
// refuse everything else, or removes them with --cleanup. See docs/egress-init.md.
package main

import (
	"os"

	"egress.io/egress/pkg/settings"
)

func main() {
	err := run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	os.Exit(settings.Exit("egress-init", err, os.Stderr))
}
