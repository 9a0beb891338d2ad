package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/internal/certs"
	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/telemetry"
)

// fakeReviewer accepts the tokens it knows.
type fakeReviewer map[string]podauth.Identity

func (f fakeReviewer) Review(_ context.Context, token string) (podauth.Identity, error) {
	if id, ok := f[token]; ok {
		return id, nil
	}
	return podauth.Identity{}, fmt.Errorf("checking: %w", podauth.ErrRefused)
}

// fakePods knows pods' labels by name.
type fakePods map[string]map[string]string

func (f fakePods) Labels(_ context.Context, id podauth.Identity) (map[string]string, error) {
	if l, ok := f[id.PodName]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("pod %s: %w", id.PodName, ErrUnknownPod)
}

// fakeResolver answers every name with one address.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupAddrs(_ context.Context, name string) ([]netip.Addr, error) {
	if a, ok := f[name]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// staticToken is a token file's content.
func staticToken(t *testing.T, dir, name, token string) *podauth.TokenFile {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return &podauth.TokenFile{Path: path}
}

// TestServerRefuses runs a Server and its Dialer over loopback: every refusal the gateway makes without
// connecting anywhere, with its status and reason, and the metrics it counts. (Connecting to a destination
// is covered by test/gateway, in network namespaces: here the address guard refuses loopback.)
func TestServerRefuses(t *testing.T) {
	dir := t.TempDir()
	ca, err := certs.NewCA(dir, "gateway unit test CA", 0)
	if err != nil {
		t.Fatal(err)
	}
	serviceHost := ServiceHost("partners", "egress-system", "cluster.local")
	kp, err := ca.Server(dir, "gateway", serviceHost)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(kp.Cert, kp.Key)
	if err != nil {
		t.Fatal(err)
	}
	rs := &RuleSets{GlobalNamespace: "egress-system"}
	rs.Update([]v1alpha1.EgressRuleSet{
		ruleSet("shop", "partners", "partners", "api.partner.test:443", "loop.partner.test:443"),
		ruleSet("shop", "direct", "", "direct.partner.test:443"),
		ruleSet("shop", "elsewhere", "other", "other.partner.test:443"),
	})
	guard, err := addrclass.New(addrclass.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Options{
		Name: "partners", TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13},
		Reviewer: fakeReviewer{"app-token": {Namespace: "shop", PodName: "app", PodUID: "1"}, "gone-token": {Namespace: "shop", PodName: "gone"}},
		Pods:     fakePods{"app": {"app": "shop"}},
		RuleSets: rs,
		Decider: &decide.Decider{
			Policy: func() *policy.Matcher { return nil }, Guard: guard, InGateway: "partners",
			Resolver: fakeResolver{"loop.partner.test": {netip.MustParseAddr("127.0.0.1")}},
		},
		Metrics: metrics, Labels: telemetry.NewLabels(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})

	dial := func(token, target string) error {
		d, err := NewDialer(DialerOptions{
			Token: staticToken(t, dir, "token", token), CAFile: ca.File, Namespace: "egress-system",
			Addresses: map[string]string{"partners": ln.Addr().String()}, Resolver: fakeResolver{},
			ConnectTimeout: time.Second, HandshakeTimeout: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Dial(context.Background(), "partners", target, "tls")
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, c := range []struct {
		name, token, target string
		status              int
		reason              string
	}{
		{"a forged token", "forged", "api.partner.test:443", 401, ReasonTokenRefused},
		{"a token whose pod is gone", "gone-token", "api.partner.test:443", 403, ReasonUnknownPod},
		{"not allowed", "app-token", "unlisted.partner.test:443", 403, "no_match"},
		{"allowed directly, not through a gateway", "app-token", "direct.partner.test:443", 403, ReasonWrongGateway},
		{"routed through another gateway", "app-token", "other.partner.test:443", 403, ReasonWrongGateway},
		{"allowed, but the name leads to loopback: the guard", "app-token", "loop.partner.test:443", 403, decide.ReasonPrivateAddress},
		{"allowed, but the name does not resolve", "app-token", "api.partner.test:443", 502, decide.ErrDNS},
	} {
		err := dial(c.token, c.target)
		ge, ok := AsError(err)
		if !ok || ge.Status != c.status || ge.Reason != c.reason {
			t.Errorf("%s: %v, want %d %s", c.name, err, c.status, c.reason)
			continue
		}
		if !strings.Contains(err.Error(), "gateway partners") {
			t.Errorf("%s: %q does not name the gateway", c.name, err)
		}
		if denied := c.status == 401 || c.status == 403; ge.Denied() != denied {
			t.Errorf("%s: Denied() = %v", c.name, ge.Denied())
		}
	}
	if got := testutil.ToFloat64(metrics.tunnels.WithLabelValues("shop", "direct.partner.test", "deny", ReasonWrongGateway)); got != 1 {
		t.Errorf("egress_gateway_connections_total for the wrong gateway = %v", got)
	}
	if got := testutil.ToFloat64(metrics.tunnels.WithLabelValues("", "", "deny", ReasonTokenRefused)); got != 1 {
		t.Errorf("egress_gateway_connections_total for the forged token = %v", got)
	}

	// A gateway that cannot be reached: an error without a status, naming the gateway.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln2.Addr().String()
	ln2.Close()
	d, _ := NewDialer(DialerOptions{Token: staticToken(t, dir, "token", "app-token"), CAFile: ca.File, Namespace: "egress-system",
		Addresses: map[string]string{"partners": addr}, Resolver: fakeResolver{}})
	if _, err := d.Dial(context.Background(), "partners", "api.partner.test:443", "tls"); err == nil || !strings.Contains(err.Error(), "gateway partners") {
		t.Errorf("unreachable gateway: %v", err)
	} else if ge, _ := AsError(err); ge.Status != 0 || ge.Denied() {
		t.Errorf("unreachable gateway: status %d", ge.Status)
	}
}

func ruleSet(namespace, name, gateway string, targets ...string) v1alpha1.EgressRuleSet {
	s := v1alpha1.EgressRuleSet{}
	s.Namespace, s.Name, s.Spec.Gateway = namespace, name, gateway
	for _, t := range targets {
		s.Spec.Targets = append(s.Spec.Targets, v1alpha1.Target(t))
	}
	return s
}

func TestRuleSetsSelectThePodsOwn(t *testing.T) {
	rs := &RuleSets{GlobalNamespace: "egress-system"}
	if rs.Matcher("shop", nil) != nil {
		t.Fatal("a matcher before the first load")
	}
	a := ruleSet("shop", "a", "gw", "a.test:443")
	b := ruleSet("other", "b", "gw", "b.test:443")
	g := ruleSet("egress-system", "g", "gw", "g.test:443")
	rs.Update([]v1alpha1.EgressRuleSet{a, b, g})
	m := rs.Matcher("shop", map[string]string{"x": "y"})
	for host, want := range map[string]bool{"a.test": true, "b.test": false, "g.test": true} {
		if got := m.Decide(host, netip.Addr{}, 443).Allowed(); got != want {
			t.Errorf("%s: allowed %v, want %v", host, got, want)
		}
	}
	if rs.Matcher("shop", map[string]string{"x": "y"}) != m {
		t.Error("the matcher of the same namespace and labels is not cached")
	}
	rs.Update([]v1alpha1.EgressRuleSet{b})
	if rs.Matcher("shop", map[string]string{"x": "y"}).Decide("a.test", netip.Addr{}, 443).Allowed() {
		t.Error("an update did not replace the cached matcher")
	}
}

func TestSettingsArgsRoundTrip(t *testing.T) {
	s := DefaultSettings()
	s.Name, s.DenyCIDRs = "partners", []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	args := s.Args()
	if strings.Join(args, " ") != "--name=partners --listen-addr=0.0.0.0:15443 --global-namespace=egress-system --deny-cidrs=10.96.0.0/12" {
		t.Errorf("Args() = %q", args)
	}
	bad := DefaultSettings()
	bad.Name = "Not_A_Label"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "--name") {
		t.Errorf("Validate() = %v, want --name at fault", err)
	}
}
