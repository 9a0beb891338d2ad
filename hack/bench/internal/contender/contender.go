// Package contender starts the proxies the benchmark compares, each in the pod namespace as the sidecar's
// UID (so its own upstream traffic leaves the pod untouched, as the sidecar's does) and each listening on
// a loopback port of its own that egress-init's capture redirect is pointed at in turn: the app's path is
// the same for all of them. The direct baseline is a Contender without a process.
package contender

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/hack/bench/internal/env"
	"egress.io/egress/hack/bench/internal/proc"
)

// Names of the contenders.
const (
	Sidecar   = "sidecar"    // egress-sidecar
	NginxBest = "nginx-best" // nginx tuned for origination: upstream keep-alive, session reuse
	NginxPoC  = "nginx-poc"  // nginx as the proof of concept had it: proxy_pass https://$host_without_suffix
	HAProxy   = "haproxy"    // haproxy mode tcp, SNI routing, splice
	Direct    = "direct"     // no proxy: the client speaks TLS to the origin itself
)

var (
	//go:embed nginx-best.conf.tmpl
	nginxBestConf string
	//go:embed nginx-poc.conf.tmpl
	nginxPoCConf string
	//go:embed haproxy.cfg.tmpl
	haproxyConf string
)

// Contender is one proxy in the pod, or the direct baseline (Port 0, no Proc).
type Contender struct {
	Name  string
	Port  int        // loopback port the capture redirect points at
	Proc  *proc.Proc // nil for Direct
	Admin string     // the sidecar's admin host:port in the pod; "" for the others
	env   *env.Env
}

// NewDirect returns the direct baseline.
func NewDirect() *Contender { return &Contender{Name: Direct} }

// Proxied reports whether the app's traffic goes through this contender.
func (c *Contender) Proxied() bool { return c.Proc != nil }

// PID returns the process whose tree is charged for CPU and memory.
func (c *Contender) PID() int { return c.Proc.PID() }

// Stop stops the contender's processes.
func (c *Contender) Stop() {
	if c.Proc != nil {
		c.Proc.Stop(3 * time.Second)
		c.env.Procs.Remove(c.Proc)
	}
}

// configData fills the peers' config templates.
type configData struct {
	Dir, CA, Origin, Upstream, Resolver string
	Port, Workers                       int
}

// StartNginx starts nginx configured as name (NginxBest or NginxPoC) on 127.0.0.1:port in the pod.
func StartNginx(e *env.Env, name string, port, workers int) (*Contender, error) {
	tmpl := map[string]string{NginxBest: nginxBestConf, NginxPoC: nginxPoCConf}[name]
	if tmpl == "" {
		return nil, fmt.Errorf("no nginx configuration called %q", name)
	}
	dir, err := e.OwnedDir(name)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	data := configData{
		Dir: dir, CA: e.Certs.CA, Origin: env.OriginName, Upstream: strings.ReplaceAll(env.OriginName, ".", "_"),
		Resolver: env.WorldIP, Port: port, Workers: workers,
	}
	if err := env.WriteTemplate(conf, tmpl, data); err != nil {
		return nil, err
	}
	cmd := e.Bypass(context.Background(), "nginx", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf)
	return start(e, name, port, cmd)
}

// StartHAProxy starts haproxy on 127.0.0.1:port in the pod.
func StartHAProxy(e *env.Env, port, workers int) (*Contender, error) {
	dir, err := e.OwnedDir(HAProxy)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := env.WriteTemplate(conf, haproxyConf, configData{Dir: dir, Origin: env.OriginName, Port: port, Workers: workers}); err != nil {
		return nil, err
	}
	return start(e, HAProxy, port, e.Bypass(context.Background(), "haproxy", "-db", "-f", conf))
}

// start runs cmd as name and waits until it accepts connections on 127.0.0.1:port.
func start(e *env.Env, name string, port int, cmd *exec.Cmd) (*Contender, error) {
	p, err := e.Procs.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	c := &Contender{Name: name, Port: port, Proc: p, env: e}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := p.WaitUntil("a listener on "+addr, 10*time.Second, func() bool { return e.CanDialPod(addr) }); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// SidecarOptions configure one egress-sidecar.
type SidecarOptions struct {
	Name        string // process name in logs; default "sidecar"
	Binary      string // egress-sidecar, or the profiling build
	RulesFile   string
	CapturePort int
	DNSPort     int
	AdminPort   int
	Extra       []string // more flags
	Env         []string // more environment, e.g. GOGC=400 for an experiment
}

// StartSidecar starts egress-sidecar in the pod as its UID and waits until /ready says ready.
func StartSidecar(e *env.Env, o SidecarOptions) (*Contender, error) {
	if o.Name == "" {
		o.Name = Sidecar
	}
	admin := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.AdminPort))
	args := append([]string{
		"--rules-file", o.RulesFile,
		"--ca-bundle", e.Certs.CA,
		"--upstream-dns", net.JoinHostPort(env.WorldIP, "53"),
		"--public-cidrs", env.WorldIP + "/32",
		"--capture-port", strconv.Itoa(o.CapturePort),
		"--dns-port", strconv.Itoa(o.DNSPort),
		"--admin-addr", admin,
		"--drain-timeout", "1s",
	}, o.Extra...)
	cmd := e.Bypass(context.Background(), o.Binary, args...)
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	p, err := e.Procs.Start(o.Name, cmd)
	if err != nil {
		return nil, err
	}
	c := &Contender{Name: Sidecar, Port: o.CapturePort, Proc: p, Admin: admin, env: e}
	err = p.WaitUntil("/ready", 30*time.Second, func() bool {
		status, _, err := c.AdminGet(context.Background(), "/ready")
		return err == nil && status == http.StatusOK
	})
	if err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// AdminGet fetches path from the sidecar's admin server.
func (c *Contender) AdminGet(ctx context.Context, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Admin+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.env.PodHTTP().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// Metrics returns the sidecar's unlabelled-or-labelled samples by their full exposition name, e.g.
// "egress_policy_targets" or `egress_policy_reloads_total{result="success"}`.
func (c *Contender) Metrics(ctx context.Context) (map[string]float64, error) {
	status, body, err := c.AdminGet(ctx, "/metrics")
	if err != nil {
		return nil, fmt.Errorf("%s metrics: %w", c.Name, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s metrics: status %d", c.Name, status)
	}
	return ParseMetrics(body), nil
}

// ParseMetrics reads the samples of the Prometheus text format by series, e.g. "egress_policy_targets" or
// `egress_policy_reloads_total{result="success"}`; comments and timestamps are skipped.
func ParseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, rest := line, ""
		if end := strings.LastIndexByte(line, '}'); end >= 0 {
			series, rest = line[:end+1], line[end+1:]
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			series, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[series] = v
		}
	}
	return out
}
