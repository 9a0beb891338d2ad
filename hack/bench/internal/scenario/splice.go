package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/procstat"
	"egress.io/egress/internal/testworld"
)

// spliceCheck downloads Cfg.SpliceBytes through c while strace counts c's system calls.
func (b *Bench) spliceCheck(ctx context.Context, c *contender.Contender) (map[string]int64, error) {
	return b.straceDuring(c, func() error {
		_, _, err := b.download(ctx, c, b.Cfg.SpliceBytes)
		return err
	})
}

// straceDuring runs load while `strace -c -f -p PID...` counts the system calls of every thread of every
// process of c (nginx's workers too), and returns the calls by name. strace slows the proxy down a lot:
// such runs are not timed.
func (b *Bench) straceDuring(c *contender.Contender, load func() error) (map[string]int64, error) {
	summary := filepath.Join(b.Env.Dir, "strace-"+c.Name+".txt")
	tree, err := procstat.Tree(c.PID())
	if err != nil {
		return nil, err
	}
	args := []string{"-c", "-f", "-o", summary}
	for _, pid := range tree.PIDs {
		args = append(args, "-p", strconv.Itoa(pid))
	}
	strace := exec.Command("strace", args...)
	stderr := &testworld.SyncBuffer{}
	strace.Stderr = stderr
	if err := strace.Start(); err != nil {
		return nil, fmt.Errorf("strace: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			strace.Process.Kill()
			strace.Wait()
		}
	}()
	// strace prints "Process PID attached" for each thread; give it a moment to attach to all.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stderr.String(), "attached") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if err := load(); err != nil {
		return nil, err
	}
	strace.Process.Signal(syscall.SIGINT)
	strace.Wait()
	stopped = true
	data, err := os.ReadFile(summary)
	if err != nil {
		return nil, fmt.Errorf("strace summary: %w (strace said: %s)", err, stderr.String())
	}
	return parseStraceSummary(string(data)), nil
}

// parseStraceSummary reads the table of `strace -c`: "% time seconds usecs/call calls [errors] syscall".
func parseStraceSummary(text string) map[string]int64 {
	calls := map[string]int64{}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 5 || strings.HasPrefix(f[0], "%") || strings.HasPrefix(f[0], "-") {
			continue
		}
		name := f[len(f)-1]
		if name == "total" {
			continue
		}
		if n, err := strconv.ParseInt(f[3], 10, 64); err == nil {
			calls[name] = n
		}
	}
	return calls
}
