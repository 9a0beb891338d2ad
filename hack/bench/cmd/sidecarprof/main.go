// Command sidecarprof is egress-sidecar with Go's profiler: the same pkg/sidecar data path, wired to a
// rules file as cmd/egress-sidecar wires it, plus net/http/pprof's handlers on --pprof-addr. It is what
// `benchrun -profile` runs to find where the sidecar spends CPU and allocates; it takes only the flags
// the benchmark uses (same names as egress-sidecar's).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"egress.io/egress/pkg/filesource"
	"egress.io/egress/pkg/netrange"
	"egress.io/egress/pkg/sidecar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sidecarprof:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := sidecar.DefaultConfig()
	fs := flag.NewFlagSet("sidecarprof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesFile := fs.String("rules-file", "", "file of EgressRuleSet YAML documents")
	pprofAddr := fs.String("pprof-addr", "127.0.0.1:6060", "host:port of the pprof server")
	upstreamDNS := fs.String("upstream-dns", "", "comma-separated ip:port of the real resolvers")
	capturePort := fs.Uint("capture-port", uint(cfg.CapturePort), "capture port")
	dnsPort := fs.Uint("dns-port", uint(cfg.DNSPort), "DNS proxy port")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	publicCIDRs := fs.String(sidecar.FlagPublicCIDRs, "", "comma-separated special-purpose CIDRs that resolved names may reach")
	fs.StringVar(&cfg.CABundle, sidecar.FlagCABundle, "", "PEM file of extra trusted CAs")
	fs.StringVar(&cfg.AdminAddr, sidecar.FlagAdminAddr, cfg.AdminAddr, "host:port of the admin server")
	fs.DurationVar(&cfg.DrainTimeout, sidecar.FlagDrainTimeout, cfg.DrainTimeout, "drain timeout")
	var err error
	if err = fs.Parse(args); err != nil {
		return err
	}
	if *rulesFile == "" {
		return errors.New("--rules-file is required")
	}
	if *capturePort > 65535 || *dnsPort > 65535 {
		return errors.New("--capture-port and --dns-port must be ports")
	}
	cfg.CapturePort, cfg.DNSPort = uint16(*capturePort), uint16(*dnsPort)
	if *upstreamDNS != "" {
		cfg.UpstreamDNS = strings.Split(*upstreamDNS, ",")
	}
	if *publicCIDRs != "" {
		if cfg.PublicCIDRs, err = netrange.ParsePrefixes(*publicCIDRs); err != nil {
			return fmt.Errorf("--%s: %w", sidecar.FlagPublicCIDRs, err)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", *pprofAddr)
	if err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	srv := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	logger.Info("pprof serving", "addr", ln.Addr().String(), "pid", strconv.Itoa(os.Getpid()))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	src := &filesource.Source{Path: *rulesFile, Logger: logger.With("component", "rules-file")}
	return sidecar.Run(ctx, cfg, src, sidecar.Options{Logger: logger, Registry: reg})
}

// pprofMux serves net/http/pprof's handlers under /debug/pprof/ on a mux of its own.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
