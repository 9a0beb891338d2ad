package gateway_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"egress.io/egress/internal/netnstest"
	"egress.io/egress/internal/testworld"
	"egress.io/egress/pkg/gateway"
)

const (
	appUID     = 1000
	sidecarUID = 2555
	gatewayUID = 2600
	namespace  = "shop"
	globalNS   = "egress-system"
	gwName     = "partners"
	gwPort     = 15443
)

var (
	worldIP = netnstest.WorldIPv4 // the destination's servers, 198.18.0.2:80 and :443, and DNS
	// The gateways' namespaces: each a /30 behind the world.
	gatewayIPs = []netip.Addr{netip.MustParseAddr("198.18.2.1"), netip.MustParseAddr("198.18.2.5")}
	worldEnds  = []netip.Addr{netip.MustParseAddr("198.18.2.2"), netip.MustParseAddr("198.18.2.6")}
)

// Rule sets, the same in the API server (for the gateways) and in the sidecar's rules file.
const ruleSets = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: partners, namespace: shop}
spec:
  gateway: partners
  podSelector: {matchLabels: {app: shop}}
  targets: ["api.partner.test:80", "api.partner.test:443"]
---
apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: direct, namespace: shop}
spec:
  podSelector: {matchLabels: {app: shop}}
  targets: ["direct.partner.test:80"]
---
apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: elsewhere, namespace: shop}
spec:
  gateway: elsewhere
  podSelector: {matchLabels: {app: shop}}
  targets: ["other.partner.test:80"]
`

// world records who connected to its servers.
type world struct {
	mu      sync.Mutex
	sources map[string]int // remote address (without port) → requests
}

func (w *world) saw(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	w.mu.Lock()
	w.sources[host]++
	w.mu.Unlock()
	return host
}

func (w *world) snapshot() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.sources {
		out[k] = v
	}
	return out
}

// largeSize is what /large sends, over about 3 s.
const largeSize = 30 * 64 << 10

func (w *world) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/large", func(rw http.ResponseWriter, r *http.Request) {
		w.saw(r)
		rw.Header().Set("Content-Length", fmt.Sprint(largeSize))
		chunk := strings.Repeat("x", 64<<10)
		for range 30 {
			if _, err := io.WriteString(rw, chunk); err != nil {
				return
			}
			rw.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "world saw %s\n", w.saw(r))
	})
	return mux
}

type gatewayProc struct {
	ns     string
	cmd    *exec.Cmd
	stderr *testworld.SyncBuffer
}

func TestGateway(t *testing.T) {
	netnstest.SkipIfShort(t)
	netnstest.RequireRoot(t)
	netnstest.RequireCommands(t, "ip", "iptables", "ip6tables", "setpriv", "curl")
	if cp == nil {
		t.Fatal("no control plane: KUBEBUILDER_ASSETS must name kube-apiserver and etcd (make test sets it)")
	}
	ctx := context.Background()
	dir := testworld.Dir(t, "egress-gateway-test-")
	serviceHost := gateway.ServiceHost(gwName, globalNS, "cluster.local")
	ca := testworld.WriteCerts(t, dir, "api.partner.test", serviceHost)

	// The API server: CRDs, the pods, their tokens, the rule sets.
	mustKubectl(t, "", "apply", "-f", repoPath("manifests/crd"))
	for _, ns := range []string{namespace, globalNS} {
		if err := cp.EnsureNamespace(ctx, ns, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := cp.EnsureServiceAccount(ctx, namespace, "default"); err != nil {
		t.Fatal(err)
	}
	app := createPod(t, "app", map[string]string{"app": "shop"})
	other := createPod(t, "other", map[string]string{"app": "other"})
	waitFor(t, "the CRD to be served", 30*time.Second, func() bool {
		_, _, err := cp.Kubectl(ctx, "", "get", "egressrulesets", "-A")
		return err == nil
	})
	mustKubectl(t, ruleSets, "apply", "-f", "-")
	t.Cleanup(func() { cp.Kubectl(context.Background(), ruleSets, "delete", "-f", "-", "--ignore-not-found") })
	appToken := writeToken(t, dir, "app-token", app, gateway.Audience)
	otherToken := writeToken(t, dir, "other-token", other, gateway.Audience)
	wrongAudience := writeToken(t, dir, "app-policy-token", app, "egress.io/policy")
	forged := filepath.Join(dir, "forged-token")
	testworld.WriteFile(t, forged, forge(t, appToken))

	// The network: the pod, the world, two gateway nodes.
	p := netnstest.NewPair(t)
	run(t, "ip", "-n", p.Pod, "route", "add", "default", "via", worldIP.String())
	w := &world{sources: map[string]int{}}
	records := map[string][]netip.Addr{
		"api.partner.test":    {worldIP},
		"direct.partner.test": {worldIP},
		"other.partner.test":  {worldIP},
		"gw.partners.test":    gatewayIPs,
	}
	testworld.StartDNS(t, p.World, netip.AddrPortFrom(worldIP, 53), records, 30*time.Second)
	serveWorld(t, p.World, w, filepath.Join(dir, "api.partner.test.pem"), filepath.Join(dir, "api.partner.test.key"))
	// The world's servers accept only the gateways: the pod's own address is refused outright.
	for _, rule := range [][]string{
		{"-A", "INPUT", "-p", "tcp", "-d", worldIP.String(), "-m", "multiport", "--dports", "80,443", "!", "-s", "198.18.2.0/24", "-j", "REJECT", "--reject-with", "tcp-reset"},
	} {
		run(t, "ip", append([]string{"netns", "exec", p.World, "iptables"}, rule...)...)
	}

	gws := make([]*gatewayProc, len(gatewayIPs))
	for i := range gatewayIPs {
		ns := p.AddNode(t, gatewayIPs[i], worldEnds[i])
		forwardAPIServer(t, ns)
		gws[i] = startGateway(t, ns, gatewayIPs[i], dir, serviceHost)
	}
	for _, g := range gws {
		waitFor(t, "gateway "+g.ns+" ready", 30*time.Second, func() bool {
			body, err := nsGet(g.ns, "127.0.0.1:15021", "/ready")
			return err == nil && strings.HasPrefix(body, "ready")
		})
	}

	// The pod: egress-init, then the sidecar with the same rule sets and its gateway credentials.
	rules := filepath.Join(dir, "rules.yaml")
	testworld.WriteFile(t, rules, strings.ReplaceAll(ruleSets, ", namespace: shop", ""))
	p.Run(t, p.Pod, 0, 0, egressInit)
	sidecarLog := &testworld.SyncBuffer{}
	sc := netnstest.Command(p.Pod, sidecarUID, sidecarUID, egressSidecar,
		"--rules-file", rules,
		"--pod-labels-file", writeLabels(t, dir),
		"--ca-bundle", ca,
		"--upstream-dns", worldIP.String()+":53",
		"--public-cidrs", netnstest.WorldPublicCIDRs,
		"--admin-addr", "127.0.0.1:15020",
		"--gateway-token-file", appToken,
		"--gateway-ca-file", ca,
		"--gateway-addresses", fmt.Sprintf("%s=gw.partners.test:%d", gwName, gwPort),
		"--drain-timeout", "1s",
		"--log-allowed",
	)
	sc.Stdout, sc.Stderr = sidecarLog, sidecarLog
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Process.Kill(); sc.Wait() })
	waitFor(t, "sidecar ready", 15*time.Second, func() bool {
		body, err := nsGet(p.Pod, "127.0.0.1:15020", "/ready")
		return err == nil && strings.HasPrefix(body, "ready")
	})
	defer func() {
		if t.Failed() {
			t.Logf("sidecar log:\n%s", sidecarLog.String())
			for _, g := range gws {
				t.Logf("gateway %s log:\n%s", g.ns, g.stderr.String())
			}
		}
	}()

	curl := func(args ...string) (string, error) {
		cmd := netnstest.Command(p.Pod, appUID, appUID, "curl", append([]string{"-sS", "--max-time", "10"}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	isGateway := func(body string) bool {
		for _, ip := range gatewayIPs {
			if strings.Contains(body, "world saw "+ip.String()) {
				return true
			}
		}
		return false
	}

	t.Run("the world refuses the pod's own address", func(t *testing.T) {
		// As the sidecar's UID, which egress-init does not redirect: a direct connection.
		if out, err := netnstest.Helper(p.Pod, sidecarUID, sidecarUID, "tcp", worldIP.String()+":80", "GET / HTTP/1.0\r\n\r\n"); err == nil {
			t.Fatalf("direct connection from the pod reached the world: %q", out)
		}
	})

	t.Run("allowed through the gateway", func(t *testing.T) {
		for _, c := range []struct{ name, url string }{
			{"plain HTTP", "http://api.partner.test/"},
			{"TLS passthrough", "https://api.partner.test/"},
			{"TLS originated by the sidecar through the tunnel", "http://api.partner.test.egress.local/"},
		} {
			args := []string{c.url}
			if strings.HasPrefix(c.url, "https") {
				args = []string{"--cacert", ca, c.url}
			}
			out, err := curl(args...)
			if err != nil || !isGateway(out) {
				t.Errorf("%s: %s: %v: %q, want the world to see a gateway's address", c.name, c.url, err, out)
			}
		}
	})

	t.Run("both replicas carry tunnels", func(t *testing.T) {
		before := w.snapshot()
		for range 6 {
			if out, err := curl("--cacert", ca, "https://api.partner.test/"); err != nil || !isGateway(out) {
				t.Fatalf("%v: %q", err, out)
			}
		}
		after := w.snapshot()
		for _, ip := range gatewayIPs {
			if after[ip.String()] <= before[ip.String()] {
				t.Errorf("gateway %s carried none of 6 TLS connections: %v → %v", ip, before, after)
			}
		}
	})

	t.Run("the sidecar refuses with the gateway's answer", func(t *testing.T) {
		// The rule set routes other.partner.test through gateway "elsewhere", which does not exist: denied,
		// never sent directly.
		out, _ := curl("-o", "/dev/null", "-w", "%{http_code}", "http://other.partner.test/")
		if out != "502" {
			t.Errorf("a missing gateway: HTTP %q, want 502", out)
		}
		// A destination the pod's rule sets allow directly is still sent directly (and the world refuses it).
		out, _ = curl("-o", "/dev/null", "-w", "%{http_code}", "http://direct.partner.test/")
		if out != "502" {
			t.Errorf("direct destination refused by the world: HTTP %q, want 502", out)
		}
	})

	tunnel := func(token, target string) string {
		t.Helper()
		out, err := netnstest.Helper(p.Pod, sidecarUID, sidecarUID, "tunnel",
			netip.AddrPortFrom(gatewayIPs[0], gwPort).String(), serviceHost, ca, token, target)
		if err != nil {
			t.Fatalf("hand-made tunnel: %v", err)
		}
		return strings.TrimSpace(out)
	}
	t.Run("hand-made tunnels skipping the sidecar", func(t *testing.T) {
		for _, c := range []struct{ name, token, target, want string }{
			{"the pod's own token, an allowed target", appToken, "api.partner.test:80", "200 \n200 world saw 198.18.2.1"},
			{"the pod's own token, a target its rule sets do not allow", appToken, "unlisted.partner.test:80", "403 no_match"},
			{"an address no target allows", appToken, worldIP.String() + ":80", "403 no_match"},
			{"a target allowed directly, not through this gateway", appToken, "direct.partner.test:80", "403 wrong_gateway"},
			{"a target routed through another gateway", appToken, "other.partner.test:80", "403 wrong_gateway"},
			{"another pod's token: its rule sets do not allow it", otherToken, "api.partner.test:80", "403 no_match"},
			{"a forged token", forged, "api.partner.test:80", "401 token_refused"},
			{"a token of another audience", wrongAudience, "api.partner.test:80", "401 token_refused"},
		} {
			if got := tunnel(c.token, c.target); got != c.want {
				t.Errorf("%s: %q, want %q", c.name, got, c.want)
			}
		}
		if !strings.Contains(gws[0].stderr.String(), `"source_pod":"other"`) {
			t.Errorf("the gateway's decision log does not name the source pod")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		body, err := nsGet(p.Pod, "127.0.0.1:15020", "/metrics")
		if err != nil || !strings.Contains(body, `egress_gateway_tunnels_total{gateway="partners",protocol="tls",result="ok"}`) {
			t.Errorf("sidecar metrics lack tunnels through partners: %v", err)
		}
		body, err = nsGet(gws[0].ns, "127.0.0.1:15021", "/metrics")
		if err != nil || !strings.Contains(body, `egress_gateway_connections_total{decision="allow",host="api.partner.test",reason="exact",source_namespace="shop"}`) {
			t.Errorf("gateway metrics lack allowed tunnels by namespace and host: %v\n%s", err, grep(body, "egress_gateway_connections_total"))
		}
	})

	t.Run("a replica killed mid-stream", func(t *testing.T) {
		type result struct {
			out string
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				out, err := curl("--cacert", ca, "-o", "/dev/null", "-w", "%{size_download}", "https://api.partner.test/large")
				results <- result{out, err}
			}()
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(time.Second)
		before := w.snapshot()
		gws[0].cmd.Process.Kill()
		gws[0].cmd.Wait()
		var complete, cut int
		for range 2 {
			r := <-results
			if r.err == nil && r.out == fmt.Sprint(largeSize) {
				complete++
			} else {
				cut++
			}
		}
		if complete != 1 || cut != 1 {
			t.Errorf("two downloads, one per replica, one replica killed: %d complete, %d cut; want 1 and 1", complete, cut)
		}
		for range 4 {
			if out, err := curl("--cacert", ca, "https://api.partner.test/"); err != nil || !strings.Contains(out, "world saw "+gatewayIPs[1].String()) {
				t.Errorf("after the kill: %v: %q, want the other replica", err, out)
			}
		}
		after := w.snapshot()
		for src := range after {
			if src != gatewayIPs[0].String() && src != gatewayIPs[1].String() {
				t.Errorf("the world saw %s: a connection did not come through a gateway (%v → %v)", src, before, after)
			}
		}
	})
}

// startGateway runs `egress-sidecar gateway` in ns, listening on ip.
func startGateway(t *testing.T, ns string, ip netip.Addr, dir, serviceHost string) *gatewayProc {
	t.Helper()
	g := &gatewayProc{ns: ns, stderr: &testworld.SyncBuffer{}}
	g.cmd = netnstest.Command(ns, gatewayUID, gatewayUID, egressSidecar, "gateway",
		"--name", gwName,
		"--listen-addr", netip.AddrPortFrom(ip, gwPort).String(),
		"--admin-addr", "127.0.0.1:15021",
		"--cert-file", filepath.Join(dir, serviceHost+".pem"),
		"--key-file", filepath.Join(dir, serviceHost+".key"),
		"--global-namespace", globalNS,
		"--kubeconfig", kubeconfigCopy(t, dir),
		"--upstream-dns", worldIP.String()+":53",
		"--public-cidrs", netnstest.WorldPublicCIDRs,
	)
	g.cmd.Stdout, g.cmd.Stderr = g.stderr, g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.cmd.ProcessState == nil {
			g.cmd.Process.Kill()
			g.cmd.Wait()
		}
	})
	return g
}

// kubeconfigCopy copies the admin kubeconfig (and the files it names) where the gateway's UID can read it.
func kubeconfigCopy(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "kubeconfig")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	data, err := os.ReadFile(cp.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	testworld.WriteFile(t, path, string(data))
	return path
}

// forwardAPIServer makes the API server's address reach it from ns: a listener on the same address inside
// ns, joined by this process to the real one.
func forwardAPIServer(t *testing.T, ns string) {
	t.Helper()
	u, err := url.Parse(cp.APIServerURL())
	if err != nil {
		t.Fatal(err)
	}
	go testworld.Forward(netnstest.Listen(t, ns, "tcp", u.Host), u.Host)
}

// serveWorld serves HTTP on worldIP:80 and HTTPS (api.partner.test) on worldIP:443 in ns.
func serveWorld(t *testing.T, ns string, w *world, certFile, keyFile string) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []int{80, 443} {
		ln := netnstest.Listen(t, ns, "tcp", fmt.Sprintf("%s:%d", worldIP, port))
		srv := &http.Server{Handler: w.handler(), ReadHeaderTimeout: 5 * time.Second}
		if port == 443 {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
			go srv.ServeTLS(ln, "", "")
		} else {
			go srv.Serve(ln)
		}
		t.Cleanup(func() { srv.Close() })
	}
}

// nsGet GETs path from addr inside ns (the connection is made there) and returns the body.
func nsGet(ns, addr, path string) (string, error) {
	var c net.Conn
	if err := netnstest.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return c, nil },
	}}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func createPod(t *testing.T, name string, labels map[string]string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	cs := cp.Clientset().CoreV1().Pods(namespace)
	_ = cs.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	var created *corev1.Pod
	waitFor(t, "creating pod "+name, 30*time.Second, func() bool {
		var err error
		created, err = cs.Create(context.Background(), pod, metav1.CreateOptions{})
		return err == nil
	})
	t.Cleanup(func() {
		cs.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	return created
}

// writeToken writes a token of audience bound to pod into dir/name, readable by every UID.
func writeToken(t *testing.T, dir, name string, pod *corev1.Pod, audience string) string {
	t.Helper()
	tok, err := cp.Clientset().CoreV1().ServiceAccounts(pod.Namespace).CreateToken(context.Background(), "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{audience},
			ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s: %v", pod.Name, err)
	}
	path := filepath.Join(dir, name)
	testworld.WriteFile(t, path, tok.Status.Token)
	return path
}

// forge returns the token in path with its signature's last characters changed.
func forge(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(data))
	last := "A"
	if strings.HasSuffix(tok, "A") {
		last = "B"
	}
	return tok[:len(tok)-4] + strings.Repeat(last, 4)
}

// writeLabels writes the pod's downward-API labels file.
func writeLabels(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "labels")
	testworld.WriteFile(t, path, "app=\"shop\"\n")
	return path
}

func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := cp.Kubectl(ctx, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grep(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func repoPath(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", rel)
}
