// Command kubectl-egress is the kubectl plugin `kubectl egress` (suggest, why, status): put it on PATH and
// kubectl finds it. It talks only to the API server; see docs/kubectl-egress.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"egress.io/egress/pkg/kubectlegress"
	"egress.io/egress/pkg/settings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := kubectlegress.Run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(settings.Exit("kubectl egress", err, os.Stderr))
}
