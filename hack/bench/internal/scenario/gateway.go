package scenario

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/env"
	"egress.io/egress/hack/bench/internal/wrk"
	"egress.io/egress/internal/certs"
	"egress.io/egress/internal/controlplane"
	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
	"egress.io/egress/pkg/gateway"
)

// Scenario, contender and addresses of the gateway benchmark.
const (
	scGateway        = "gateway"
	viaGateway       = "sidecar+gateway"
	portSidecarGW    = 15006
	dnsSidecarGW     = 15055
	adminSidecarGW   = 15022
	gatewayIP        = "198.18.0.9" // the gateway, in the world namespace
	gatewayAdminAddr = "127.0.0.1:15121"
	gatewayNamespace = "bench"
)

// Gateway measures the extra hop of an egress gateway: the same requests through the sidecar alone and
// through the sidecar and an `egress-sidecar gateway` (in the world namespace, checking the pod's token
// with a real kube-apiserver's TokenReview once per token and deciding again per tunnel). Requests/s of
// small requests originated over keep-alive (wrk, each connection count) and of HTTPS the app speaks
// itself (wrk over keep-alive TLS: one tunnel per connection), and latency at a fixed rate (open loop)
// with what the gateway adds.
func (b *Bench) Gateway(ctx context.Context) error {
	gw, stop, err := b.startGatewayPath(ctx)
	if err != nil {
		return err
	}
	defer stop()
	contenders := []*contender.Contender{b.sidecar, gw}
	for _, conns := range b.Cfg.Connections {
		params := gatewayOriginationParams(conns)
		for round := range b.Cfg.Rounds {
			for _, c := range contenders {
				r, err := b.runWrk(ctx, c, originationRun(c, conns))
				if err != nil {
					return fmt.Errorf("gateway %s %s: %w", c.Name, params, err)
				}
				b.Res.Add(key(scGateway, mRPS, params, c.Name), "req/s", r.GoodRPS())
				b.Res.Add(key(scGateway, mCPU10k, params, c.Name), "s", r.CPUPer10k())
				b.logf("gateway %s round %d/%d %-16s %8.0f req/s  sidecar cpu %.3fs/10k  errors %d",
					params, round+1, b.Cfg.Rounds, c.Name, r.GoodRPS(), r.CPUPer10k(), r.Errors())
			}
		}
	}
	params := gatewayPassthroughParams(b.Cfg.PassthroughConnections)
	for round := range b.Cfg.Rounds {
		for _, c := range contenders {
			r, err := b.runWrk(ctx, c, wrk.Run{URL: directURL, Connections: b.Cfg.PassthroughConnections, Timeout: 10 * time.Second})
			if err != nil {
				return fmt.Errorf("gateway %s %s: %w", c.Name, params, err)
			}
			b.Res.Add(key(scGateway, mRPS, params, c.Name), "req/s", r.GoodRPS())
			b.logf("gateway %s round %d/%d %-16s %8.0f req/s  errors %d", params, round+1, b.Cfg.Rounds, c.Name, r.GoodRPS(), r.Errors())
		}
	}
	params = gatewayRateParams(b.Cfg.OpenLoop.Rate)
	for round := range b.Cfg.Rounds {
		p50, p99 := map[string]float64{}, map[string]float64{}
		for _, c := range contenders {
			r, err := b.runOpenLoop(ctx, c)
			if err != nil {
				return fmt.Errorf("gateway open loop %s: %w", c.Name, err)
			}
			p50[c.Name], p99[c.Name] = ms(r.Summary.P50), ms(r.Summary.P99)
			b.Res.Add(key(scGateway, mP50, params, c.Name), "ms", p50[c.Name])
			b.Res.Add(key(scGateway, mP99, params, c.Name), "ms", p99[c.Name])
			b.logf("gateway open loop %s round %d/%d %-16s p50 %.3fms p99 %.3fms (%d ok, %d failed)",
				params, round+1, b.Cfg.Rounds, c.Name, p50[c.Name], p99[c.Name], r.Completed, r.Failed)
		}
		b.Res.Add(key(scGateway, mAddedP50, params, viaGateway), "ms", p50[viaGateway]-p50[b.sidecar.Name])
		b.Res.Add(key(scGateway, mAddedP99, params, viaGateway), "ms", p99[viaGateway]-p99[b.sidecar.Name])
	}
	return nil
}

// gatewayOriginationParams names the gateway scenario's origination series at conns connections (as it
// records them and gatewayTable reads them).
func gatewayOriginationParams(conns int) string {
	return fmt.Sprintf("origination connections=%d", conns)
}

// gatewayPassthroughParams names its series of HTTPS the app speaks, at conns connections.
func gatewayPassthroughParams(conns int) string {
	return fmt.Sprintf("passthrough connections=%d", conns)
}

// gatewayRateParams names its latency series at a fixed rate.
func gatewayRateParams(rate float64) string { return fmt.Sprintf("origination rate=%.0f", rate) }

// startGatewayPath starts a control plane (KUBEBUILDER_ASSETS), the pod's object, its token, the rule set,
// the gateway in the world namespace, and a second sidecar whose rule set routes the origin through it.
func (b *Bench) startGatewayPath(ctx context.Context) (_ *contender.Contender, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	b.logf("gateway: starting etcd and kube-apiserver (KUBEBUILDER_ASSETS)")
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return nil, stop, fmt.Errorf("the gateway scenario needs a control plane (make bench sets KUBEBUILDER_ASSETS): %w", err)
	}
	stops = append(stops, func() { cp.Stop() })
	if _, errOut, err := cp.Kubectl(ctx, "", "apply", "-f", "manifests/crd"); err != nil {
		return nil, stop, fmt.Errorf("applying the CRDs: %w: %s", err, errOut)
	}
	for _, ns := range []string{gatewayNamespace, "egress-system"} {
		if err := cp.EnsureNamespace(ctx, ns, nil, nil); err != nil {
			return nil, stop, err
		}
	}
	if err := cp.EnsureServiceAccount(ctx, gatewayNamespace, "default"); err != nil {
		return nil, stop, err
	}
	var pod *corev1.Pod
	for deadline := time.Now().Add(30 * time.Second); ; {
		pod, err = cp.Clientset().CoreV1().Pods(gatewayNamespace).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"app": "bench"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "bench"}}},
		}, metav1.CreateOptions{})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return nil, stop, fmt.Errorf("creating the pod: %w", err)
	}
	ruleSet := `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: bench, namespace: ` + gatewayNamespace + `}
spec:
  gateway: partners
  targets: ["` + env.OriginName + `:443"]
`
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, errOut, err := cp.Kubectl(ctx, ruleSet, "apply", "-f", "-")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, stop, fmt.Errorf("applying the rule set: %w: %s", err, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	tok, err := cp.Clientset().CoreV1().ServiceAccounts(gatewayNamespace).CreateToken(ctx, "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{gateway.Audience}, ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, stop, fmt.Errorf("token: %w", err)
	}
	dir, err := b.Env.OwnedDir("gateway")
	if err != nil {
		return nil, stop, err
	}
	files := map[string]string{"token": tok.Status.Token, "rules.yaml": ruleSet}
	kubeconfig, err := os.ReadFile(cp.KubeconfigPath)
	if err != nil {
		return nil, stop, err
	}
	files["kubeconfig"] = string(kubeconfig)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, stop, err
		}
	}
	ca, err := certs.NewCA(dir, "bench gateway CA", 0)
	if err != nil {
		return nil, stop, err
	}
	serviceHost := gateway.ServiceHost("partners", "egress-system", "cluster.local")
	kp, err := ca.Server(dir, "gateway", serviceHost)
	if err != nil {
		return nil, stop, err
	}

	// The API server's address, reached from the world namespace through this process.
	u, err := url.Parse(cp.APIServerURL())
	if err != nil {
		return nil, stop, err
	}
	var ln net.Listener
	if err := netnstest.Do(b.Env.Pair.World, func() (err error) {
		ln, err = net.Listen("tcp", u.Host)
		return err
	}); err != nil {
		return nil, stop, fmt.Errorf("API server forwarder: %w", err)
	}
	stops = append(stops, func() { ln.Close() })
	go testworld.Forward(ln, u.Host)
	if out, err := exec.Command("ip", "-n", b.Env.Pair.World, "addr", "add", gatewayIP+"/24", "dev", b.Env.Pair.WorldIf).CombinedOutput(); err != nil {
		return nil, stop, fmt.Errorf("the gateway's address: %v: %s", err, out)
	}

	cmd := b.Env.WorldCommand(context.Background(), b.Env.Bin["egress-sidecar"], "gateway",
		"--name", "partners",
		"--listen-addr", net.JoinHostPort(gatewayIP, strconv.Itoa(gateway.DefaultPort)),
		"--admin-addr", gatewayAdminAddr,
		"--cert-file", kp.Cert, "--key-file", kp.Key,
		"--global-namespace", "egress-system",
		"--kubeconfig", filepath.Join(dir, "kubeconfig"),
		"--upstream-dns", net.JoinHostPort(env.WorldIP, "53"),
		"--public-cidrs", env.WorldIP+"/32",
		"--log-level", "warn",
	)
	p, err := b.Env.Procs.Start("gateway", cmd)
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, func() { p.Stop(2 * time.Second) })
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return b.Env.DialWorld(ctx, network, addr)
		},
	}}
	if err := p.WaitUntil("/ready", 30*time.Second, func() bool {
		resp, err := client.Get("http://" + gatewayAdminAddr + "/ready")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return nil, stop, err
	}

	c, err := contender.StartSidecar(b.Env, contender.SidecarOptions{
		Name: viaGateway, Binary: b.Env.Bin["egress-sidecar"], RulesFile: filepath.Join(dir, "rules.yaml"),
		CapturePort: portSidecarGW, DNSPort: dnsSidecarGW, AdminPort: adminSidecarGW,
		Extra: []string{
			"--pod-namespace", gatewayNamespace, // the rule set's namespace, as the gateway sees the pod
			"--gateway-token-file", filepath.Join(dir, "token"),
			"--gateway-ca-file", ca.File,
			"--gateway-addresses", "partners=" + net.JoinHostPort(gatewayIP, strconv.Itoa(gateway.DefaultPort)),
		},
	})
	if err != nil {
		return nil, stop, err
	}
	c.Name = viaGateway
	stops = append(stops, c.Stop)
	for _, args := range [][]string{originationArgs(c, b.Env.Certs.CA), {"--cacert", b.Env.Certs.CA, directURL}} {
		if err := b.curlCheck(ctx, c, args); err != nil {
			return nil, stop, fmt.Errorf("through the gateway: %w", err)
		}
	}
	return c, stop, nil
}
