package scenario

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/env"
	"egress.io/egress/hack/bench/internal/rules"
	"egress.io/egress/internal/testworld"
)

// Scenario and metric names of the reload benchmark.
const (
	scReload   = "reload"
	mEnforceMs = "rules_change_to_enforcement_ms"
)

// reloadURL is the name the reload benchmark allows and denies in turn.
var reloadURL = "http://" + env.ReloadName + ".egress.local/small"

// Reload measures the time from a rules file change (the rename that replaces it) to the first answer
// that enforces the new policy, with Cfg.ReloadTargets targets: the app (flipwait) sends requests back to
// back on one keep-alive connection through the sidecar; both files have the same number of targets and
// differ only in whether reload.example.test:443 is one of them.
func (b *Bench) Reload(ctx context.Context) error {
	n := b.Cfg.ReloadTargets
	without, err := rules.YAML([]string{env.OriginName + ":443"}, n)
	if err != nil {
		return err
	}
	with, err := rules.YAML([]string{env.OriginName + ":443", env.ReloadName + ":443"}, n)
	if err != nil {
		return err
	}
	if err := b.loadRules(ctx, without, n); err != nil {
		return err
	}
	params := fmt.Sprintf("targets=%d", n)
	for round := range b.Cfg.ReloadRounds {
		for _, step := range []struct{ text, want string }{{with, "allowed"}, {without, "denied"}} {
			if err := ctx.Err(); err != nil {
				return err
			}
			d, requests, err := b.flip(ctx, step.text, step.want)
			if err != nil {
				return fmt.Errorf("reload to %s: %w", step.want, err)
			}
			b.Res.Add(key(scReload, mEnforceMs, params+" now="+step.want, contender.Sidecar), "ms", ms(d))
			b.logf("reload %s round %d/%d: %s after %.1f ms (%d requests)", params, round+1, b.Cfg.ReloadRounds, step.want, ms(d), requests)
		}
	}
	return b.loadRules(ctx, baseRules(), 1)
}

// flip starts flipwait, waits until it has seen the old state, replaces the rules with text and returns
// the time until flipwait saw the new state.
func (b *Bench) flip(ctx context.Context, text, want string) (time.Duration, int, error) {
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd, err := b.client(fctx, b.sidecar, b.Env.Bin["flipwait"], "-url", reloadURL, "-connect", originationDial,
		"-want", want, "-timeout", "30s")
	if err != nil {
		return 0, 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	stderr := &testworld.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("flipwait: %w", err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(stdout)
	line, err := nextLine(lines)
	if err != nil {
		return 0, 0, fmt.Errorf("flipwait: %w: %s", err, stderr.String())
	}
	if !strings.HasPrefix(line, "ready ") {
		return 0, 0, fmt.Errorf("flipwait started in the wanted state already: %q", line)
	}
	start := time.Now()
	if err := rules.WriteAtomic(b.rules, text); err != nil {
		return 0, 0, err
	}
	line, err = nextLine(lines)
	if err != nil {
		return 0, 0, fmt.Errorf("flipwait: %w: %s", err, stderr.String())
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "flipped" {
		return 0, 0, fmt.Errorf("flipwait said %q", line)
	}
	at, err1 := strconv.ParseInt(f[1], 10, 64)
	requests, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("flipwait said %q", line)
	}
	return time.Duration(at - start.UnixNano()), requests, nil
}
