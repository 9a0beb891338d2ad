// Command egress-sidecar is the egress data path of an injected pod: it accepts the TCP and DNS traffic
// egress-init redirects to it and lets through only what the pod's EgressRuleSets allow. See
// docs/sidecar.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "egress-sidecar:", err)
		os.Exit(1)
	}
}
