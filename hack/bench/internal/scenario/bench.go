package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/env"
	"egress.io/egress/hack/bench/internal/openloop"
	"egress.io/egress/hack/bench/internal/procstat"
	"egress.io/egress/hack/bench/internal/report"
	"egress.io/egress/hack/bench/internal/rules"
	"egress.io/egress/hack/bench/internal/wrk"
)

// Loopback ports of the contenders in the pod; egress-init's redirect points at one at a time.
const (
	portSidecar   = 15001
	portNginxBest = 15002
	portNginxPoC  = 15003
	portHAProxy   = 15004
	portMemory    = 15005 // the memory scenario's fresh sidecar
	dnsSidecar    = 15053
	dnsMemory     = 15054
	adminSidecar  = 15020
	adminMemory   = 15021
	pprofPort     = 6060
)

// Where the app sends its requests.
var (
	// originationURL is what an app calling http://api.example.test.egress.local/small does after its
	// lookup: it connects to the sentinel the sidecar's DNS proxy answers, port 80.
	originationURL  = "http://" + env.OriginName + ".egress.local/small"
	originationDial = net.JoinHostPort(env.SentinelIP, "80")
	// directURL is the baseline: the app speaks TLS to the origin itself.
	directURL  = "https://" + env.OriginName + "/small"
	directDial = net.JoinHostPort(env.WorldIP, "443")
	bigURL     = "https://" + env.OriginName + "/big"
)

// Bench is one run: the world, the contenders and the results.
type Bench struct {
	Env *env.Env
	Cfg Config
	Res *report.Results
	Log io.Writer
	// SidecarEnv is added to the main sidecar's environment (experiments such as GOGC=400).
	SidecarEnv []string

	rules     string // the main sidecar's rules file
	sidecar   *contender.Contender
	nginxBest *contender.Contender
	nginxPoC  *contender.Contender
	haproxy   *contender.Contender
	direct    *contender.Contender
}

// baseRules is the policy of every scenario but the policy ones: the origin, and nothing else.
func baseRules() string {
	text, _ := rules.YAML([]string{env.OriginName + ":443"}, 1)
	return text
}

// Start writes the base rules and starts the contenders. sidecarBinary is egress-sidecar or, when
// profiling, sidecarprof (extra carries its flags).
func (b *Bench) Start(ctx context.Context, sidecarBinary string, extra ...string) error {
	dir, err := b.Env.OwnedDir("rules")
	if err != nil {
		return err
	}
	b.rules = filepath.Join(dir, "rules.yaml")
	if err := rules.WriteAtomic(b.rules, baseRules()); err != nil {
		return err
	}
	b.logf("starting the contenders in %s: sidecar :%d, nginx-best :%d, nginx-poc :%d, haproxy :%d",
		b.Env.Pair.Pod, portSidecar, portNginxBest, portNginxPoC, portHAProxy)
	b.sidecar, err = contender.StartSidecar(b.Env, contender.SidecarOptions{
		Binary: sidecarBinary, RulesFile: b.rules,
		CapturePort: portSidecar, DNSPort: dnsSidecar, AdminPort: adminSidecar, Extra: extra, Env: b.SidecarEnv,
	})
	if err != nil {
		return err
	}
	if b.nginxBest, err = contender.StartNginx(b.Env, contender.NginxBest, portNginxBest, b.Cfg.Cores); err != nil {
		return err
	}
	if b.nginxPoC, err = contender.StartNginx(b.Env, contender.NginxPoC, portNginxPoC, b.Cfg.Cores); err != nil {
		return err
	}
	if b.haproxy, err = contender.StartHAProxy(b.Env, portHAProxy, b.Cfg.Cores); err != nil {
		return err
	}
	b.direct = contender.NewDirect()
	return b.check(ctx)
}

// check sends one request down every contender's path and insists on the origin's answer, so a broken
// configuration fails the run before it measures anything.
func (b *Bench) check(ctx context.Context) error {
	for _, c := range []*contender.Contender{b.sidecar, b.nginxBest, b.nginxPoC, b.direct} {
		if err := b.curlCheck(ctx, c, originationArgs(c, b.Env.Certs.CA)); err != nil {
			return fmt.Errorf("origination through %s: %w", c.Name, err)
		}
	}
	for _, c := range []*contender.Contender{b.sidecar, b.haproxy} {
		if err := b.curlCheck(ctx, c, []string{"--cacert", b.Env.Certs.CA, directURL}); err != nil {
			return fmt.Errorf("passthrough through %s: %w", c.Name, err)
		}
	}
	return nil
}

// originationArgs are curl's arguments for the origination request as contender c's client makes it.
func originationArgs(c *contender.Contender, ca string) []string {
	if !c.Proxied() {
		return []string{"--cacert", ca, directURL}
	}
	return []string{"--connect-to", env.OriginName + ".egress.local:80:" + originationDial, originationURL}
}

func (b *Bench) curlCheck(ctx context.Context, c *contender.Contender, args []string) error {
	cmd, err := b.client(ctx, c, "curl", append([]string{"-sS", "--max-time", "10"}, args...)...)
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("curl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	if string(out) != env.SmallBody {
		return fmt.Errorf("curl %s: got %q, want the origin's body", strings.Join(args, " "), out)
	}
	return nil
}

// client returns a command of the app whose traffic goes through c: the redirect now points at c, and
// the command runs as the app. For the direct baseline it runs as the sidecar's UID, so that
// egress-init's rules let it reach the origin untouched (same namespace, same client, no proxy).
func (b *Bench) client(ctx context.Context, c *contender.Contender, name string, args ...string) (*exec.Cmd, error) {
	if !c.Proxied() {
		return b.Env.Bypass(ctx, name, args...), nil
	}
	if err := b.Env.Redirect(c.Port); err != nil {
		return nil, err
	}
	return b.Env.App(ctx, name, args...), nil
}

// Stop stops the contenders (the Env stops anything left).
func (b *Bench) Stop() {
	for _, c := range []*contender.Contender{b.sidecar, b.nginxBest, b.nginxPoC, b.haproxy} {
		if c != nil {
			c.Stop()
		}
	}
}

// wrkResult is one wrk measurement with the proxy's CPU time over it.
type wrkResult struct {
	wrk.Result
	CPU time.Duration // user+system of the proxy's process tree during the run; 0 for direct
}

// GoodRPS is requests/s counting only 2xx/3xx answers.
func (r wrkResult) GoodRPS() float64 {
	if r.Requests == 0 {
		return 0
	}
	return r.RPS * float64(r.Requests-r.Non2xx) / float64(r.Requests)
}

// CPUPer10k is the proxy's CPU seconds per 10,000 requests.
func (r wrkResult) CPUPer10k() float64 {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU.Seconds() / float64(r.Requests) * 10000
}

// runWrk warms c's path up with wrk for Cfg.Warmup, then measures for Cfg.Duration.
func (b *Bench) runWrk(ctx context.Context, c *contender.Contender, run wrk.Run) (wrkResult, error) {
	if b.Cfg.Warmup > 0 {
		warm := run
		warm.Duration = b.Cfg.Warmup
		if _, err := b.wrkOnce(ctx, c, warm); err != nil {
			return wrkResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	run.Duration = b.Cfg.Duration
	var before procstat.Usage
	if c.Proxied() {
		var err error
		if before, err = procstat.Tree(c.PID()); err != nil {
			return wrkResult{}, err
		}
	}
	r, err := b.wrkOnce(ctx, c, run)
	if err != nil {
		return wrkResult{}, err
	}
	res := wrkResult{Result: r}
	if c.Proxied() {
		after, err := procstat.Tree(c.PID())
		if err != nil {
			return wrkResult{}, err
		}
		res.CPU = after.CPU - before.CPU
	}
	if r.Errors() > 0 {
		b.Res.Note("%s: wrk -c %d %s: %d non-2xx answers and %d socket errors in %d requests",
			c.Name, run.Connections, run.URL, r.Non2xx, r.SocketErrors, r.Requests)
	}
	return res, nil
}

func (b *Bench) wrkOnce(ctx context.Context, c *contender.Contender, run wrk.Run) (wrk.Result, error) {
	cmd, err := b.client(ctx, c, "wrk", run.Args(b.Cfg.Cores)...)
	if err != nil {
		return wrk.Result{}, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrk.Result{}, fmt.Errorf("wrk %s: %w: %s", strings.Join(run.Args(b.Cfg.Cores), " "), err, out)
	}
	return wrk.Parse(string(out))
}

// originationRun is the wrk load of the origination path as c's client makes it.
func originationRun(c *contender.Contender, conns int) wrk.Run {
	if !c.Proxied() {
		return wrk.Run{URL: directURL, Connections: conns, Timeout: 10 * time.Second}
	}
	return wrk.Run{
		URL:         "http://" + originationDial + "/small",
		Headers:     []string{"Host: " + env.OriginName + ".egress.local"},
		Connections: conns,
		Timeout:     10 * time.Second,
	}
}

// runOpenLoop runs the fixed-rate generator as c's client.
func (b *Bench) runOpenLoop(ctx context.Context, c *contender.Contender) (openloop.Result, error) {
	ol := b.Cfg.OpenLoop
	args := []string{
		"-rate", strconv.FormatFloat(ol.Rate, 'f', -1, 64),
		"-duration", ol.Duration.String(),
		"-connections", strconv.Itoa(ol.Connections),
	}
	if c.Proxied() {
		args = append(args, "-url", originationURL, "-connect", originationDial)
	} else {
		args = append(args, "-url", directURL, "-connect", directDial, "-cacert", b.Env.Certs.CA)
	}
	cmd, err := b.client(ctx, c, b.Env.Bin["openloop"], args...)
	if err != nil {
		return openloop.Result{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return openloop.Result{}, fmt.Errorf("openloop %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	var r openloop.Result
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("openloop output: %w: %s", err, out)
	}
	if r.Failed+r.Dropped > 0 {
		b.Res.Note("%s: open loop at %.0f/s: %d failed, %d dropped of %d (first error: %s)",
			c.Name, ol.Rate, r.Failed, r.Dropped, r.Scheduled, r.FirstError)
	}
	return r, nil
}

func (b *Bench) logf(format string, args ...any) {
	fmt.Fprintf(b.Log, "bench: "+format+"\n", args...)
}

// key abbreviates a report.Key.
func key(scenario, metric, params, contender string) report.Key {
	return report.Key{Scenario: scenario, Metric: metric, Params: params, Contender: contender}
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
