// Command scaleclients is the scale benchmark's client process: it holds up to thousands of simulated
// sidecars, each a real policy source (pkg/servicesource against the policy service, or pkg/kubesource
// against the API server) with a TCP connection and a token of its own, and answers the orchestrator
// (hack/bench/cmd/benchscale) with what they received and when. Protocol: hack/bench/internal/scale.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/hack/bench/internal/scale"
	"egress.io/egress/pkg/kubesource"
	"egress.io/egress/pkg/servicesource"
)

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(os.Stdout)
	var setup scale.Setup
	if err := dec.Decode(&setup); err != nil {
		fmt.Fprintln(os.Stderr, "scaleclients: reading the setup:", err)
		os.Exit(2)
	}
	h, err := newHarness(setup)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleclients:", err)
		os.Exit(2)
	}
	for {
		var cmd scale.Command
		if err := dec.Decode(&cmd); err != nil {
			h.stop()
			return
		}
		reply := h.do(cmd)
		reply.Op = cmd.Op
		if err := enc.Encode(reply); err != nil {
			h.stop()
			return
		}
		if cmd.Op == "quit" {
			h.stop()
			return
		}
	}
}

// client is one simulated sidecar and what it received.
type client struct {
	spec    scale.Client
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	svc     *servicesource.Source
	kube    *kubesource.Source

	first   atomic.Int64 // first policy, Unix ns
	opened  atomic.Int64 // last "policy stream open", Unix ns
	lost    atomic.Int64 // last "policy stream lost", Unix ns
	updates atomic.Int64

	mu      sync.Mutex
	markers map[string]int64
}

// Update implements policy.Sink: it notes the first policy and when each marker target first arrived.
func (c *client) Update(sets []v1alpha1.EgressRuleSet) {
	now := time.Now().UnixNano()
	c.first.CompareAndSwap(0, now)
	c.updates.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range sets {
		for _, t := range sets[i].Spec.Targets {
			if m := string(t); strings.HasPrefix(m, "marker-") {
				if _, seen := c.markers[m]; !seen {
					c.markers[m] = now
				}
			}
		}
	}
}

// Failed implements policy.Sink.
func (c *client) Failed(error) {}

func (c *client) marker(m string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.markers[m]
	return t, ok
}

func (c *client) streaming() bool {
	if c.svc != nil {
		return c.svc.Status().Streaming
	}
	return c.kube.Synced()
}

func (c *client) version() string {
	if c.svc != nil {
		return c.svc.Status().Version
	}
	return ""
}

// openHandler records when the service source logs that its stream opened or broke (a resume sends the
// sink nothing, so this is how a reconnect shows).
type openHandler struct{ c *client }

func (h openHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h openHandler) Handle(_ context.Context, r slog.Record) error {
	switch {
	case r.Message == "policy stream open":
		h.c.opened.Store(r.Time.UnixNano())
	case strings.HasPrefix(r.Message, "policy stream lost"):
		h.c.lost.Store(r.Time.UnixNano())
	}
	return nil
}
func (h openHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h openHandler) WithGroup(string) slog.Handler      { return h }

type harness struct {
	setup     scale.Setup
	roots     *x509.CertPool
	endpoints atomic.Pointer[[]string]
	clients   []*client
}

func newHarness(setup scale.Setup) (*harness, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(setup.CAPEM) {
		return nil, fmt.Errorf("no CA in the setup")
	}
	h := &harness{setup: setup, roots: roots}
	eps := setup.Endpoints
	h.endpoints.Store(&eps)
	return h, nil
}

// start starts client i.
func (h *harness) start(i int) (*client, error) {
	spec := h.setup.Clients[i]
	c := &client{spec: spec, markers: map[string]int64{}, done: make(chan struct{})}
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	switch h.setup.Mode {
	case "service":
		src, err := servicesource.New(servicesource.Options{
			URL: h.setup.ServiceURL, Namespace: spec.Namespace, GlobalNamespace: h.setup.GlobalNamespace,
			Token: staticToken(spec.Token), RootCAs: h.roots, Log: slog.New(openHandler{c}),
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				eps := *h.endpoints.Load()
				if len(eps) == 0 {
					return nil, fmt.Errorf("no endpoints")
				}
				return dialer.DialContext(ctx, network, eps[rand.IntN(len(eps))])
			},
		})
		if err != nil {
			return nil, err
		}
		c.svc = src
	case "kube":
		cfg := &rest.Config{
			Host: h.setup.APIServer, BearerToken: spec.Token,
			TLSClientConfig: rest.TLSClientConfig{CAData: h.setup.CAPEM},
			// A dialer of its own makes the transport uncacheable: every client has its own connection, as
			// every sidecar does.
			Dial: dialer.DialContext,
		}
		src, err := kubesource.New(kubesource.Options{Config: cfg, Namespace: spec.Namespace, GlobalNamespace: h.setup.GlobalNamespace, Log: logr.Discard()})
		if err != nil {
			return nil, err
		}
		c.kube = src
	default:
		return nil, fmt.Errorf("mode %q", h.setup.Mode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.started = time.Now()
	go func() {
		defer close(c.done)
		if c.svc != nil {
			c.svc.Run(ctx, c)
		} else {
			c.kube.Run(ctx, c)
		}
	}()
	return c, nil
}

type staticToken string

func (s staticToken) Token() (string, error) { return string(s), nil }

func (h *harness) stop() {
	for _, c := range h.clients {
		c.cancel()
	}
	for _, c := range h.clients {
		<-c.done
	}
}

func (h *harness) count() (clients, streaming int) {
	for _, c := range h.clients {
		if c.streaming() {
			streaming++
		}
	}
	return len(h.clients), streaming
}

func (h *harness) do(cmd scale.Command) scale.Reply {
	var r scale.Reply
	switch cmd.Op {
	case "grow":
		r = h.grow(cmd)
	case "endpoints":
		eps := cmd.Endpoints
		h.endpoints.Store(&eps)
	case "wait":
		r = h.wait(cmd)
	case "reconnect":
		r = h.reconnect(cmd)
	case "stats", "quit":
	default:
		r.Error = "unknown op " + cmd.Op
	}
	r.Clients, r.Streaming = h.count()
	return r
}

// grow starts clients until cmd.N run, all at once, and waits for each new one's first policy.
func (h *harness) grow(cmd scale.Command) scale.Reply {
	var r scale.Reply
	if cmd.N > len(h.setup.Clients) {
		r.Error = fmt.Sprintf("%d clients asked for, %d set up", cmd.N, len(h.setup.Clients))
		return r
	}
	begin := time.Now()
	var fresh []*client
	for i := len(h.clients); i < cmd.N; i++ {
		c, err := h.start(i)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		h.clients = append(h.clients, c)
		fresh = append(fresh, c)
	}
	deadline := time.Now().Add(cmd.Timeout)
	for {
		pending := 0
		for _, c := range fresh {
			if c.first.Load() == 0 {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			r.Missing = pending
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Wall = scale.Duration(float64(time.Since(begin)) / 1e6)
	var ms []float64
	for _, c := range fresh {
		if f := c.first.Load(); f != 0 {
			ms = append(ms, float64(f-c.started.UnixNano())/1e6)
		}
	}
	r.Count, r.Latency = len(ms), scale.Summarize(ms)
	return r
}

// wait waits until every client concerned has received the marker, and returns the latencies from
// cmd.Since.
func (h *harness) wait(cmd scale.Command) scale.Reply {
	var r scale.Reply
	var concerned []*client
	for _, c := range h.clients {
		if cmd.Namespace == "" || c.spec.Namespace == cmd.Namespace {
			concerned = append(concerned, c)
		}
	}
	deadline := time.Now().Add(cmd.Timeout)
	for {
		pending := 0
		for _, c := range concerned {
			if _, ok := c.marker(cmd.Marker); !ok {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			r.Missing = pending
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ms []float64
	for _, c := range concerned {
		if t, ok := c.marker(cmd.Marker); ok {
			ms = append(ms, float64(t-cmd.Since)/1e6)
		}
	}
	r.Count, r.Latency = len(ms), scale.Summarize(ms)
	r.Wall = scale.Duration(float64(time.Now().UnixNano()-cmd.Since) / 1e6)
	// The clients of other namespaces must not have been sent it.
	if cmd.Namespace != "" {
		for _, c := range h.clients {
			if _, ok := c.marker(cmd.Marker); ok && c.spec.Namespace != cmd.Namespace {
				r.Error = fmt.Sprintf("a client of namespace %s received %s's change", c.spec.Namespace, cmd.Namespace)
			}
		}
	}
	return r
}

// reconnect waits until every client whose stream broke after cmd.Since has opened a stream again (and
// every client streams), and returns those times from cmd.Since; it also counts the policy updates and
// version changes of all clients meanwhile (none are expected: a resumed stream is "current").
func (h *harness) reconnect(cmd scale.Command) scale.Reply {
	var r scale.Reply
	if cmd.Live != nil {
		live := cmd.Live
		time.AfterFunc(cmd.LiveAfter, func() { h.endpoints.Store(&live) })
	}
	type before struct {
		updates int64
		version string
	}
	was := make([]before, len(h.clients))
	for i, c := range h.clients {
		was[i] = before{c.updates.Load(), c.version()}
	}
	// The streams of a killed process end at once (the kernel resets them); give the clients a moment to see it.
	time.Sleep(500 * time.Millisecond)
	deadline := time.Now().Add(cmd.Timeout)
	for {
		pending := 0
		for _, c := range h.clients {
			lost := c.lost.Load()
			if lost > cmd.Since && (c.opened.Load() <= lost || !c.streaming()) {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			r.Missing = pending
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var ms []float64
	for _, c := range h.clients {
		if lost := c.lost.Load(); lost > cmd.Since {
			r.Affected++
			if o := c.opened.Load(); o > lost {
				ms = append(ms, float64(o-cmd.Since)/1e6)
			}
		}
	}
	r.Count, r.Latency = len(ms), scale.Summarize(ms)
	r.Wall = scale.Duration(float64(time.Now().UnixNano()-cmd.Since) / 1e6)
	for i, c := range h.clients {
		r.Updates += int(c.updates.Load() - was[i].updates)
		if c.version() != was[i].version {
			r.VersionChanged++
		}
	}
	return r
}
