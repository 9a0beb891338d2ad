package httppath

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy/policytest"
)

// routedEnv is an upstream on 127.0.0.1 named api.example.test and a proxy whose one rule set allows it on
// the upstream's port and has routes.
func routedEnv(t *testing.T, h http.Handler, routes ...v1alpha1.Route) (*proxyEnv, uint16) {
	t.Helper()
	env, p := newUpstreamEnv(t, "api.example.test", h)
	set := policytest.RuleSet("deps", fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	set.Namespace = "shop"
	for i := range routes {
		routes[i].Hosts = []v1alpha1.RouteHost{v1alpha1.RouteHost(fmt.Sprintf("api.example.test:%d", p))}
	}
	set.Spec.Routes = routes
	env.setSets(t, set)
	return env, p
}

func (env *proxyEnv) do(t *testing.T, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://api.example.test:%d%s", env.origPort.Load(), path), strings.NewReader("body"))
	resp, err := env.client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestRoutesAllowAndDeny(t *testing.T) {
	env, p := routedEnv(t, http.HandlerFunc(echoHandler), v1alpha1.Route{Name: "read",
		Matches: []v1alpha1.RouteMatch{{Method: "GET", Path: &v1alpha1.PathMatch{Value: "/repos"}}}})
	if resp, body := env.do(t, "GET", "/repos/a"); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /repos/a") {
		t.Errorf("GET on the route: %s %q", resp.Status, body)
	}
	resp, body := env.do(t, "DELETE", "/repos/a")
	want := fmt.Sprintf("api.example.test:%d; no route allows DELETE /repos/a", p)
	if resp.StatusCode != 403 || resp.Header.Get(headerDenied) != want || !strings.Contains(body, "add a match to a route") {
		t.Errorf("DELETE: %s %s=%q %q; want 403 %q", resp.Status, headerDenied, resp.Header.Get(headerDenied), body, want)
	}
	if resp, _ := env.do(t, "GET", "/repos/%2e%2e/admin"); resp.StatusCode != 403 || !strings.Contains(resp.Header.Get(headerDenied), "not in normal form") {
		t.Errorf("a path out of normal form: %s %q", resp.Status, resp.Header.Get(headerDenied))
	}
	env.waitForMetric(t, 1, "egress_http_requests_total", "host", "api.example.test", "code", "200", "decision", "allow", "route", "shop/deps/read")
	if got := env.metric(t, "egress_http_requests_total", "host", "api.example.test", "code", "200", "route", "shop/deps/read"); got != 1 {
		t.Errorf("requests on the route = %v", got)
	}
	logs := env.logs.String()
	if !strings.Contains(logs, `"reason":"no_route"`) {
		t.Errorf("the denial's reason is not logged:\n%s", logs)
	}
	events := env.reporter.Recent()
	if len(events) != 3 || events[0].Route != "shop/deps/read" || events[1].Reason != "no_route" {
		t.Errorf("events %+v", events)
	}
}

// flaky answers 503 to the first fails requests of each path, then 200.
type flaky struct {
	fails int32
	seen  map[string]*atomic.Int32
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.seen[r.URL.Path].Add(1)
	if n <= f.fails {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok after %d", n)
}

func TestRoutesRetry(t *testing.T) {
	f := &flaky{fails: 2, seen: map[string]*atomic.Int32{"/get": {}, "/post": {}, "/always": {}}}
	f.seen["/always"].Store(-1 << 30)
	env, _ := routedEnv(t, f, v1alpha1.Route{Name: "retry", Retries: &v1alpha1.RouteRetries{Attempts: 3, Backoff: &metav1.Duration{Duration: time.Millisecond}}})

	if resp, body := env.do(t, "GET", "/get"); resp.StatusCode != 200 || body != "ok after 3" {
		t.Errorf("GET failing twice: %s %q; want the third answer", resp.Status, body)
	}
	env.waitForMetric(t, 2, "egress_http_retries_total", "route", "shop/deps/retry", "reason", "503")
	if got := env.metric(t, "egress_http_retries_total", "route", "shop/deps/retry", "reason", "503"); got != 2 {
		t.Errorf("retries = %v, want 2 (reset %v, connect %v)\n%s", got, env.metric(t, "egress_http_retries_total", "reason", "reset"),
			env.metric(t, "egress_http_retries_total", "reason", "connect"), env.logs.String())
	}
	env.waitForMetric(t, 1, "egress_http_requests_total", "code", "200", "route", "shop/deps/retry")
	if got := env.metric(t, "egress_http_requests_total", "code", "200", "route", "shop/deps/retry"); got != 1 {
		t.Errorf("the app's requests = %v, want 1", got)
	}
	// A POST without an idempotency key is not sent twice.
	if resp, _ := env.do(t, "POST", "/post"); resp.StatusCode != 503 {
		t.Errorf("POST: %s, want the 503 as it came", resp.Status)
	}
	if got := f.seen["/post"].Load(); got != 1 {
		t.Errorf("the POST went %d times", got)
	}
}

func TestRoutesRetryBudget(t *testing.T) {
	f := &flaky{fails: 1 << 30, seen: map[string]*atomic.Int32{"/always": {}}}
	env, _ := routedEnv(t, f, v1alpha1.Route{Name: "retry", Retries: &v1alpha1.RouteRetries{Attempts: 5, Backoff: &metav1.Duration{Duration: time.Millisecond}}})
	const requests = 40
	for range requests {
		if resp, _ := env.do(t, "GET", "/always"); resp.StatusCode != 503 {
			t.Fatalf("%s", resp.Status)
		}
	}
	retries := env.metric(t, "egress_http_retries_total", "route", "shop/deps/retry", "reason", "503")
	exhausted := env.metric(t, "egress_http_retry_budget_exhausted_total", "route", "shop/deps/retry")
	if limit := budgetRatio*requests + budgetFloor*budgetSeconds; retries > limit+1 || exhausted == 0 {
		t.Errorf("%v retries (budget %v), %v refused by the budget, against an origin that always fails", retries, limit, exhausted)
	}
}

// slowRouteEnv routes api.example.test through "quick", whose timeout of 200 ms its origin never answers in.
func slowRouteEnv(t *testing.T) (*proxyEnv, uint16) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return routedEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the sidecar closing the connection
		select {
		case <-release:
		case <-r.Context().Done(): // the sidecar gave up on it
		case <-time.After(5 * time.Second):
		}
	}), v1alpha1.Route{Name: "quick", Timeout: &metav1.Duration{Duration: 200 * time.Millisecond}})
}

func TestRoutesTimeout(t *testing.T) {
	env, p := slowRouteEnv(t)
	resp, body := env.do(t, "GET", "/slow")
	want := fmt.Sprintf("timeout; api.example.test:%d", p)
	if resp.StatusCode != 504 || !strings.HasPrefix(resp.Header.Get(headerError), want) || !strings.Contains(body, "route shop/deps/quick allows 200ms") {
		t.Errorf("%s %s=%q %q; want 504 %q", resp.Status, headerError, resp.Header.Get(headerError), body, want)
	}
	if got := env.metric(t, "egress_http_timeouts_total", "route", "shop/deps/quick"); got != 1 {
		t.Errorf("timeouts = %v", got)
	}
}

func TestDeniedBackend(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "you cannot go to %s right now (%s)", r.Header.Get("X-Egress-Original-Host"), r.Header.Get(headerDenied))
	}))
	defer backend.Close()
	bp := port(t, backend.URL)
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(echoHandler))
	set := policytest.RuleSet("deps", fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	set.Namespace = "shop"
	set.Spec.DeniedBackend = &v1alpha1.Backend{Service: v1alpha1.ServiceRef{Name: "sorry", Port: int32(bp)}}
	env.setSets(t, set)
	env.resolve("sorry.shop.svc.cluster.local", "127.0.0.1")
	resp, body := env.get(t, fmt.Sprintf("http://denied.example.test:%d/x", p))
	if resp.StatusCode != 200 || !strings.Contains(body, fmt.Sprintf("you cannot go to denied.example.test:%d right now (denied.example.test:%d; allow with target", p, p)) {
		t.Errorf("%s %q", resp.Status, body)
	}
	env.waitForMetric(t, 1, "egress_http_requests_total", "host", "denied.example.test", "code", "200", "decision", "deny")
	if got := env.metric(t, "egress_http_requests_total", "host", "denied.example.test", "code", "200", "decision", "deny"); got != 1 {
		t.Errorf("the redirected denial counts as %v deny", got)
	}
	// An allowed request is not redirected.
	if resp, body := env.get(t, fmt.Sprintf("http://api.example.test:%d/y", p)); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /y") {
		t.Errorf("allowed: %s %q", resp.Status, body)
	}
	// Nor is an h2c stream treated otherwise.
	resp, err := env.h2cClient().Get(fmt.Sprintf("http://denied.example.test:%d/z", p))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.Contains(string(b), fmt.Sprintf("you cannot go to denied.example.test:%d right now", p)) {
		t.Errorf("h2c: %s %s %q", resp.Proto, resp.Status, b)
	}
	env.waitForMetric(t, 2, "egress_http_requests_total", "host", "denied.example.test", "code", "200", "decision", "deny")
	if got := env.metric(t, "egress_http_requests_total", "host", "denied.example.test", "code", "200", "decision", "deny"); got != 2 {
		t.Errorf("the redirected denials count as %v deny", got)
	}
}

// h2cClient returns a client speaking HTTP/2 with prior knowledge to the proxy.
func (env *proxyEnv) h2cClient() *http.Client {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		Protocols: &protocols,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", env.addr)
		},
	}}
}

func TestRoutesTimeoutH2C(t *testing.T) {
	env, p := slowRouteEnv(t)
	resp, err := env.h2cClient().Get(fmt.Sprintf("http://api.example.test:%d/slow", p))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 504 || !strings.Contains(string(body), "route shop/deps/quick allows 200ms") {
		t.Errorf("h2c: %s %s %q, want a 504 over HTTP/2 naming the route", resp.Proto, resp.Status, body)
	}
	env.waitForMetric(t, 1, "egress_http_timeouts_total", "route", "shop/deps/quick")
	if got := env.metric(t, "egress_http_requests_total", "code", "504", "route", "shop/deps/quick"); got != 1 {
		t.Errorf("the timed-out stream counts as %v 504s", got)
	}
}
