package decide

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/policy/policytest"
)

// fakeTunneler records what it was asked for and fails.
type fakeTunneler struct {
	gateway, target, protocol string
	err                       error
}

func (f *fakeTunneler) Tunnel(_ context.Context, gateway, target, protocol string) (net.Conn, error) {
	f.gateway, f.target, f.protocol = gateway, target, protocol
	return nil, f.err
}

type refusal struct{ denied bool }

func (r refusal) Error() string { return "gateway partners answered 403" }
func (r refusal) Denied() bool  { return r.denied }

func TestDecideThroughGateway(t *testing.T) {
	via := policytest.Compile(t, v1alpha1.EgressRuleSet{
		Spec: v1alpha1.EgressRuleSetSpec{Gateway: "partners", Targets: []v1alpha1.Target{
			"api.example.test:443", "private.example.test:80", "93.184.215.0/24:5432", "db.example.test:5432"}},
	})
	tests := []struct {
		name   string
		ask    Ask
		target string
	}{
		{"HTTPS by name, not resolved here", Ask{Protocol: HTTPS, Name: "api.example.test", Port: 443}, "api.example.test:443"},
		{"a private address is the gateway's to refuse", Ask{Protocol: HTTP, Name: "private.example.test", Port: 80}, "private.example.test:80"},
		{"TLS by SNI", Ask{Protocol: TLS, Name: "api.example.test", Port: 443, Dst: dst("93.184.215.14:443")}, "api.example.test:443"},
		{"TLS by CIDR: the address", Ask{Protocol: TLS, Name: "other.test", Port: 5432, Dst: dst("93.184.215.9:5432")}, "93.184.215.9:5432"},
		{"TCP by a learned name: the name", Ask{Protocol: TCP, Port: 5432, Dst: dst("10.9.9.9:5432")}, "db.example.test:5432"},
		{"TCP by CIDR", Ask{Protocol: TCP, Port: 5432, Dst: dst("93.184.215.30:5432")}, "93.184.215.30:5432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr, r := newDecider(t, via)
			tun := &fakeTunneler{err: refusal{denied: true}}
			dr.Gateways = tun
			v := dr.Decide(context.Background(), tt.ask)
			if !v.Forwards() || v.Gateway != "partners" || len(v.Dial) != 0 || !v.ThroughGateway() {
				t.Fatalf("verdict = %+v, want forwarded through partners with no addresses", v)
			}
			if n := r.lookups.Load(); n != 0 {
				t.Errorf("%d lookups: the sidecar must not resolve what a gateway connects to", n)
			}
			if got := v.TunnelTarget(); got != tt.target {
				t.Errorf("TunnelTarget() = %q, want %q", got, tt.target)
			}
			_, err := Connect(context.Background(), v, time.Second)
			var ue *UpstreamError
			if !errors.As(err, &ue) || ue.Kind != ErrGatewayDenied {
				t.Fatalf("Connect error = %v, want an UpstreamError of kind %s", err, ErrGatewayDenied)
			}
			if tun.gateway != "partners" || tun.target != tt.target || tun.protocol != tt.ask.Protocol.String() {
				t.Errorf("tunnel asked for %s %s %s", tun.gateway, tun.target, tun.protocol)
			}
		})
	}

	t.Run("no tunneler: fails, never dials directly", func(t *testing.T) {
		dr, _ := newDecider(t, via)
		v := dr.Decide(context.Background(), Ask{Protocol: HTTPS, Name: "api.example.test", Port: 443})
		_, err := Connect(context.Background(), v, time.Second)
		if FailureReason(err) != ErrGateway {
			t.Fatalf("Connect error = %v (%s), want %s", err, FailureReason(err), ErrGateway)
		}
	})
	t.Run("unreachable gateway: error kind gateway", func(t *testing.T) {
		dr, _ := newDecider(t, via)
		dr.Gateways = &fakeTunneler{err: refusal{denied: false}}
		v := dr.Decide(context.Background(), Ask{Protocol: HTTPS, Name: "api.example.test", Port: 443})
		if _, err := Connect(context.Background(), v, time.Second); FailureReason(err) != ErrGateway {
			t.Fatalf("Connect error = %v, want kind %s", err, ErrGateway)
		}
	})
	t.Run("in the gateway itself: resolved and guarded here", func(t *testing.T) {
		dr, _ := newDecider(t, via)
		dr.InGateway = "partners"
		v := dr.Decide(context.Background(), Ask{Protocol: TLS, Name: "api.example.test", Port: 443})
		if !v.Forwards() || len(v.Dial) == 0 || v.Gateway != "partners" || v.ThroughGateway() {
			t.Fatalf("verdict = %+v, want addresses to dial", v)
		}
		v = dr.Decide(context.Background(), Ask{Protocol: TLS, Name: "private.example.test", Port: 80})
		if v.Action != policy.Deny || v.SidecarReason != ReasonPrivateAddress {
			t.Fatalf("private address verdict = %+v, want the guard's refusal", v)
		}
	})
}
