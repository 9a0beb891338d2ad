package servicesource

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policyservice"
	"egress.io/egress/pkg/policyservice/policyservicetest"
	"egress.io/egress/pkg/policystream"
)

const global = "egress-system"

// recorder is a policy.Sink that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	updates  [][]v1alpha1.EgressRuleSet
	failures []error
}

func (r *recorder) Update(sets []v1alpha1.EgressRuleSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, sets)
}

func (r *recorder) Failed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, err)
}

func (r *recorder) counts() (updates, failures int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates), len(r.failures)
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		return "<none>"
	}
	var names []string
	for _, s := range r.updates[len(r.updates)-1] {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	return strings.Join(names, ",")
}

// tokens hands out a sequence of tokens, the last one forever.
type tokens struct {
	mu   sync.Mutex
	list []string
	n    atomic.Int32
}

func (t *tokens) Token() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n.Add(1)
	tok := t.list[0]
	if len(t.list) > 1 {
		t.list = t.list[1:]
	}
	return tok, nil
}

type env struct {
	hub  *policyservice.Hub
	auth *policyservicetest.Auth
	svc  *policyservicetest.Service
	addr atomic.Pointer[string] // where Dial goes: the current service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	hub, err := policyservice.NewHub(policyservice.HubOptions{GlobalNamespace: global, Coalesce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hub.Set(policystream.RuleSet{Name: "deps", Namespace: "shop", Spec: v1alpha1.EgressRuleSetSpec{Targets: []v1alpha1.Target{"api.example:443"}}})
	hub.Set(policystream.RuleSet{Name: "dns", Namespace: global, Spec: v1alpha1.EgressRuleSetSpec{Targets: []v1alpha1.Target{"dns.example:53"}}})
	hub.MarkSynced()
	ctx, cancel := context.WithCancel(context.Background())
	go hub.Run(ctx)
	t.Cleanup(cancel)
	e := &env{hub: hub, auth: &policyservicetest.Auth{}}
	e.auth.Add("shop-token", podauth.Identity{Namespace: "shop", PodName: "p", Expiry: time.Now().Add(time.Hour)})
	e.start(t)
	return e
}

// start starts the service, or another replica with the same certificate; Dial follows it.
func (e *env) start(t *testing.T) {
	if e.svc == nil {
		e.svc = policyservicetest.Start(t, policyservice.ServerOptions{Hub: e.hub, Auth: e.auth, Heartbeat: 50 * time.Millisecond})
	} else {
		e.svc = e.svc.Another(t, nil)
	}
	addr := e.svc.Addr
	e.addr.Store(&addr)
}

func (e *env) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, *e.addr.Load())
}

func (e *env) source(t *testing.T, ns string, tok TokenSource, reg prometheus.Registerer) (*Source, *recorder) {
	t.Helper()
	var m *Metrics
	if reg != nil {
		var err error
		if m, err = NewMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	src, err := New(Options{
		URL: e.svc.URL, Namespace: ns, GlobalNamespace: global, Token: tok, RootCAs: e.svc.RootCAs, Dial: e.dial,
		InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, ReconnectJitter: 20 * time.Millisecond,
		IdleTimeout: 500 * time.Millisecond, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return src, sink
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSnapshotsReachTheSink(t *testing.T) {
	e := newEnv(t)
	src, sink := e.source(t, "shop", &tokens{list: []string{"shop-token"}}, prometheus.NewRegistry())
	waitUntil(t, "the first snapshot", func() bool { n, _ := sink.counts(); return n == 1 })
	if got := sink.last(); got != "egress-system/dns,shop/deps" {
		t.Errorf("first snapshot %q", got)
	}
	waitUntil(t, "streaming", func() bool { return src.Status().Streaming })
	if d := src.Detail(); d != "" {
		t.Errorf("Detail while streaming: %q", d)
	}
	e.hub.Set(policystream.RuleSet{Name: "more", Namespace: "shop", Spec: v1alpha1.EgressRuleSetSpec{Targets: []v1alpha1.Target{"more.example:443"}}})
	waitUntil(t, "the change", func() bool { return sink.last() == "egress-system/dns,shop/deps,shop/more" })
	// Heartbeats keep an idle stream open well past the idle timeout.
	time.Sleep(700 * time.Millisecond)
	if st := src.Status(); !st.Streaming || st.Stale != 0 {
		t.Errorf("idle but heartbeating: %+v", st)
	}
	if _, failures := sink.counts(); failures != 0 {
		t.Errorf("%d failures", failures)
	}
}

func TestAReplicaRestartChangesNothingAndTheStreamResumes(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	src, sink := e.source(t, "shop", &tokens{list: []string{"shop-token"}}, reg)
	waitUntil(t, "streaming", func() bool { return src.Status().Streaming })
	version := src.Status().Version
	// The replica stops: the sidecar keeps its policy, says how stale it is, and keeps trying.
	if err := e.svc.Stop(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the loss noticed", func() bool { return !src.Status().Streaming })
	time.Sleep(300 * time.Millisecond)
	st := src.Status()
	if st.Version != version || st.Stale < 250*time.Millisecond || st.LastError == nil {
		t.Errorf("while down: %+v", st)
	}
	if d := src.Detail(); !strings.Contains(d, "policy stale for") || !strings.Contains(d, version) {
		t.Errorf("Detail while down: %q", d)
	}
	if v := gauge(t, reg, "egress_policy_stale_seconds"); v < 0.25 {
		t.Errorf("egress_policy_stale_seconds = %v", v)
	}
	if v := gauge(t, reg, "egress_policy_service_connected"); v != 0 {
		t.Errorf("egress_policy_service_connected = %v while down", v)
	}
	updates, failures := sink.counts()
	if updates != 1 || failures != 1 {
		t.Errorf("while down: %d updates, %d failures; want the one snapshot and one failure", updates, failures)
	}
	// Another replica (same content): the sidecar resumes, told "current", and nothing is recompiled.
	e.start(t)
	waitUntil(t, "streaming again", func() bool { return src.Status().Streaming })
	if updates, _ := sink.counts(); updates != 1 {
		t.Errorf("%d updates after resuming an unchanged policy, want still 1", updates)
	}
	if st := src.Status(); st.Stale != 0 || src.Detail() != "" {
		t.Errorf("after resuming: %+v %q", st, src.Detail())
	}
	if v := gauge(t, reg, "egress_policy_service_connected"); v != 1 {
		t.Errorf("egress_policy_service_connected = %v after resuming", v)
	}
	// A change made while it was away arrives as a snapshot.
	e.hub.Set(policystream.RuleSet{Name: "later", Namespace: global, Spec: v1alpha1.EgressRuleSetSpec{Targets: []v1alpha1.Target{"later.example:443"}}})
	waitUntil(t, "the change", func() bool { return strings.Contains(sink.last(), "egress-system/later") })
}

func TestTheTokenIsReadAgainWhenTheServiceAsksToReconnect(t *testing.T) {
	e := newEnv(t)
	e.auth.Add("old", podauth.Identity{Namespace: "shop", PodName: "p", Expiry: time.Now().Add(200 * time.Millisecond)})
	toks := &tokens{list: []string{"old", "shop-token"}}
	src, sink := e.source(t, "shop", toks, nil)
	waitUntil(t, "streaming with the old token", func() bool { return src.Status().Streaming })
	waitUntil(t, "a second connection", func() bool { return toks.n.Load() >= 2 })
	waitUntil(t, "streaming with the refreshed token", func() bool { return src.Status().Streaming })
	time.Sleep(300 * time.Millisecond)
	if !src.Status().Streaming || toks.n.Load() != 2 {
		t.Errorf("status %+v after %d connections", src.Status(), toks.n.Load())
	}
	if updates, failures := sink.counts(); updates != 1 || failures != 0 {
		t.Errorf("%d updates and %d failures: a reconnect the service asked for is neither", updates, failures)
	}
}

func TestRefusalsLeaveThePodWithoutPolicyAndSaySo(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	src, sink := e.source(t, "shop", &tokens{list: []string{"forged"}}, reg)
	waitUntil(t, "a few refusals", func() bool { return counter(t, reg, "egress_policy_service_connects_total", "refused") >= 3 })
	if updates, failures := sink.counts(); updates != 0 || failures != 1 {
		t.Errorf("%d updates, %d failures (reported once per 30 s)", updates, failures)
	}
	if d := src.Detail(); !strings.Contains(d, "no policy from the policy service yet: 401 Unauthorized: token refused: invalid bearer token") {
		t.Errorf("Detail: %q", d)
	}
	var se *StatusError
	if !errors.As(src.Status().LastError, &se) || se.Code != 401 {
		t.Errorf("last error %v", src.Status().LastError)
	}
	// A pod that names another namespace than its token's hears that too.
	other, _ := e.source(t, "bank", &tokens{list: []string{"shop-token"}}, nil)
	waitUntil(t, "the 403", func() bool {
		return errors.As(other.Status().LastError, &se) && se.Code == 403
	})
}

func TestBackoffCeilings(t *testing.T) {
	s := &Source{opts: Options{InitialBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, ReconnectJitter: time.Second}}
	want := []time.Duration{time.Second, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for attempts, w := range want {
		if got := s.ceiling(attempts); got != w {
			t.Errorf("ceiling(%d) = %v, want %v", attempts, got, w)
		}
	}
	if got := s.ceiling(1000); got != 5*time.Second {
		t.Errorf("ceiling(1000) = %v", got)
	}
	for range 1000 {
		if d := jitter(time.Second); d < 0 || d >= time.Second {
			t.Fatalf("jitter %v outside [0, 1s)", d)
		}
	}
}

func TestNewChecksOptions(t *testing.T) {
	tok := &tokens{list: []string{"t"}}
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{URL: "https://x", Token: tok, CAFile: "ca"}, "Namespace"},
		{Options{URL: "https://x", Namespace: "shop", CAFile: "ca"}, "Token"},
		{Options{URL: "http://x", Namespace: "shop", Token: tok, CAFile: "ca"}, "want https://HOST[:PORT]"},
		{Options{URL: "https://x/path", Namespace: "shop", Token: tok, CAFile: "ca"}, "want https://HOST[:PORT]"},
		{Options{URL: "https://x", Namespace: "shop", Token: tok}, "a CA file is required"},
	} {
		if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
	s, err := New(Options{URL: "https://egress-policy.egress-system.svc", Namespace: "shop", Token: tok, CAFile: "ca"})
	if err != nil || s.host != "egress-policy.egress-system.svc:443" {
		t.Errorf("New: %v, host %q", err, s.host)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func counter(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
