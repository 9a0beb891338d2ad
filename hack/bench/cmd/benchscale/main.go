// Command benchscale is `make bench-scale`: the policy service against thousands of simulated sidecars,
// and the direct watch it replaces, on a real API server (docs/benchmarks.md, "Scale").
//
// It starts etcd and kube-apiserver (internal/controlplane), applies manifests/, creates the issue's
// baseline cluster (50 namespaces, 105 rule sets) and one pod per simulated sidecar, requests a token
// bound to each pod, runs two real egress-webhook processes (the policy service's replicas) and a client
// process (hack/bench/cmd/scaleclients) holding the sidecars: each a real pkg/servicesource with a
// connection and a token of its own. For each N it measures the API server's and the service's memory,
// goroutines and CPU, the time for a global and for a namespace change to reach all N, and the initial
// sync; at the largest N it kills a replica and measures the mass reconnect. The direct watch
// (pkg/kubesource, two watches per sidecar) runs at -peer-sizes for comparison.
//
//	go run ./hack/bench/cmd/benchscale                   # full run (root not needed)
//	BENCH_QUICK=1 go run ./hack/bench/cmd/benchscale     # smoke run: N = 100, 1,000; one round
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil && interrupted:
		fmt.Fprintln(os.Stderr, "benchscale: interrupted; processes stopped")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	sizes, peerSizes []int
	rounds           int
	namespaces       int
	perNamespace     int
	global           int
	out              string
	keep             bool
	serviceEnv       []string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("benchscale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quickEnv := os.Getenv("BENCH_QUICK")
	quick := fs.Bool("quick", quickEnv != "" && quickEnv != "0", "smoke run: N = 100 and 1,000, direct watch at 100, one round (default from BENCH_QUICK=1)")
	sizes := fs.String("sizes", "100,1000,2000,5000,10000", "numbers of simulated sidecars of the policy service, ascending")
	peers := fs.String("peer-sizes", "100,1000,2000", "numbers of sidecars of the direct watch, for comparison (\"\" for none)")
	fs.IntVar(&o.rounds, "rounds", 3, "changes of each kind at each size")
	fs.IntVar(&o.namespaces, "namespaces", 50, "namespaces the sidecars are spread over")
	fs.IntVar(&o.perNamespace, "rule-sets-per-namespace", 2, "rule sets in each namespace")
	fs.IntVar(&o.global, "global-rule-sets", 5, "rule sets in the global namespace")
	fs.StringVar(&o.out, "out", ".cache/bench", "directory for scale-*.json and scale-*.md")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, certificates) after the run")
	env := fs.String("service-env", "GOGC=50", "comma-separated VAR=value for the replicas (manifests/webhook/deployment.yaml sets GOGC=50)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *env != "" {
		o.serviceEnv = strings.Split(*env, ",")
	}
	if *quick {
		*sizes, *peers, o.rounds = "100,1000", "100", 1
	}
	var err error
	if o.sizes, err = ints(*sizes); err != nil || len(o.sizes) == 0 {
		return o, fmt.Errorf("-sizes %q: %v", *sizes, err)
	}
	if o.peerSizes, err = ints(*peers); err != nil {
		return o, fmt.Errorf("-peer-sizes %q: %w", *peers, err)
	}
	if o.rounds < 1 || o.namespaces < 1 {
		return o, errors.New("-rounds and -namespaces must be at least 1")
	}
	return o, nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("%d after %d: sizes ascend", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, opts, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.servicePhase(ctx); err != nil {
		return err
	}
	if err := b.peerPhase(ctx); err != nil {
		return err
	}
	return b.report(stdout)
}
