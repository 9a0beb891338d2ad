package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"egress.io/egress/hack/bench/internal/proc"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/webhook"
)

// replica is one egress-webhook process: the real policy service, in the webhook's manager, as the
// Deployment runs it (here with static certificates and a kubeconfig of its service account).
type replica struct {
	name    string
	proc    *proc.Proc
	policy  string // host:port of the policy service
	metrics string // host:port of /metrics
	probes  string
}

// startReplica runs the webhook binary as name with free loopback ports.
func startReplica(group *proc.Group, binary, name, certDir, kubeconfig string, env []string) (*replica, error) {
	cfg := webhook.DefaultConfig()
	cfg.Inject.InitImage, cfg.Inject.SidecarImage = "registry.example/egress-init:bench", "registry.example/egress-sidecar:bench"
	cfg.WebhookHost = "127.0.0.1"
	cfg.CertDir, cfg.StaticCerts = certDir, true
	cfg.Kubeconfig = kubeconfig
	ports := make([]int, 4)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	cfg.WebhookPort, cfg.PolicyPort = uint16(ports[0]), uint16(ports[1])
	cfg.MetricsAddr, cfg.ProbeAddr = "127.0.0.1:"+strconv.Itoa(ports[2]), "127.0.0.1:"+strconv.Itoa(ports[3])
	defaults := webhook.DefaultConfig()
	cmd := exec.Command(binary, settings.Args(cfg.Flags(), defaults.Flags())...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	p, err := group.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	r := &replica{name: name, proc: p, policy: "127.0.0.1:" + strconv.Itoa(ports[1]), metrics: cfg.MetricsAddr, probes: cfg.ProbeAddr}
	err = p.WaitUntil("/readyz", 90*time.Second, func() bool {
		resp, err := http.Get("http://" + r.probes + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r, err
}

// kill ends the replica at once, as a crashed or evicted pod.
func (r *replica) kill() {
	syscall.Kill(-r.proc.PID(), syscall.SIGKILL)
	<-r.proc.Done()
}

// sample reads the replica's figures from its /metrics.
func (r *replica) sample(ctx context.Context) (figures, error) {
	return scrape(ctx, "http://"+r.metrics+"/metrics")
}

// figures are a process's resident memory, CPU time and goroutines, and the policy service's streams.
type figures struct {
	RSS        float64 // bytes
	Heap       float64 // bytes of heap spans in use
	Stacks     float64 // bytes of goroutine stacks
	CPU        float64 // seconds since start
	Goroutines float64
	Streams    float64
}

// scrape reads process_resident_memory_bytes, process_cpu_seconds_total, go_goroutines and
// egress_policy_service_streams from a /metrics page.
func scrape(ctx context.Context, url string) (figures, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return figures{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return figures{}, err
	}
	defer resp.Body.Close()
	return parseFigures(bufio.NewScanner(resp.Body))
}

func parseFigures(sc *bufio.Scanner) (figures, error) {
	var f figures
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			f.RSS = v
		case "process_cpu_seconds_total":
			f.CPU = v
		case "go_goroutines":
			f.Goroutines = v
		case "go_memstats_heap_inuse_bytes":
			f.Heap = v
		case "go_memstats_stack_inuse_bytes":
			f.Stacks = v
		case "egress_policy_service_streams":
			f.Streams = v
		}
	}
	return f, sc.Err()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
