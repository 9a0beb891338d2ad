package httppath

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/internal/metricstest"
	"egress.io/egress/internal/testworld"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/policy/policytest"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/dnsproxy"
	"egress.io/egress/pkg/sidecar/record"
	"egress.io/egress/pkg/sidecar/sniff"
	"egress.io/egress/pkg/sidecar/telemetry"
)

// fakeResolver answers from a map; unknown names do not exist.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	lookups int
	names   []string // looked up, in order
}

func (r *fakeResolver) LookupAddrs(_ context.Context, name string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	r.names = append(r.names, name)
	if addrs, ok := r.answers[name]; ok {
		return addrs, nil
	}
	return nil, &dnsproxy.LookupError{Name: name, Err: dnsproxy.ErrNotFound}
}

// proxyEnv is a Path serving on a loopback port; connections to it claim origPort as their original
// destination port. Its policy is set with setPolicy (as the sidecar's policy sink does, dropping idle
// upstream connections).
type proxyEnv struct {
	path     *Path
	reg      *prometheus.Registry
	reporter *record.Reporter
	logs     *testworld.SyncBuffer
	resolver *fakeResolver
	decider  *decide.Decider
	policy   atomic.Pointer[policy.Matcher]
	addr     string
	origPort atomic.Uint32 // the original destination port connections claim
}

// newUpstreamEnv starts an upstream HTTP server with handler on 127.0.0.1 and a proxy whose policy allows
// name and 127.0.0.1 on the upstream's port; connections claim that port and name resolves to 127.0.0.1.
func newUpstreamEnv(t *testing.T, name string, handler http.Handler) (*proxyEnv, uint16) {
	t.Helper()
	up := httptest.NewServer(handler)
	t.Cleanup(up.Close)
	p := port(t, up.URL)
	env := newProxyEnv(t, "", fmt.Sprintf("%s:%d", name, p), fmt.Sprintf("127.0.0.1:%d", p))
	env.origPort.Store(uint32(p))
	env.resolve(name, "127.0.0.1")
	return env, p
}

func newProxyEnv(t testing.TB, caBundle string, targets ...string) *proxyEnv {
	t.Helper()
	logs := &testworld.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	reg := prometheus.NewRegistry()
	metrics, err := telemetry.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if caBundle != "" {
		pemBytes, err := os.ReadFile(caBundle)
		if err != nil {
			t.Fatal(err)
		}
		roots.AppendCertsFromPEM(pemBytes)
	}
	guard, err := addrclass.New(addrclass.Config{})
	if err != nil {
		t.Fatal(err)
	}
	env := &proxyEnv{reg: reg, logs: logs, resolver: &fakeResolver{answers: map[string][]netip.Addr{}}}
	env.reporter = record.NewReporter(log, 256, false)
	decider := &decide.Decider{Policy: env.policy.Load, Resolver: env.resolver, Guard: guard}
	env.decider = decider
	env.path, err = New(Options{
		Decider: decider, Reporter: env.reporter, Metrics: metrics, Labels: telemetry.NewLabels(100), Log: log,
		LocalSuffix: "egress.local", Roots: roots, ConnectTimeout: 2 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
		IdleTimeout: 90 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	env.origPort.Store(80)
	if targets != nil {
		env.setPolicy(t, targets...)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	go env.path.Run(ctx)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				res, peeked, err := sniff.Read(c, 2*time.Second, 16<<10)
				if err != nil || res.Protocol != sniff.HTTP {
					c.Close()
					return
				}
				orig := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), uint16(env.origPort.Load()))
				env.path.Serve(ctx, sniff.Replay(c.(*net.TCPConn), peeked), orig, res.H2)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		shutdown, stop := context.WithTimeout(context.Background(), time.Second)
		env.path.Shutdown(shutdown)
		stop()
		cancel()
		if t.Failed() {
			t.Logf("sidecar log:\n%s", logs.String())
		}
	})
	return env
}

func (env *proxyEnv) setPolicy(t testing.TB, targets ...string) {
	t.Helper()
	env.setSets(t, policytest.RuleSet("test", targets...))
}

// setSets makes sets the policy in force.
func (env *proxyEnv) setSets(t testing.TB, sets ...v1alpha1.EgressRuleSet) {
	t.Helper()
	env.policy.Store(policytest.Compile(t, sets...))
	env.path.CloseIdle()
}

// metric returns the value of the counter name with labels (0 when it does not exist).
func (env *proxyEnv) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return metricstest.Value(t, env.reg, name, labels...)
}

// waitForMetric waits up to a second for a counter to reach want.
func (env *proxyEnv) waitForMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); env.metric(t, name, labels...) != want && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// resolve makes name resolve to the loopback address of a test server.
func (env *proxyEnv) resolve(name string, addrs ...string) {
	env.resolver.mu.Lock()
	defer env.resolver.mu.Unlock()
	for _, a := range addrs {
		env.resolver.answers[name] = append(env.resolver.answers[name], netip.MustParseAddr(a))
	}
}

// client returns an HTTP client whose every connection goes to the proxy, like a redirected app's.
func (env *proxyEnv) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", env.addr)
		},
		DisableCompression: true,
	}}
}

func (env *proxyEnv) get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := env.client().Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, string(body)
}

// rawRoundTrips writes raw requests on one connection and returns the status lines of the responses.
func (env *proxyEnv) rawRoundTrips(t *testing.T, requests ...string) []string {
	t.Helper()
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var statuses []string
	for _, raw := range requests {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			statuses = append(statuses, "error: "+err.Error())
			break
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.Status+" "+resp.Header.Get(headerDenied)+resp.Header.Get(headerError))
	}
	return statuses
}

func port(t testing.TB, rawURL string) uint16 {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

// echoHandler answers with what it received.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Got-Host", r.Host)
	w.Header().Set("X-Got-Proto", r.Proto)
	w.Header().Set("X-Got-Forwarded-For", strings.Join(r.Header.Values("X-Forwarded-For"), ";"))
	w.Header().Set("X-Got-Hop", r.Header.Get("X-Hop"))
	if r.TLS != nil {
		w.Header().Set("X-Got-SNI", r.TLS.ServerName)
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
}

func TestHTTPPlainAllowedAndDenied(t *testing.T) {
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(echoHandler))

	req, _ := http.NewRequest("POST", fmt.Sprintf("http://api.example.test:%d/path?q=1", p), strings.NewReader("hello"))
	req.Header.Set("X-Forwarded-For", "app-set")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "secret")
	resp, err := env.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "POST /path?q=1 hello" {
		t.Fatalf("allowed request: %s %q", resp.Status, body)
	}
	if got := resp.Header.Get("X-Got-Host"); got != fmt.Sprintf("api.example.test:%d", p) {
		t.Errorf("upstream saw Host %q", got)
	}
	if got := resp.Header.Get("X-Got-Forwarded-For"); got != "app-set" {
		t.Errorf("upstream saw X-Forwarded-For %q, want only the app's own value", got)
	}
	if got := resp.Header.Get("X-Got-Hop"); got != "" {
		t.Errorf("a hop-by-hop header named in Connection reached the upstream: %q", got)
	}

	resp, body2 := env.get(t, fmt.Sprintf("http://denied.example.test:%d/", p))
	want := fmt.Sprintf(`denied.example.test:%d; allow with target "denied.example.test:%d"`, p, p)
	if resp.StatusCode != 403 || resp.Header.Get(headerDenied) != want {
		t.Errorf("denied request: %s %s=%q, want 403 %q", resp.Status, headerDenied, resp.Header.Get(headerDenied), want)
	}
	if !strings.Contains(body2, "egress denied") || !strings.Contains(body2, want[strings.Index(want, "allow"):]) {
		t.Errorf("denial body %q", body2)
	}
	if env.resolver.lookups != 1 {
		t.Errorf("%d lookups: a denied name was resolved", env.resolver.lookups)
	}

	p1 := fmt.Sprint(p)
	// The handler counts after the response is written, so the client may be a moment ahead.
	env.waitForMetric(t, 1, "egress_http_requests_total", "host", "api.example.test", "code", "200", "decision", "allow")
	if got := env.metric(t, "egress_http_requests_total", "host", "api.example.test", "code", "200", "decision", "allow"); got != 1 {
		t.Errorf("allowed requests metric = %v", got)
	}
	env.waitForMetric(t, 1, "egress_http_requests_total", "host", "denied.example.test", "code", "403", "decision", "deny")
	if got := env.metric(t, "egress_http_requests_total", "host", "denied.example.test", "code", "403", "decision", "deny"); got != 1 {
		t.Errorf("denied requests metric = %v", got)
	}
	if got := env.metric(t, "egress_bytes_total", "direction", "sent", "host", "api.example.test"); got != 5 {
		t.Errorf("bytes sent = %v, want 5", got)
	}
	if got := env.metric(t, "egress_bytes_total", "direction", "received", "host", "api.example.test"); got != float64(len(body)) {
		t.Errorf("bytes received = %v, want %d", got, len(body))
	}
	logs := env.logs.String()
	if !strings.Contains(logs, `"decision":"deny"`) || !strings.Contains(logs, `"host":"denied.example.test"`) ||
		!strings.Contains(logs, `"suggestion":"denied.example.test:`+p1+`"`) {
		t.Errorf("no denial log line:\n%s", logs)
	}
	if strings.Contains(logs, `"decision":"allow"`) {
		t.Errorf("allowed request logged without --log-allowed:\n%s", logs)
	}
	if n := len(env.reporter.Recent()); n != 2 {
		t.Errorf("%d decisions kept, want 2", n)
	}
}

func TestHTTPKeepAliveDecidesEveryRequest(t *testing.T) {
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(echoHandler))
	env.resolve("evil.example.test", "127.0.0.1")

	got := env.rawRoundTrips(t,
		"GET /1 HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
		"GET /2 HTTP/1.1\r\nHost: evil.example.test\r\n\r\n",
		"GET /3 HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
	)
	want := []string{"200 OK ", fmt.Sprintf(`403 Forbidden evil.example.test:%d; allow with target "evil.example.test:%d"`, p, p), "200 OK "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("keep-alive responses:\n got %q\nwant %q", got, want)
	}
}

func TestHTTPRequestForms(t *testing.T) {
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(echoHandler))
	env.resolve("evil.example.test", "127.0.0.1")
	tests := []struct {
		name, raw, want string
	}{
		{"absolute form, Host agrees", "GET http://api.example.test/x HTTP/1.1\r\nHost: api.example.test\r\n\r\n", "200"},
		{"absolute form, Host disagrees", "GET http://api.example.test/x HTTP/1.1\r\nHost: evil.example.test\r\n\r\n", "400"},
		{"absolute form naming a denied host", "GET http://evil.example.test/x HTTP/1.1\r\nHost: evil.example.test\r\n\r\n", "403"},
		{"absolute form, Host of an allowed name but URI denied", "GET http://evil.example.test/x HTTP/1.1\r\nHost: api.example.test\r\n\r\n", "400"},
		{"absolute https URI", "GET https://api.example.test/x HTTP/1.1\r\nHost: api.example.test\r\n\r\n", "400"},
		{"two Host headers", "GET /x HTTP/1.1\r\nHost: api.example.test\r\nHost: evil.example.test\r\n\r\n", "400"},
		{"no Host header", "GET /x HTTP/1.1\r\n\r\n", "400"},
		{"HTTP/1.0 without Host", "GET /x HTTP/1.0\r\n\r\n", "400"},
		{"bare IPv6 Host", "GET /x HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n", "400"},
		{"CONNECT", "CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\n\r\n", "405"},
		{"invalid host name", "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", fmt.Sprintf("403 Forbidden a..b:%d; not a valid host name", p)},
	}
	for _, tt := range tests {
		got := env.rawRoundTrips(t, tt.raw)
		if len(got) != 1 || got[0] != tt.want && !strings.HasPrefix(got[0], tt.want+" ") {
			t.Errorf("%s: got %q, want %s", tt.name, got, tt.want)
		}
	}
}

// tlsUpstream starts an HTTPS server (HTTP/2 enabled) and returns it with a CA bundle file trusting it.
func tlsUpstream(t testing.TB, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	up := httptest.NewUnstartedServer(h)
	up.EnableHTTP2 = true
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the sidecar refuses
	up.StartTLS()
	t.Cleanup(up.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})
	if err := os.WriteFile(bundle, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return up, bundle
}

func TestHTTPOriginatesTLS(t *testing.T) {
	var mu sync.Mutex
	remotes := map[string]bool{}
	up, bundle := tlsUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes[r.RemoteAddr] = true
		mu.Unlock()
		echoHandler(w, r)
	}))
	p := port(t, up.URL)
	// httptest's certificate is for example.com (and 127.0.0.1).
	env := newProxyEnv(t, bundle, fmt.Sprintf("example.com:%d", p), fmt.Sprintf("wrong.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.resolve("example.com", "127.0.0.1")
	env.resolve("wrong.example.test", "127.0.0.1")

	resp, body := env.get(t, fmt.Sprintf("http://example.com.egress.local:%d/hello", p))
	if resp.StatusCode != 200 || body != "GET /hello " {
		t.Fatalf("TLS origination: %s %q", resp.Status, body)
	}
	if got := resp.Header.Get("X-Got-Host"); got != fmt.Sprintf("example.com:%d", p) {
		t.Errorf("upstream saw Host %q", got)
	}
	if got := resp.Header.Get("X-Got-SNI"); got != "example.com" {
		t.Errorf("upstream saw SNI %q", got)
	}
	// HTTP/1.x from the app goes upstream as HTTP/1.1 over pooled connections (cheaper than multiplexing on
	// HTTP/2 for a proxy; see docs/benchmarks.md); h2c from the app is forwarded over HTTP/2 when offered.
	if got := resp.Header.Get("X-Got-Proto"); got != "HTTP/1.1" {
		t.Errorf("upstream protocol %q, want HTTP/1.1", got)
	}
	for i := 0; i < 100; i++ {
		if resp, _ := env.get(t, fmt.Sprintf("http://example.com.egress.local:%d/%d", p, i)); resp.StatusCode != 200 {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
	}
	mu.Lock()
	if len(remotes) > 2 {
		t.Errorf("101 requests used %d upstream connections", len(remotes))
	}
	mu.Unlock()

	resp, body = env.get(t, fmt.Sprintf("http://wrong.example.test.egress.local:%d/", p))
	if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get(headerError), "tls_verification; ") {
		t.Errorf("certificate for another name: %s %s=%q %q", resp.Status, headerError, resp.Header.Get(headerError), body)
	}
	if got := env.metric(t, "egress_upstream_errors_total", "host", "wrong.example.test", "reason", "tls_verification"); got != 1 {
		t.Errorf("upstream error metric = %v", got)
	}
}

func TestHTTPOriginationTrustsOnlyItsRoots(t *testing.T) {
	up, _ := tlsUpstream(t, http.HandlerFunc(echoHandler))
	p := port(t, up.URL)
	env := newProxyEnv(t, "", fmt.Sprintf("example.com:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.resolve("example.com", "127.0.0.1")
	resp, _ := env.get(t, fmt.Sprintf("http://example.com.egress.local:%d/", p))
	if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get(headerError), "tls_verification; ") {
		t.Errorf("untrusted certificate: %s %q", resp.Status, resp.Header.Get(headerError))
	}
}

func TestHTTPUpstreamFailures(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(t, "http://"+closed.Addr().String())
	closed.Close()
	env := newProxyEnv(t, "", fmt.Sprintf("*:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.origPort.Store(uint32(p))
	env.resolve("refused.example.test", "127.0.0.1")
	env.resolve("private.example.test", "10.1.2.3")
	tests := []struct {
		host, status, header string
	}{
		{"nxdomain.example.test", "502", "dns_not_found; "},
		{"refused.example.test", "502", "connect; "},
		{"private.example.test", "403", fmt.Sprintf(`private.example.test:%d; resolves to 10.1.2.3, a private or reserved address; allow with target "10.1.2.3:%d"`, p, p)},
	}
	for _, tt := range tests {
		got := env.rawRoundTrips(t, "GET / HTTP/1.1\r\nHost: "+tt.host+"\r\n\r\n")
		if len(got) != 1 || !strings.HasPrefix(got[0], tt.status+" ") || !strings.Contains(got[0], tt.header) {
			t.Errorf("%s: got %q, want %s with %q", tt.host, got, tt.status, tt.header)
		}
	}
	if !strings.Contains(env.logs.String(), `"reason":"private_address"`) {
		t.Errorf("no private_address decision logged:\n%s", env.logs.String())
	}
}

func TestHTTPNotReadyDenies(t *testing.T) {
	env := newProxyEnv(t, "")
	got := env.rawRoundTrips(t, "GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
	if len(got) != 1 || got[0] != "403 Forbidden api.example.test:80; policy not loaded yet" {
		t.Errorf("before the first policy load: %q", got)
	}
}

func TestHTTPStreamsBodies(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second\n")
	}))
	defer up.Close()
	defer close(release)
	p := port(t, up.URL)
	env := newProxyEnv(t, "", fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.origPort.Store(uint32(p))
	env.resolve("api.example.test", "127.0.0.1")
	resp, err := env.client().Get(fmt.Sprintf("http://api.example.test:%d/", p))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk not streamed before the response ended: %q, %v", line, err)
	}
}

func TestHTTPUpgrade(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	}))
	defer up.Close()
	p := port(t, up.URL)
	env := newProxyEnv(t, "", fmt.Sprintf("ws.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.origPort.Store(uint32(p))
	env.resolve("ws.example.test", "127.0.0.1")

	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: ws.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(c, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Errorf("after the upgrade: %q, %v", line, err)
	}
}

func TestHTTPPolicyReloadKeepsConnections(t *testing.T) {
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(echoHandler))
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	roundTrip := func() int {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the connection broke: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if got := roundTrip(); got != 200 {
		t.Fatalf("before the reload: %d", got)
	}
	env.setPolicy(t, "other.example.test:80")
	if got := roundTrip(); got != 403 {
		t.Errorf("after a reload removing the target: %d on the same connection, want 403", got)
	}
	env.setPolicy(t, fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	if got := roundTrip(); got != 200 {
		t.Errorf("after a reload restoring it: %d", got)
	}
}

func TestHTTPH2CUpgradeIsNotForwarded(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upgrade=%q connection=%q", r.Header.Get("Upgrade"), r.Header.Get("Connection"))
	}))
	defer up.Close()
	p := port(t, up.URL)
	env := newProxyEnv(t, "", fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	env.origPort.Store(uint32(p))
	env.resolve("api.example.test", "127.0.0.1")
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://api.example.test:%d/", p), nil)
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
	req.Header.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
	resp, err := env.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `upgrade="" connection=""` {
		t.Errorf("h2c upgrade request: %s %q", resp.Status, body)
	}
}

func TestHTTPAuditModeLetsThroughAndReports(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer up.Close()
	p := port(t, up.URL)
	env := newProxyEnv(t, "")
	env.origPort.Store(uint32(p))
	env.resolve("unlisted.example.test", "127.0.0.1")
	set := v1alpha1.EgressRuleSet{}
	set.Name, set.Spec.Mode = "observe", v1alpha1.ModeAudit
	set.Spec.Targets = []v1alpha1.Target{"api.example.test:443"}
	env.setSets(t, set)

	// Not allowed, and resolving to loopback (a denied range): audit lets both through and reports them.
	got := env.rawRoundTrips(t, "GET / HTTP/1.1\r\nHost: unlisted.example.test\r\n\r\n")
	if len(got) != 1 || got[0] != "200 OK " {
		t.Fatalf("audit mode: %q", got)
	}
	logs := env.logs.String()
	// One event says both: no target allows it, and the address is in a refused range.
	if !strings.Contains(logs, `"decision":"audit","reason":"no_match"`) || !strings.Contains(logs, `"rule_set":"observe"`) ||
		!strings.Contains(logs, `"address_class":"127.0.0.0/8 Loopback (RFC 1122)"`) || strings.Count(logs, `"msg":"egress audit"`) != 1 {
		t.Errorf("audit decisions not logged:\n%s", logs)
	}
	env.waitForMetric(t, 1, "egress_http_requests_total", "host", "unlisted.example.test", "code", "200", "decision", "audit")
	if v := env.metric(t, "egress_http_requests_total", "host", "unlisted.example.test", "code", "200", "decision", "audit"); v != 1 {
		t.Errorf("audit requests metric = %v", v)
	}
}

// TestHTTPDialsWhatWasDecided: the request is decided on the normalised name (case, trailing dot; net/http
// refuses non-ASCII Host headers), and that name is resolved and dialled; the Host header goes upstream as
// the app sent it.
func TestHTTPDialsWhatWasDecided(t *testing.T) {
	env, _ := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(echoHandler))
	var seen []string
	hosts := []string{"API.Example.TEST.", "Api.Example.Test", "api.example.test."}
	for _, host := range hosts {
		c, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("Host %q: %v", host, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != 200 {
			t.Errorf("Host %q: %s %s", host, resp.Status, resp.Header.Get(headerError))
		}
		seen = append(seen, resp.Header.Get("X-Got-Host"))
	}
	if fmt.Sprint(seen) != fmt.Sprint(hosts) {
		t.Errorf("upstream saw Host %q, want the app's %q", seen, hosts)
	}
	env.resolver.mu.Lock()
	defer env.resolver.mu.Unlock()
	for _, name := range env.resolver.names {
		if name != "api.example.test" {
			t.Errorf("the sidecar resolved %q, not the name it decided on", name)
		}
	}
}

func TestHTTPPriorKnowledgeH2C(t *testing.T) {
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(echoHandler))
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{
		Protocols: &protocols,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", env.addr)
		},
	}}
	for host, want := range map[string]int{"api.example.test": 200, "evil.example.test": 403} {
		resp, err := client.Get(fmt.Sprintf("http://%s:%d/", host, p))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.ProtoMajor != 2 {
			t.Errorf("h2c %s: %s %s, want %d over HTTP/2", host, resp.Proto, resp.Status, want)
		}
	}
}
