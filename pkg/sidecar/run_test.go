package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/internal/testworld"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/policy/policytest"
	"egress.io/egress/pkg/sidecar/dnsproxy"
	"egress.io/egress/pkg/sidecar/record"
)

// staticSource delivers one set of rule sets, then waits.
type staticSource []v1alpha1.EgressRuleSet

func (s staticSource) Run(ctx context.Context, sink policy.Sink) error {
	sink.Update(s)
	<-ctx.Done()
	return nil
}

// staticResolver answers from a map; unknown names do not exist.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupAddrs(_ context.Context, name string) ([]netip.Addr, error) {
	if a, ok := r[name]; ok {
		return a, nil
	}
	return nil, &dnsproxy.LookupError{Name: name, Err: dnsproxy.ErrNotFound}
}

// running is a sidecar run on loopback ports, whose connections claim the original destinations the test
// sets by client port.
type running struct {
	capture string
	admin   string
	logs    *testworld.SyncBuffer
	mu      sync.Mutex
	origs   map[uint16]netip.AddrPort // by the client's port
	stop    func()
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func startSidecar(t *testing.T, src policy.Source, resolver staticResolver) *running {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ListenAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	cfg.CapturePort, cfg.DNSPort = freePort(t), freePort(t)
	cfg.AdminAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.UpstreamDNS = []string{"127.0.0.1:1"}
	cfg.DrainTimeout = time.Second
	r := &running{
		capture: fmt.Sprintf("127.0.0.1:%d", cfg.CapturePort), admin: "http://" + cfg.AdminAddr,
		logs: &testworld.SyncBuffer{}, origs: map[uint16]netip.AddrPort{},
	}
	opts := Options{
		Logger:   slog.New(slog.NewJSONHandler(r.logs, nil)),
		Registry: prometheus.NewRegistry(),
		Resolver: resolver,
		OriginalDst: func(c *net.TCPConn) (netip.AddrPort, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.origs[uint16(c.RemoteAddr().(*net.TCPAddr).Port)], nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, src, opts) }()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("sidecar log:\n%s", r.logs.String())
		}
	})
	testworld.WaitFor(t, "sidecar ready", 5*time.Second, func() bool {
		resp, err := http.Get(r.admin + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return r
}

// dial connects to the capture port as an app whose connection was headed for orig. The original
// destination is registered for a local port chosen first, before connecting: the sidecar reads it as soon
// as it accepts.
func (r *running) dial(t *testing.T, orig string) net.Conn {
	t.Helper()
	port := freePort(t)
	r.mu.Lock()
	r.origs[port] = netip.MustParseAddrPort(orig)
	r.mu.Unlock()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)}}
	c, err := d.Dial("tcp", r.capture)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (r *running) decisions(t *testing.T) []record.Event {
	t.Helper()
	resp, err := http.Get(r.admin + "/debug/decisions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []record.Event
	if err := json.NewDecoder(resp.Body).Decode(&events); err != nil {
		t.Fatal(err)
	}
	return events
}

// TestRunRefusesLoops: a connection that reached the capture port directly (its original destination is
// loopback, unspecified or the sidecar) is closed and recorded.
func TestRunRefusesLoops(t *testing.T) {
	r := startSidecar(t, staticSource{policytest.RuleSet("test", "*:80", "127.0.0.0/8:1-65535")}, nil)
	for _, orig := range []string{"127.0.0.1:8080", "[::1]:15001", "0.0.0.0:80"} {
		c := r.dial(t, orig)
		io.WriteString(c, "GET / HTTP/1.1\r\n\r\n")
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if got, _ := io.ReadAll(c); len(got) != 0 {
			t.Errorf("%s: got %q", orig, got)
		}
	}
	events := r.decisions(t)
	if len(events) != 3 {
		t.Fatalf("%d events: %+v", len(events), events)
	}
	for _, ev := range events {
		if ev.Reason != "loop" || ev.Decision != "deny" {
			t.Errorf("event %+v", ev)
		}
	}
}

// TestRunForwardsHTTP drives the whole chain through the public entry point: capture, sniffing, the HTTP
// path's decision and the upstream it decided on, one event per request, and draining on stop.
func TestRunForwardsHTTP(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream saw "+r.Host)
	}))
	defer up.Close()
	upAddr := netip.MustParseAddrPort(strings.TrimPrefix(up.URL, "http://"))
	p := upAddr.Port()
	r := startSidecar(t, staticSource{policytest.RuleSet("test", fmt.Sprintf("api.example.test:%d", p), upAddr.String())},
		staticResolver{"api.example.test": {upAddr.Addr()}})
	c := r.dial(t, fmt.Sprintf("198.51.100.1:%d", p))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\nGET / HTTP/1.1\r\nHost: evil.example.test\r\nConnection: close\r\n\r\n")
	got, _ := io.ReadAll(c)
	if !strings.Contains(string(got), "200 OK") || !strings.Contains(string(got), "upstream saw api.example.test") ||
		!strings.Contains(string(got), "403 Forbidden") {
		t.Errorf("responses: %q", got)
	}
	events := r.decisions(t)
	if len(events) != 2 || events[0].Decision != "allow" || events[1].Decision != "deny" || events[1].Host != "evil.example.test" {
		t.Errorf("events %+v, want one allow and one deny", events)
	}
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"egress_policy_targets 2", `egress_policy_reloads_total{result="success"} 1`, `egress_dns_queries_total{result="local"} 0`,
		`egress_http_requests_total{code="200",decision="allow",host="api.example.test",route=""} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestIsSelf(t *testing.T) {
	self := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:15001")}
	if !isSelf(netip.MustParseAddrPort("127.0.0.2:15001"), 15001, self) || isSelf(netip.MustParseAddrPort("198.51.100.1:15001"), 15001, self) {
		t.Error("isSelf")
	}
}

func TestAdminHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	reporter := record.NewReporter(slog.New(slog.DiscardHandler), 16, false)
	why, detail := "policy not loaded yet", "no policy from the policy service yet: connection refused"
	h := adminHandler(reg, reporter, func() string { return why }, func() string { return detail }, slog.New(slog.DiscardHandler))
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/ready"); code != 503 || body != "not ready: "+why+"\n"+detail+"\n" {
		t.Errorf("/ready before loading: %d %q", code, body)
	}
	// Stale but ready: a sidecar keeps its last policy while the policy service is away, and says so.
	why, detail = "", "policy stale for 12s (enforcing snapshot sha256:1): policy service: connection refused"
	if code, body := get("/ready"); code != 200 || body != "ready\n"+detail+"\n" {
		t.Errorf("/ready while stale: %d %q", code, body)
	}
	detail = ""
	if code, body := get("/ready"); code != 200 || body != "ready\n" {
		t.Errorf("/ready after loading: %d %q", code, body)
	}
	if code, _ := get("/live"); code != 200 {
		t.Errorf("/live: %d", code)
	}
	reporter.Report(context.Background(), record.Event{Decision: "deny", Host: "denied.example.test"})
	code, body := get("/debug/decisions")
	var events []record.Event
	if err := json.Unmarshal([]byte(body), &events); code != 200 || err != nil || len(events) != 1 || events[0].Host != "denied.example.test" {
		t.Errorf("/debug/decisions: %d %v %q", code, err, body)
	}
	if code, _ := get("/metrics"); code != 200 {
		t.Errorf("/metrics: %d", code)
	}
}
