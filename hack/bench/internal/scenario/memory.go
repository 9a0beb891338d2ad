package scenario

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/procstat"
	"egress.io/egress/internal/testworld"
)

// Scenario and metric names of the memory benchmark.
const (
	scMemory    = "memory"
	mRSS        = "rss_mb"
	mRSSAnon    = "rss_anon_mb"
	mRSSFile    = "rss_file_mb"
	mHeapInuse  = "heap_inuse_mb"
	mStackInuse = "stack_inuse_mb"
	mGoroutines = "goroutines"
	mOpenFiles  = "open_fds"
)

// Memory measures a fresh sidecar's resident memory idle, while the app holds Cfg.Memory's counts of idle
// keep-alive connections through it, and after the app closes them, for each mode: "http" (plain HTTP
// keep-alive to NAME.egress.local, TLS originated upstream) and "tls" (TLS passed through by SNI, one
// upstream connection per app connection).
func (b *Bench) Memory(ctx context.Context) error {
	for _, m := range b.Cfg.Memory {
		if err := b.memoryMode(ctx, m.Mode, m.Conns); err != nil {
			return fmt.Errorf("memory %s: %w", m.Mode, err)
		}
	}
	return nil
}

func (b *Bench) memoryMode(ctx context.Context, mode string, counts []int) error {
	sc, err := contender.StartSidecar(b.Env, contender.SidecarOptions{
		Name: "sidecar-memory-" + mode, Binary: b.Env.Bin["egress-sidecar"], RulesFile: b.rules,
		CapturePort: portMemory, DNSPort: dnsMemory, AdminPort: adminMemory,
	})
	if err != nil {
		return err
	}
	defer sc.Stop()
	time.Sleep(time.Second)
	if err := b.recordMemory(ctx, sc, mode, "idle"); err != nil {
		return err
	}
	for _, n := range counts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.holdConnections(ctx, sc, mode, n); err != nil {
			return err
		}
	}
	return nil
}

// holdConnections has the app open n idle connections through sc, records the memory while they are
// held and after they are closed.
func (b *Bench) holdConnections(ctx context.Context, sc *contender.Contender, mode string, n int) error {
	err := b.withHeldConnections(ctx, sc, mode, n, func() error {
		time.Sleep(2 * time.Second)
		return b.recordMemory(ctx, sc, mode, fmt.Sprintf("held=%d", n))
	})
	if err != nil {
		return err
	}
	time.Sleep(5 * time.Second)
	return b.recordMemory(ctx, sc, mode, fmt.Sprintf("after=%d", n))
}

// withHeldConnections has the app (holdconns) open n keep-alive connections through sc, each after one
// request, runs held while they are open and idle, and closes them.
func (b *Bench) withHeldConnections(ctx context.Context, sc *contender.Contender, mode string, n int, held func() error) error {
	args := []string{"-n", strconv.Itoa(n), "-hold", "5m"}
	if mode == "tls" {
		args = append(args, "-url", directURL, "-connect", directDial, "-cacert", b.Env.Certs.CA)
	} else {
		args = append(args, "-url", originationURL, "-connect", originationDial)
	}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd, err := b.client(hctx, sc, b.Env.Bin["holdconns"], args...)
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr := &testworld.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("holdconns: %w", err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	line, err := nextLine(lines)
	if err != nil {
		return fmt.Errorf("holdconns: %w (%v): %s", err, cmd.Wait(), stderr.String())
	}
	var open, failed int
	if _, err := fmt.Sscanf(line, "ready %d %d", &open, &failed); err != nil {
		return fmt.Errorf("holdconns said %q: %s", line, stderr.String())
	}
	if failed > 0 {
		b.Res.Note("memory %s: %d of %d connections failed to open (%s)", mode, failed, n, strings.TrimSpace(stderr.String()))
	}
	if err := held(); err != nil {
		return err
	}
	stdin.Close()
	if line, err := nextLine(lines); err != nil || line != "closed" {
		return fmt.Errorf("holdconns did not close: %q %v", line, err)
	}
	io.Copy(io.Discard, stdout)
	return nil
}

func nextLine(s *bufio.Scanner) (string, error) {
	if s.Scan() {
		return s.Text(), nil
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", io.ErrUnexpectedEOF
}

// recordMemory records sc's RSS and, from its metrics, the Go heap and stacks in use and the goroutines.
func (b *Bench) recordMemory(ctx context.Context, sc *contender.Contender, mode, state string) error {
	mem, err := procstat.RSS(sc.PID())
	if err != nil {
		return err
	}
	rss := mem.RSS
	fds, err := procstat.OpenFiles(sc.PID())
	if err != nil {
		return err
	}
	m, err := sc.Metrics(ctx)
	if err != nil {
		return err
	}
	params := "mode=" + mode + " " + state
	b.Res.Add(key(scMemory, mRSS, params, contender.Sidecar), "MB", float64(rss)/1e6)
	b.Res.Add(key(scMemory, mRSSAnon, params, contender.Sidecar), "MB", float64(mem.Anon)/1e6)
	b.Res.Add(key(scMemory, mRSSFile, params, contender.Sidecar), "MB", float64(mem.File)/1e6)
	b.Res.Add(key(scMemory, mHeapInuse, params, contender.Sidecar), "MB", m["go_memstats_heap_inuse_bytes"]/1e6)
	b.Res.Add(key(scMemory, mStackInuse, params, contender.Sidecar), "MB", m["go_memstats_stack_inuse_bytes"]/1e6)
	b.Res.Add(key(scMemory, mGoroutines, params, contender.Sidecar), "", m["go_goroutines"])
	b.Res.Add(key(scMemory, mOpenFiles, params, contender.Sidecar), "", float64(fds))
	b.logf("memory %s %-12s RSS %.1f MB (anon %.1f, file %.1f), heap in use %.1f MB, stacks %.1f MB, %.0f goroutines, %d fds", mode, state,
		float64(rss)/1e6, float64(mem.Anon)/1e6, float64(mem.File)/1e6, m["go_memstats_heap_inuse_bytes"]/1e6, m["go_memstats_stack_inuse_bytes"]/1e6, m["go_goroutines"], fds)
	return nil
}
