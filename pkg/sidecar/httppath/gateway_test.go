package httppath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy/policytest"
)

// fakeTunnels stands in for gateway.Dialer: it connects to upstream itself (the gateway's part), or fails
// with err.
type fakeTunnels struct {
	upstream string
	err      error
	asked    []string
}

func (f *fakeTunnels) Tunnel(ctx context.Context, gateway, target, protocol string) (net.Conn, error) {
	f.asked = append(f.asked, gateway+" "+target+" "+protocol)
	if f.err != nil {
		return nil, f.err
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", f.upstream)
}

type gatewayRefusal struct{ denied bool }

func (g gatewayRefusal) Error() string { return "gateway partners answered 403 Forbidden (no_match)" }
func (g gatewayRefusal) Denied() bool  { return g.denied }

// TestThroughGateway sends plain HTTP requests whose rule set routes them through a gateway: through the
// tunnel when it opens (the sidecar never resolves the name), a 403 when the gateway refuses, a 502 naming
// the gateway when it cannot be reached, also when that is a timeout (no route: not a route's timeout).
func TestThroughGateway(t *testing.T) {
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "upstream")
	}))
	set := policytest.RuleSet("via", fmt.Sprintf("api.example.test:%d", p))
	set.Spec.Gateway = "partners"
	env.setSets(t, set)
	tunnels := &fakeTunnels{upstream: fmt.Sprintf("127.0.0.1:%d", p)}
	env.decider.Gateways = tunnels
	env.resolve("api.example.test") // no address: the sidecar must not look it up
	url := fmt.Sprintf("http://api.example.test:%d/", p)

	resp, body := env.get(t, url)
	if resp.StatusCode != 200 || body != "upstream" {
		t.Fatalf("through the gateway: %d %q", resp.StatusCode, body)
	}
	if len(tunnels.asked) != 1 || tunnels.asked[0] != fmt.Sprintf("partners api.example.test:%d http", p) {
		t.Errorf("tunnels asked for %q", tunnels.asked)
	}
	if got := env.metric(t, "egress_gateway_tunnels_total", "gateway", "partners", "protocol", "http", "result", "ok"); got != 1 {
		t.Errorf("egress_gateway_tunnels_total ok = %v", got)
	}

	for _, c := range []struct {
		name   string
		err    error
		status int
		header string
	}{
		{"refused by the gateway", gatewayRefusal{denied: true}, 403, "gateway_denied;"},
		{"unreachable", errors.New("gateway partners: dial tcp: connection refused"), 502, "gateway;"},
		{"timed out", fmt.Errorf("gateway partners at 198.18.2.1:15443: %w", context.DeadlineExceeded), 502, "gateway;"},
	} {
		env.path.CloseIdle()
		tunnels.err = c.err
		resp, _ := env.get(t, url)
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("X-Egress-Error"), c.header) ||
			!strings.Contains(resp.Header.Get("X-Egress-Error"), "gateway partners") {
			t.Errorf("%s: %d %q, want %d %s... naming the gateway", c.name, resp.StatusCode, resp.Header.Get("X-Egress-Error"), c.status, c.header)
		}
	}
}

// TestH2CKeepsWaysOutApart sends h2c streams to one host while its rule set's gateway changes under
// connections the front end keeps (as a connection in use when the policy changed is kept): a stream
// routed through the gateway never reuses a direct connection, and a direct one never a tunnel.
func TestH2CKeepsWaysOutApart(t *testing.T) {
	var peers sync.Map // request number → the upstream's view of the connection it came on
	env, p := newUpstreamEnv(t, "api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peers.Store(r.URL.Query().Get("n"), r.RemoteAddr)
	}))
	direct := policytest.RuleSet("direct", fmt.Sprintf("api.example.test:%d", p), fmt.Sprintf("127.0.0.1:%d", p))
	via := policytest.RuleSet("via", fmt.Sprintf("api.example.test:%d", p))
	via.Spec.Gateway = "partners"
	tunnels := &fakeTunnels{upstream: fmt.Sprintf("127.0.0.1:%d", p)}
	env.decider.Gateways = tunnels
	client := env.h2cClient()
	defer client.CloseIdleConnections()
	get := func(n int, set v1alpha1.EgressRuleSet) string {
		t.Helper()
		env.policy.Store(policytest.Compile(t, set)) // without dropping idle connections
		resp, err := client.Get(fmt.Sprintf("http://api.example.test:%d/?n=%d", p, n))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", n, resp.StatusCode, resp.Header.Get("X-Egress-Denied"))
		}
		peer, _ := peers.Load(strconv.Itoa(n))
		return peer.(string)
	}
	first := get(1, direct)
	viaGateway := get(2, via)
	if viaGateway == first || len(tunnels.asked) != 1 {
		t.Fatalf("routed through the gateway, the stream reused the direct connection (tunnels asked: %q)", tunnels.asked)
	}
	if again := get(3, direct); again == viaGateway {
		t.Errorf("direct again, the stream went through the gateway's tunnel")
	} else if again != first {
		t.Errorf("direct again, the stream did not reuse the direct connection (%s, then %s)", first, again)
	}
	if again := get(4, via); again != viaGateway || len(tunnels.asked) != 1 {
		t.Errorf("through the gateway again, the stream did not reuse the tunnel (tunnels asked: %q)", tunnels.asked)
	}
}
