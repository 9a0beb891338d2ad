// Command egress-sidecar is the egress data path of an injected pod: it accepts the TCP and DNS traffic
// egress-init redirects to it and lets through only what the pod's EgressRuleSets allow. See
// docs/sidecar.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"egress.io/egress/pkg/settings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(settings.Exit("egress-sidecar", err, os.Stderr))
}
