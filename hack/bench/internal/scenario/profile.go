package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/env"
	"egress.io/egress/hack/bench/internal/rules"
	"egress.io/egress/hack/bench/internal/wrk"
)

// profileSeconds is how long each CPU and allocation profile samples.
const profileSeconds = 10

// profileLoad is one load the sidecar is profiled under.
type profileLoad struct {
	scenario string // the scenario whose load it is
	name     string
	setup    func(context.Context) error
	run      func(context.Context) error // runs until ctx is done
}

// Profile runs the profiling build of the sidecar (sidecarprof: pkg/sidecar plus net/http/pprof) as the
// main sidecar and, under each load of the scenarios, saves a CPU profile and an allocation profile of
// profileSeconds, then a heap profile while idle connections are held; it writes the raw profiles
// and `go tool pprof -top` of each into dir and prints the tops. Only the loads of scenarios are run.
func (b *Bench) Profile(ctx context.Context, dir string, scenarios []string, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	pprofAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(pprofPort))
	if err := b.Start(ctx, b.Env.Bin["sidecarprof"], "--pprof-addr", pprofAddr); err != nil {
		return err
	}
	defer b.Stop()
	loadFor := func(conns int) func(context.Context) error {
		return func(ctx context.Context) error {
			run := originationRun(b.sidecar, conns)
			run.Duration = (profileSeconds + 3) * time.Second
			_, err := b.wrkOnce(ctx, b.sidecar, run)
			return err
		}
	}
	large, err := rules.YAML([]string{env.OriginName + ":443"}, 10000)
	if err != nil {
		return err
	}
	loads := []profileLoad{
		{scenario: "origination", name: "origination-64conns", run: loadFor(64)},
		{scenario: "origination", name: "origination-256conns", run: loadFor(256)},
		{scenario: "passthrough", name: "passthrough-download", run: func(ctx context.Context) error {
			for ctx.Err() == nil {
				if _, _, err := b.download(ctx, b.sidecar, b.Cfg.Download); err != nil && ctx.Err() == nil {
					return err
				}
			}
			return nil
		}},
		{scenario: "passthrough", name: "passthrough-small-64conns", run: func(ctx context.Context) error {
			_, err := b.wrkOnce(ctx, b.sidecar, wrk.Run{URL: directURL, Connections: 64, Duration: (profileSeconds + 3) * time.Second})
			return err
		}},
		{scenario: "policy", name: "policy-10000targets-64conns",
			setup: func(ctx context.Context) error { return b.loadRules(ctx, large, 10000) },
			run:   loadFor(64)},
	}
	var summary strings.Builder
	for _, l := range loads {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !slices.Contains(scenarios, l.scenario) {
			continue
		}
		b.logf("profiling the sidecar under %s", l.name)
		if l.setup != nil {
			if err := l.setup(ctx); err != nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
		}
		if err := b.profileUnder(ctx, dir, pprofAddr, l, &summary); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}
	if err := b.loadRules(ctx, baseRules(), 1); err != nil {
		return err
	}
	if slices.Contains(scenarios, "origination") {
		if err := b.syscallsPerRequest(ctx, &summary); err != nil {
			return err
		}
	}
	if slices.Contains(scenarios, "passthrough") {
		if err := b.perfPassthrough(ctx, dir, &summary); err != nil {
			return err
		}
	}
	if slices.Contains(scenarios, "memory") {
		if err := b.heapWithIdleConns(ctx, dir, &summary); err != nil {
			return err
		}
	}
	for _, n := range b.Res.Notes {
		fmt.Fprintf(&summary, "note: %s\n", n)
	}
	_, err = io.WriteString(stdout, summary.String())
	return err
}

// syscallsPerRequest counts the system calls the sidecar and nginx-best make per origination request
// (wrk, 64 connections, under strace).
func (b *Bench) syscallsPerRequest(ctx context.Context, summary io.Writer) error {
	for _, c := range []*contender.Contender{b.sidecar, b.nginxBest} {
		b.logf("strace of %s under origination-64conns", c.Name)
		run := originationRun(c, 64)
		run.Duration = 5 * time.Second
		if _, err := b.wrkOnce(ctx, c, run); err != nil { // warm the pools outside strace
			return err
		}
		var requests int64
		calls, err := b.straceDuring(c, func() error {
			r, err := b.wrkOnce(ctx, c, run)
			requests = r.Requests
			return err
		})
		if err != nil {
			return err
		}
		names := slices.Sorted(maps.Keys(calls))
		slices.SortStableFunc(names, func(x, y string) int { return int(calls[y] - calls[x]) })
		var total int64
		for _, n := range calls {
			total += n
		}
		fmt.Fprintf(summary, "==== system calls of %s per origination request (%d requests under strace): %.2f in all\n",
			c.Name, requests, float64(total)/float64(max(requests, 1)))
		for _, n := range names {
			if per := float64(calls[n]) / float64(max(requests, 1)); per >= 0.01 {
				fmt.Fprintf(summary, "  %-16s %6.2f\n", n, per)
			}
		}
	}
	return nil
}

// perfPassthrough samples the sidecar's and haproxy's stacks, kernel included, with `perf record` while
// the app downloads through each: the passthrough's cost is in the kernel, where pprof does not see.
func (b *Bench) perfPassthrough(ctx context.Context, dir string, summary io.Writer) error {
	for _, c := range []*contender.Contender{b.sidecar, b.haproxy} {
		b.logf("perf record of %s under passthrough-download", c.Name)
		data := filepath.Join(dir, "passthrough-download."+c.Name+".perf.data")
		lctx, cancel := context.WithCancel(ctx)
		loadErr := make(chan error, 1)
		go func() {
			for lctx.Err() == nil {
				if _, _, err := b.download(lctx, c, b.Cfg.Download); err != nil && lctx.Err() == nil {
					loadErr <- err
					return
				}
			}
			loadErr <- nil
		}()
		time.Sleep(time.Second)
		rec := exec.CommandContext(ctx, "perf", "record", "-e", "cpu-clock", "-g", "-p", strconv.Itoa(c.PID()),
			"-o", data, "--", "sleep", strconv.Itoa(profileSeconds))
		out, err := rec.CombinedOutput()
		cancel()
		if lerr := <-loadErr; lerr != nil {
			return lerr
		}
		if err != nil {
			return fmt.Errorf("perf record: %w: %s", err, out)
		}
		report, err := exec.CommandContext(ctx, "perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
			"--sort", "dso,symbol", "--percent-limit", "0.7").Output()
		if err != nil {
			return fmt.Errorf("perf report: %w", err)
		}
		text := topLines(string(report), 60)
		os.WriteFile(strings.TrimSuffix(data, ".data")+".txt", []byte(text), 0o644)
		fmt.Fprintf(summary, "==== perf report of %s under passthrough-download (flat, kernel and user)\n%s\n", c.Name, text)
	}
	return nil
}

// topLines returns the first n lines of perf's report that are neither comments nor call-graph lines.
func topLines(report string, n int) string {
	var out []string
	for line := range strings.Lines(report) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "|") || strings.HasPrefix(t, "---") {
			continue
		}
		if out = append(out, strings.TrimRight(line, "\n")); len(out) == n {
			break
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// profileUnder runs l while fetching a CPU profile and an allocation delta profile.
func (b *Bench) profileUnder(ctx context.Context, dir, pprofAddr string, l profileLoad, summary io.Writer) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loadErr := make(chan error, 1)
	go func() {
		err := l.run(lctx)
		if lctx.Err() != nil {
			err = nil // stopped by us once the profiles were taken
		}
		loadErr <- err
	}()
	time.Sleep(2 * time.Second) // pools and caches warm
	var wg sync.WaitGroup
	errs := make([]error, 2)
	kinds := []struct{ path, file string }{
		{"/debug/pprof/profile?seconds=" + strconv.Itoa(profileSeconds), l.name + ".cpu.pb.gz"},
		{"/debug/pprof/allocs?seconds=" + strconv.Itoa(profileSeconds), l.name + ".allocs.pb.gz"},
	}
	for i, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.fetchProfile(ctx, pprofAddr, k.path, filepath.Join(dir, k.file))
		}()
	}
	wg.Wait()
	cancel()
	if err := <-loadErr; err != nil {
		b.Res.Note("profile load %s ended early: %v", l.name, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.top(dir, l.name+".cpu.pb.gz", summary, "-top")
	b.top(dir, l.name+".cpu.pb.gz", summary, "-top", "-cum")
	b.top(dir, l.name+".allocs.pb.gz", summary, "-top", "-sample_index=alloc_space")
	return nil
}

// heapWithIdleConns profiles the heap of a fresh profiling sidecar holding idle connections of each
// mode, as many as the memory scenario's largest count.
func (b *Bench) heapWithIdleConns(ctx context.Context, dir string, summary io.Writer) error {
	for i, mm := range Defaults(false, b.Cfg.Cores).Memory {
		mode, n := mm.Mode, mm.Conns[len(mm.Conns)-1]
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(pprofPort+1+i))
		sc, err := contender.StartSidecar(b.Env, contender.SidecarOptions{
			Name: "sidecarprof-memory-" + mode, Binary: b.Env.Bin["sidecarprof"], RulesFile: b.rules,
			CapturePort: portMemory, DNSPort: dnsMemory, AdminPort: adminMemory, Extra: []string{"--pprof-addr", addr},
		})
		if err != nil {
			return err
		}
		name := fmt.Sprintf("idle-%d-%s", n, mode)
		err = b.withHeldConnections(ctx, sc, mode, n, func() error {
			if err := b.fetchProfile(ctx, addr, "/debug/pprof/heap?gc=1", filepath.Join(dir, name+".heap.pb.gz")); err != nil {
				return err
			}
			return b.fetchProfile(ctx, addr, "/debug/pprof/goroutine", filepath.Join(dir, name+".goroutine.pb.gz"))
		})
		sc.Stop()
		if err != nil {
			return fmt.Errorf("heap with idle %s connections: %w", mode, err)
		}
		b.top(dir, name+".heap.pb.gz", summary, "-top", "-sample_index=inuse_space")
		b.top(dir, name+".goroutine.pb.gz", summary, "-top")
	}
	return nil
}

func (b *Bench) fetchProfile(ctx context.Context, addr, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := b.Env.PodHTTPTimeout((profileSeconds + 20) * time.Second).Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("fetching %s: %s: %s", path, resp.Status, body)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("fetching %s: %w", path, err)
	}
	return f.Close()
}

// top writes `go tool pprof FLAGS -nodecount=30 PROFILE` next to the profile and appends it to summary.
func (b *Bench) top(dir, profile string, summary io.Writer, flags ...string) {
	args := append(append([]string{"tool", "pprof"}, flags...), "-nodecount=30", filepath.Join(dir, profile))
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		out = append(out, []byte("\n(go tool pprof failed: "+err.Error()+")\n")...)
	}
	name := strings.TrimSuffix(profile, ".pb.gz") + strings.ReplaceAll(strings.Join(flags, ""), "-", ".") + ".txt"
	os.WriteFile(filepath.Join(dir, name), out, 0o644)
	fmt.Fprintf(summary, "==== %s (go tool pprof %s)\n%s\n", profile, strings.Join(flags, " "), out)
}
