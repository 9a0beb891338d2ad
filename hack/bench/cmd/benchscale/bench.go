package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"egress.io/egress/hack/bench/internal/proc"
	"egress.io/egress/hack/bench/internal/scale"
	"egress.io/egress/internal/certs"
	"egress.io/egress/internal/controlplane"
	"egress.io/egress/pkg/sidecar"
)

// bench is one run: the control plane, the cluster's objects, the binaries and what was measured.
type bench struct {
	opts     options
	log      io.Writer
	work     string
	group    *proc.Group
	cp       *controlplane.ControlPlane
	dyn      dynamic.Interface
	world    *world
	webhook  string // binary
	clients  string // binary
	certDir  string
	caPEM    []byte
	kubecfg  string
	markers  int
	results  results
	started  time.Time
	setupFor time.Duration
}

var ruleSetsGVR = schema.GroupVersionResource{Group: "egress.io", Version: "v1alpha1", Resource: "egressrulesets"}

func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// newBench builds the binaries, starts the control plane and creates the cluster's objects and the
// service's certificate.
func newBench(ctx context.Context, opts options, log io.Writer) (_ *bench, err error) {
	b := &bench{opts: opts, log: log, started: time.Now()}
	if b.work, err = os.MkdirTemp("", "egress-bench-scale-"); err != nil {
		return nil, err
	}
	b.group = proc.NewGroup(b.work)
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	b.say("work directory %s", b.work)
	b.webhook, b.clients = filepath.Join(b.work, "egress-webhook"), filepath.Join(b.work, "scaleclients")
	for bin, pkg := range map[string]string{b.webhook: "./cmd/webhook", b.clients: "./hack/bench/cmd/scaleclients"} {
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	b.say("starting etcd and kube-apiserver")
	if b.cp, err = controlplane.Start(controlplane.Options{}); err != nil {
		return nil, err
	}
	if b.dyn, err = dynamic.NewForConfig(b.cp.Config); err != nil {
		return nil, err
	}
	if _, _, err := b.cp.Kubectl(ctx, "", "apply", "-k", "manifests"); err != nil {
		return nil, err
	}
	if _, _, err := b.cp.Kubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/egressrulesets.egress.io"); err != nil {
		return nil, err
	}
	pods := slices.Max(append(slices.Clone(opts.sizes), opts.peerSizes...))
	b.say("creating %d namespaces, %d rule sets and %d pods", opts.namespaces, opts.namespaces*opts.perNamespace+opts.global, pods)
	if b.world, err = populate(ctx, b.cp, opts.namespaces, opts.perNamespace, opts.global, pods, b.say); err != nil {
		return nil, err
	}
	b.certDir = filepath.Join(b.work, "certs")
	if err := os.Mkdir(b.certDir, 0o700); err != nil {
		return nil, err
	}
	ca, err := certs.NewCA(b.certDir, "egress bench CA", 0)
	if err != nil {
		return nil, err
	}
	kp, err := ca.Server(b.certDir, "serving", "egress-policy.egress-system.svc", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	for from, to := range map[string]string{kp.Cert: "tls.crt", kp.Key: "tls.key", ca.File: "ca.crt"} {
		if err := os.Rename(from, filepath.Join(b.certDir, to)); err != nil {
			return nil, err
		}
	}
	b.caPEM = ca.PEM
	if b.kubecfg, err = webhookKubeconfig(ctx, b.cp, b.work); err != nil {
		return nil, err
	}
	b.results.Setup = map[string]any{
		"namespaces": opts.namespaces, "rule_sets": opts.namespaces*opts.perNamespace + opts.global, "pods": pods,
		"rounds": opts.rounds, "machine": machine(),
	}
	b.setupFor = time.Since(b.started)
	return b, nil
}

func (b *bench) close() {
	b.group.StopAll(10 * time.Second)
	if b.cp != nil {
		b.cp.Stop()
	}
	if b.work != "" && !b.opts.keep {
		os.RemoveAll(b.work)
	}
}

// apiServer samples the API server's process figures from its own /metrics.
func (b *bench) apiServer(ctx context.Context) (figures, error) {
	data, err := b.cp.Clientset().Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return figures{}, fmt.Errorf("the API server's /metrics: %w", err)
	}
	return parseFigures(bufio.NewScanner(bytes.NewReader(data)))
}

// change sets the targets of one rule set to its own plus a new marker target, and returns the marker and
// when the request was sent.
func (b *bench) change(ctx context.Context, namespace string) (string, int64, error) {
	b.markers++
	marker := fmt.Sprintf("marker-%d.example.test:443", b.markers)
	name := b.world.ruleSets[namespace][0]
	base := fmt.Sprintf("api-0.%s.example.test:443", namespace)
	if namespace == globalNamespace {
		base = "shared-0.example.test:443"
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"targets": []string{base, marker}}})
	since := time.Now().UnixNano()
	_, err := b.dyn.Resource(ruleSetsGVR).Namespace(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return "", 0, fmt.Errorf("changing rule set %s/%s: %w", namespace, name, err)
	}
	return marker, since, nil
}

// propagation makes a change in namespace and waits for the clients concerned to receive it, measuring
// the CPU the API server and the replicas spent meanwhile.
func (b *bench) propagation(ctx context.Context, clients *clientProcess, replicas []*replica, namespace string) (propagation, error) {
	var p propagation
	api0, err := b.apiServer(ctx)
	if err != nil {
		return p, err
	}
	svc0 := b.serviceCPU(ctx, replicas)
	marker, since, err := b.change(ctx, namespace)
	if err != nil {
		return p, err
	}
	ns := namespace
	if ns == globalNamespace {
		ns = ""
	}
	r, err := clients.do(scale.Command{Op: "wait", Marker: marker, Namespace: ns, Since: since, Timeout: 60 * time.Second})
	if err != nil {
		return p, err
	}
	api1, err := b.apiServer(ctx)
	if err != nil {
		return p, err
	}
	p.Latency, p.Count, p.Missing = r.Latency, r.Count, r.Missing
	p.APIServerCPU = api1.CPU - api0.CPU
	p.ServiceCPU = b.serviceCPU(ctx, replicas) - svc0
	return p, nil
}

// serviceCPU is the CPU seconds of the live replicas so far.
func (b *bench) serviceCPU(ctx context.Context, replicas []*replica) float64 {
	total := 0.0
	for _, r := range replicas {
		if f, err := r.sample(ctx); err == nil {
			total += f.CPU
		}
	}
	return total
}

// settle waits for the machine to calm down after a burst (GC, connection setup).
func settle(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// servicePhase measures the policy service at every size, then kills a replica at the largest.
func (b *bench) servicePhase(ctx context.Context) error {
	maxN := slices.Max(b.opts.sizes)
	b.say("requesting %d tokens for audience %s", maxN, sidecar.PolicyAudience)
	tokens, err := b.world.tokens(ctx, b.cp, maxN, sidecar.PolicyAudience)
	if err != nil {
		return err
	}
	var replicas []*replica
	for _, name := range []string{"replica-a", "replica-b"} {
		r, err := startReplica(b.group, b.webhook, name, b.certDir, b.kubecfg, b.opts.serviceEnv)
		if err != nil {
			return err
		}
		replicas = append(replicas, r)
	}
	settle(ctx, 5*time.Second)
	base, err := b.sampleSize(ctx, 0, replicas, nil)
	if err != nil {
		return err
	}
	b.results.Service = append(b.results.Service, base)
	b.say("N=0: API server %.0f MB, %.0f goroutines; replicas %.0f MB", base.APIServer.RSS/1e6, base.APIServer.Goroutines, base.ServiceRSS/1e6)
	clients, err := startClients(b.group, b.clients, "clients-service", scale.Setup{
		Mode: "service", ServiceURL: "https://egress-policy.egress-system.svc", Endpoints: []string{replicas[0].policy, replicas[1].policy},
		CAPEM: b.caPEM, GlobalNamespace: globalNamespace, Clients: tokens,
	})
	if err != nil {
		return err
	}
	defer clients.quit()
	for _, n := range b.opts.sizes {
		grown, err := clients.do(scale.Command{Op: "grow", N: n, Timeout: 5 * time.Minute})
		if err != nil {
			return err
		}
		settle(ctx, 5*time.Second)
		s, err := b.sampleSize(ctx, n, replicas, clients)
		if err != nil {
			return err
		}
		s.Sync = grown
		for range b.opts.rounds {
			g, err := b.propagation(ctx, clients, replicas, globalNamespace)
			if err != nil {
				return err
			}
			s.Global = append(s.Global, g)
			settle(ctx, time.Second)
			nsChange, err := b.propagation(ctx, clients, replicas, b.world.namespaces[7%len(b.world.namespaces)])
			if err != nil {
				return err
			}
			s.Namespace = append(s.Namespace, nsChange)
			settle(ctx, time.Second)
		}
		b.results.Service = append(b.results.Service, s)
		b.say("N=%d: sync p99 %.0f ms; API server %.0f MB, %.0f goroutines; replicas %.0f MB, %.0f streams; global p99 %.0f ms, namespace p99 %.0f ms",
			n, grown.Latency.P99, s.APIServer.RSS/1e6, s.APIServer.Goroutines, s.ServiceRSS/1e6, s.Streams,
			medianOf(s.Global, func(p propagation) float64 { return p.Latency.P99 }), medianOf(s.Namespace, func(p propagation) float64 { return p.Latency.P99 }))
	}

	// A replica dies: its sidecars reconnect to the other; the Service drops the dead endpoint a second later.
	victim, survivor := replicas[0], replicas[1]
	before, _ := survivor.sample(ctx)
	victimStreams := 0.0
	if f, err := victim.sample(ctx); err == nil {
		victimStreams = f.Streams
	}
	since := time.Now().UnixNano()
	victim.kill()
	b.say("killed %s holding %.0f streams", victim.name, victimStreams)
	r, err := clients.do(scale.Command{Op: "reconnect", Since: since, Live: []string{survivor.policy}, LiveAfter: time.Second, Timeout: 2 * time.Minute})
	if err != nil {
		return err
	}
	settle(ctx, 5*time.Second)
	after, err := survivor.sample(ctx)
	if err != nil {
		return err
	}
	b.results.Reconnect = &reconnect{
		N: maxN, Affected: r.Affected, Reconnected: r.Count, Missing: r.Missing, Latency: r.Latency,
		Updates: r.Updates, VersionChanged: r.VersionChanged, SurvivorBefore: before, SurvivorAfter: after,
		SurvivorBaseline: b.results.Service[0].Replicas[1],
	}
	b.say("mass reconnect: %d of %d streams back, p99 %.0f ms, max %.0f ms; %d policy updates, %d versions changed",
		r.Count, r.Affected, r.Latency.P99, r.Latency.Max, r.Updates, r.VersionChanged)
	survivor.proc.Stop(10 * time.Second)
	return nil
}

// sampleSize takes the static figures with n sidecars connected: memory and goroutines, and the CPU over
// a quiet 10 s.
func (b *bench) sampleSize(ctx context.Context, n int, replicas []*replica, clients *clientProcess) (size, error) {
	s := size{N: n}
	api0, err := b.apiServer(ctx)
	if err != nil {
		return s, err
	}
	cpu0 := b.serviceCPU(ctx, replicas)
	settle(ctx, 10*time.Second)
	if s.APIServer, err = b.apiServer(ctx); err != nil {
		return s, err
	}
	s.APIServerIdleCPU = (s.APIServer.CPU - api0.CPU) / 10
	s.ServiceIdleCPU = (b.serviceCPU(ctx, replicas) - cpu0) / 10
	for _, r := range replicas {
		f, err := r.sample(ctx)
		if err != nil {
			return s, fmt.Errorf("%s: %w", r.name, err)
		}
		s.Replicas = append(s.Replicas, f)
		s.ServiceRSS += f.RSS
		s.ServiceGoroutines += f.Goroutines
		s.Streams += f.Streams
	}
	if clients != nil {
		s.ClientRSS = clients.rss()
	}
	return s, nil
}

// peerPhase measures the direct watch at -peer-sizes.
func (b *bench) peerPhase(ctx context.Context) error {
	if len(b.opts.peerSizes) == 0 {
		return nil
	}
	maxN := slices.Max(b.opts.peerSizes)
	if err := b.world.grantDirectWatch(ctx, b.cp); err != nil {
		return err
	}
	b.say("direct watch: requesting %d tokens for the API server", maxN)
	tokens, err := b.world.tokens(ctx, b.cp, maxN, "")
	if err != nil {
		return err
	}
	settle(ctx, 5*time.Second)
	base, err := b.sampleSize(ctx, 0, nil, nil)
	if err != nil {
		return err
	}
	b.results.Direct = append(b.results.Direct, base)
	clients, err := startClients(b.group, b.clients, "clients-direct", scale.Setup{
		Mode: "kube", APIServer: b.cp.APIServerURL(), CAPEM: b.cp.Config.CAData, GlobalNamespace: globalNamespace, Clients: tokens,
	})
	if err != nil {
		return err
	}
	defer clients.quit()
	for _, n := range b.opts.peerSizes {
		grown, err := clients.do(scale.Command{Op: "grow", N: n, Timeout: 10 * time.Minute})
		if err != nil {
			return err
		}
		settle(ctx, 5*time.Second)
		s, err := b.sampleSize(ctx, n, nil, clients)
		if err != nil {
			return err
		}
		s.Sync = grown
		for range b.opts.rounds {
			g, err := b.propagation(ctx, clients, nil, globalNamespace)
			if err != nil {
				return err
			}
			s.Global = append(s.Global, g)
			settle(ctx, time.Second)
			nsChange, err := b.propagation(ctx, clients, nil, b.world.namespaces[7%len(b.world.namespaces)])
			if err != nil {
				return err
			}
			s.Namespace = append(s.Namespace, nsChange)
			settle(ctx, time.Second)
		}
		b.results.Direct = append(b.results.Direct, s)
		b.say("direct watch N=%d: sync p99 %.0f ms; API server %.0f MB, %.0f goroutines; global p99 %.0f ms",
			n, grown.Latency.P99, s.APIServer.RSS/1e6, s.APIServer.Goroutines, medianOf(s.Global, func(p propagation) float64 { return p.Latency.P99 }))
	}
	return nil
}
