// Command benchrun is `make bench`: it builds a pod and a world network namespace, starts the sidecar and
// its peers (nginx as the proof of concept had it, nginx at its best, haproxy) in the pod, runs every
// scenario for each contender in alternation over several rounds, and prints medians, ratios and the
// issue's targets. It writes the results as JSON and Markdown under -out. It needs root.
//
//	go run ./hack/bench/cmd/benchrun            # full run, about 12 minutes on 2 cores
//	BENCH_QUICK=1 go run ./hack/bench/cmd/benchrun   # smoke run, about 2 minutes
//	go run ./hack/bench/cmd/benchrun -profile   # pprof profiles of the sidecar under each load
//
// Ctrl-C stops every process it started and deletes the namespaces (a second Ctrl-C exits at once).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"egress.io/egress/hack/bench/internal/env"
	"egress.io/egress/hack/bench/internal/report"
	"egress.io/egress/hack/bench/internal/scenario"
)

// allScenarios in the order a run does them.
var allScenarios = []string{"origination", "passthrough", "memory", "policy", "reload", "gateway"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-ctx.Done()
		stop() // the next signal gets the default action: exit at once
	}()
	// The gateway scenario's control plane (envtest) logs through controller-runtime's logger, which
	// prints a stack trace of its own when no logger was set; its warnings go to stderr.
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil && interrupted:
		fmt.Fprintln(os.Stderr, "benchrun: interrupted; processes stopped and namespaces deleted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	quick     bool
	out       string
	scenarios []string
	rounds    int
	duration  time.Duration
	profile   bool
	keep      bool
	originH2  bool
	env       []string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quickEnv := os.Getenv("BENCH_QUICK")
	fs.BoolVar(&o.quick, "quick", quickEnv != "" && quickEnv != "0", "smoke run of about 2 minutes (default from BENCH_QUICK=1)")
	fs.StringVar(&o.out, "out", ".cache/bench", "directory for results-*.json and results-*.md")
	list := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds of each measurement (0: 3, or 1 with -quick)")
	fs.DurationVar(&o.duration, "duration", 0, "duration of one wrk measurement (0: 5s, or 2s with -quick)")
	fs.BoolVar(&o.profile, "profile", false, "instead of the scenarios, profile the sidecar (pprof) under each load")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, logs) after the run")
	fs.BoolVar(&o.originH2, "origin-h2", true, "the origin offers HTTP/2 over TLS, as most public APIs do")
	fs.Func("sidecar-env", "`KEY=VALUE` added to the main sidecar's environment, for experiments (repeatable)", func(s string) error {
		if !strings.Contains(s, "=") {
			return fmt.Errorf("%q is not KEY=VALUE", s)
		}
		o.env = append(o.env, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, s := range strings.Split(*list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return o, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
		o.scenarios = append(o.scenarios, s)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root: it creates network namespaces and runs egress-init")
	}
	cfg := scenario.Defaults(o.quick, runtime.NumCPU())
	if o.rounds > 0 {
		cfg.Rounds, cfg.PolicyRounds = o.rounds, o.rounds
	}
	if o.duration > 0 {
		cfg.Duration = o.duration
	}
	cfg.OriginHTTP2 = o.originH2

	res := report.New(commandLine(args))
	res.Quick = o.quick
	res.Machine = machine()
	res.Settings["config"] = cfg
	res.Settings["scenarios"] = o.scenarios

	bins := []string{"egress-init", "egress-sidecar", "testdns", "openloop", "holdconns", "flipwait"}
	if o.profile {
		bins = append(bins, "sidecarprof")
	}
	e, err := env.New(ctx, env.Options{
		Cores: cfg.Cores, BigFileSize: max(cfg.Download, cfg.SpliceBytes), OriginHTTP2: cfg.OriginHTTP2,
		Binaries: bins, Log: stderr,
	})
	if err != nil {
		return err
	}
	defer func() {
		closeErr := error(nil)
		if o.keep {
			closeErr = e.CloseKeep()
			fmt.Fprintf(stderr, "bench: work directory kept: %s\n", e.Dir)
		} else {
			closeErr = e.Close()
		}
		if closeErr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", closeErr))
		}
	}()

	b := &scenario.Bench{Env: e, Cfg: cfg, Res: res, Log: stderr, SidecarEnv: o.env}
	res.Settings["sidecar_env"] = o.env
	if o.profile {
		return b.Profile(ctx, filepath.Join(o.out, "profiles"), o.scenarios, stdout)
	}
	if err := b.Start(ctx, e.Bin["egress-sidecar"]); err != nil {
		return err
	}
	defer b.Stop()
	runners := map[string]func(context.Context) error{
		"origination": b.Origination,
		"passthrough": b.Passthrough,
		"memory":      b.Memory,
		"policy":      b.Policy,
		"reload":      b.Reload,
		"gateway":     b.Gateway,
	}
	for _, s := range o.scenarios {
		start := time.Now()
		if err := runners[s](ctx); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		fmt.Fprintf(stderr, "bench: %s done in %v\n", s, time.Since(start).Round(time.Second))
	}
	res.Finished = time.Now()
	return write(res, b, o.out, stdout, stderr)
}

// write evaluates the targets and writes the JSON and Markdown results, printing the Markdown.
func write(res *report.Results, b *scenario.Bench, out string, stdout, stderr io.Writer) error {
	tables := b.Tables()
	res.Targets = b.Targets()
	stamp := res.Started.Format("20060102-150405")
	jsonPath := filepath.Join(out, "results-"+stamp+".json")
	if err := res.WriteJSON(jsonPath); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Run of `%s` on %s, %s, took %v.\n\n", res.Command, res.Started.Format("2006-01-02 15:04 MST"),
		res.Machine["cpu"], res.Finished.Sub(res.Started).Round(time.Second))
	if err := report.WriteMarkdown(&md, tables, res.Targets); err != nil {
		return err
	}
	if len(res.Notes) > 0 {
		md.WriteString("#### Notes\n\n")
		for _, n := range res.Notes {
			md.WriteString("- " + n + "\n")
		}
	}
	mdPath := filepath.Join(out, "results-"+stamp+".md")
	if err := os.WriteFile(mdPath, []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", mdPath, err)
	}
	io.WriteString(stdout, md.String())
	fmt.Fprintf(stderr, "bench: results in %s and %s\n", jsonPath, mdPath)
	return nil
}

// commandLine is how this run was invoked, for the report.
func commandLine(args []string) string {
	cmd := "go run ./hack/bench/cmd/benchrun"
	if len(args) > 0 {
		cmd += " " + strings.Join(args, " ")
	}
	if q := os.Getenv("BENCH_QUICK"); q != "" {
		cmd = "BENCH_QUICK=" + q + " " + cmd
	}
	return cmd
}
