package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/procstat"
	"egress.io/egress/hack/bench/internal/wrk"
)

// Scenario and metric names of the passthrough benchmark.
const (
	scPassthrough = "passthrough"
	mMBps         = "download_mb_per_second"
	mCPUPerGiB    = "cpu_seconds_per_gib"
)

func (b *Bench) passthroughContenders() []*contender.Contender {
	return []*contender.Contender{b.sidecar, b.haproxy, b.direct}
}

// Passthrough measures HTTPS the app speaks itself, passed through by SNI: MB/s of one large download
// (curl), requests/s of small requests over keep-alive TLS (wrk), and, under strace, which system calls
// move the bytes (splice shows the kernel copies them without user space).
func (b *Bench) Passthrough(ctx context.Context) error {
	size := fmt.Sprintf("bytes=%d", b.Cfg.Download)
	for round := range b.Cfg.Rounds {
		for _, c := range b.passthroughContenders() {
			if err := ctx.Err(); err != nil {
				return err
			}
			mbps, cpu, err := b.download(ctx, c, b.Cfg.Download)
			if err != nil {
				return fmt.Errorf("passthrough download through %s: %w", c.Name, err)
			}
			b.Res.Add(key(scPassthrough, mMBps, size, c.Name), "MB/s", mbps)
			if c.Proxied() {
				b.Res.Add(key(scPassthrough, mCPUPerGiB, size, c.Name), "s", cpu.Seconds()/(float64(b.Cfg.Download)/(1<<30)))
			}
			b.logf("passthrough download round %d/%d %-8s %7.0f MB/s  proxy cpu %v", round+1, b.Cfg.Rounds, c.Name, mbps, cpu.Round(time.Millisecond))
		}
	}
	params := fmt.Sprintf("connections=%d", b.Cfg.PassthroughConnections)
	for round := range b.Cfg.Rounds {
		for _, c := range b.passthroughContenders() {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := b.runWrk(ctx, c, wrk.Run{URL: directURL, Connections: b.Cfg.PassthroughConnections, Timeout: 10 * time.Second})
			if err != nil {
				return fmt.Errorf("passthrough small requests through %s: %w", c.Name, err)
			}
			b.Res.Add(key(scPassthrough, mRPS, params, c.Name), "req/s", r.GoodRPS())
			if c.Proxied() {
				b.Res.Add(key(scPassthrough, mCPU10k, params, c.Name), "s", r.CPUPer10k())
			}
			b.logf("passthrough small %s round %d/%d %-8s %8.0f req/s  cpu %.3fs/10k", params, round+1, b.Cfg.Rounds, c.Name, r.GoodRPS(), r.CPUPer10k())
		}
	}
	calls := map[string]map[string]int64{}
	for _, c := range []*contender.Contender{b.sidecar, b.haproxy} {
		counts, err := b.spliceCheck(ctx, c)
		if err != nil {
			return fmt.Errorf("counting system calls of %s: %w", c.Name, err)
		}
		calls[c.Name] = counts
		b.logf("passthrough under strace %-8s splice %d, read %d, write %d, recvfrom %d, sendto %d", c.Name,
			counts["splice"], counts["read"], counts["write"], counts["recvfrom"], counts["sendto"])
	}
	b.Res.Extra["passthrough_syscalls"] = calls
	b.Res.Extra["passthrough_syscalls_bytes"] = b.Cfg.SpliceBytes
	return nil
}

// download fetches the first size bytes of /big through c with curl and returns MB/s (10^6 bytes) and
// the proxy's CPU time.
func (b *Bench) download(ctx context.Context, c *contender.Contender, size int64) (float64, time.Duration, error) {
	args := []string{"-sS", "--max-time", "120", "--cacert", b.Env.Certs.CA, "-o", "/dev/null",
		"-w", "%{size_download} %{time_total}", "--range", "0-" + strconv.FormatInt(size-1, 10), bigURL}
	cmd, err := b.client(ctx, c, "curl", args...)
	if err != nil {
		return 0, 0, err
	}
	var before procstat.Usage
	if c.Proxied() {
		if before, err = procstat.Tree(c.PID()); err != nil {
			return 0, 0, err
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("curl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	var cpu time.Duration
	if c.Proxied() {
		after, err := procstat.Tree(c.PID())
		if err != nil {
			return 0, 0, err
		}
		cpu = after.CPU - before.CPU
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("curl printed %q", out)
	}
	got, err1 := strconv.ParseInt(f[0], 10, 64)
	secs, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || secs <= 0 {
		return 0, 0, fmt.Errorf("curl printed %q", out)
	}
	if got != size {
		return 0, 0, fmt.Errorf("downloaded %d bytes, want %d", got, size)
	}
	return float64(got) / secs / 1e6, cpu, nil
}
