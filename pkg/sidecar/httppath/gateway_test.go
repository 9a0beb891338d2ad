package httppath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

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
