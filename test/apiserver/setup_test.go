package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"egress.io/egress/internal/controlplane"
	"egress.io/egress/internal/testworld"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/webhook"
)

// Injection config the tests run the webhook with.
const (
	testInitImage    = "registry.example/egress-init:test"
	testSidecarImage = "registry.example/egress-sidecar:test"
	testVersion      = "v0.0.0-apiserver-test"
)

// shared is what setupShared prepares once on the shared control plane.
var shared struct {
	once    sync.Once
	err     error
	certDir string // tls.crt/tls.key for 127.0.0.1, signed by caPEM
	caPEM   []byte
	port    int // the webhook's port; the MutatingWebhookConfiguration points there
	// applied is the output of a second kubectl apply -k manifests/, before the webhook is re-pointed.
	applied string
	// kubeconfig is the egress-webhook service account's, for the webhook processes.
	kubeconfig string
	// binary is the egress-webhook binary, built once with the tests' version.
	binary string
}

// setupShared applies manifests/ to the shared control plane, makes serving certificates for 127.0.0.1,
// and points the MutatingWebhookConfiguration's two webhooks at https://127.0.0.1:<port>/mutate-pods.
func setupShared(t *testing.T) {
	t.Helper()
	c := needControlPlane(t)
	shared.once.Do(func() { shared.err = doSetupShared(t, c) })
	if shared.err != nil {
		t.Fatalf("setup: %v", shared.err)
	}
}

func doSetupShared(t *testing.T, c *controlplane.ControlPlane) error {
	if err := applyManifests(t, c); err != nil {
		return err
	}
	// A second apply must succeed too (upgrades, CI re-runs). After pointWebhookAt replaces the webhooks'
	// clientConfig below, kubectl's three-way merge would add the Service back next to the URL, so this is
	// the place to try it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := c.Kubectl(ctx, "", "apply", "-k", repoPath("manifests"))
	if err != nil {
		return fmt.Errorf("second apply: %w", err)
	}
	shared.applied = out + errOut
	dir, err := os.MkdirTemp("", "egress-webhook-certs-")
	if err != nil {
		return err
	}
	shared.certDir = dir
	shared.caPEM = testworld.WriteServingCert(t, dir, "127.0.0.1")
	// With --static-certs the webhook publishes ca.crt of its certificate directory as the policy CA.
	if err := os.WriteFile(dir+"/ca.crt", shared.caPEM, 0o644); err != nil {
		return err
	}
	if shared.port, err = freePort(); err != nil {
		return err
	}
	saConfig, err := c.ServiceAccountConfig(ctx, "egress-system", "egress-webhook")
	if err != nil {
		return err
	}
	shared.kubeconfig = dir + "/webhook.kubeconfig"
	if err := controlplane.WriteKubeconfig(saConfig, shared.kubeconfig); err != nil {
		return err
	}
	if shared.binary, err = buildWebhook(dir); err != nil {
		return err
	}
	return pointWebhookAt(t, c, shared.port, shared.caPEM)
}

// applyManifests runs kubectl apply -k manifests/ and waits for the CRD to be served.
func applyManifests(t *testing.T, c *controlplane.ControlPlane) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := c.Kubectl(ctx, "", "apply", "-k", repoPath("manifests")); err != nil {
		return err
	}
	if _, _, err := c.Kubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=30s", "crd/egressrulesets.egress.io"); err != nil {
		return err
	}
	return nil
}

// pointWebhookAt points the MutatingWebhookConfiguration's webhooks at the local webhook on 127.0.0.1:port.
func pointWebhookAt(t *testing.T, c *controlplane.ControlPlane, port int, caPEM []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.PointWebhooksAt(ctx, "egress-webhook", fmt.Sprintf("https://127.0.0.1:%d%s", port, webhook.MutatePath), caPEM)
}

// webhookConfig is the Config the tests run the webhook with: static certificates on 127.0.0.1, metrics,
// probes and the policy service on free loopback ports, as the egress-webhook service account.
func webhookConfig(t *testing.T) webhook.Config {
	cfg := webhook.DefaultConfig()
	cfg.Inject.InitImage, cfg.Inject.SidecarImage = testInitImage, testSidecarImage
	cfg.Inject.Init.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("198.18.128.0/20")}
	cfg.WebhookHost, cfg.WebhookPort = "127.0.0.1", uint16(shared.port)
	cfg.CertDir, cfg.StaticCerts = shared.certDir, true
	for _, addr := range []*string{&cfg.ProbeAddr, &cfg.MetricsAddr} {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		*addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg.PolicyPort = uint16(port)
	cfg.Kubeconfig = shared.kubeconfig
	return cfg
}

// webhookProcess is the real egress-webhook binary running with a Config.
type webhookProcess struct {
	cfg  webhook.Config
	stop func()
}

// startWebhook runs the egress-webhook binary with cfg written as its arguments (settings.Args over the
// webhook's own flag table), as the egress-webhook service account (so the manifests' RBAC is what it has),
// waits until it is ready (with static certificates), and stops it with SIGTERM when the test ends. Its
// output is logged when the test fails.
func startWebhook(t *testing.T, cfg webhook.Config) *webhookProcess {
	t.Helper()
	defaults := webhook.DefaultConfig()
	args := settings.Args(cfg.Flags(), defaults.Flags())
	cmd := exec.Command(shared.binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no EGRESS_* variable of the test's environment
	var output syncBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting egress-webhook: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("egress-webhook exited with %v", err)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Error("egress-webhook did not stop within 30s of SIGTERM")
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("egress-webhook %s:\n%s", strings.Join(args, " "), output.String())
		}
	})
	if cfg.StaticCerts {
		eventually(t, 20*time.Second, "webhook /readyz", func() (bool, string) {
			select {
			case err := <-exited:
				exited <- err
				return false, fmt.Sprintf("exited: %v", err)
			default:
			}
			resp, err := http.Get("http://" + cfg.ProbeAddr + "/readyz")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, resp.Status
		})
	}
	return &webhookProcess{cfg: cfg, stop: stop}
}

// Stop stops the webhook and waits for it to exit.
func (w *webhookProcess) Stop() { w.stop() }

// counter reads egress_webhook_injections_total{result, reason} from the webhook's /metrics.
func (w *webhookProcess) counter(t *testing.T, result, reason string) float64 {
	t.Helper()
	return w.metric(t, fmt.Sprintf(`egress_webhook_injections_total{reason=%q,result=%q}`, reason, result))
}

// metric reads one series (name{labels} as /metrics writes it) from the webhook's /metrics; 0 when absent.
func (w *webhookProcess) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + w.cfg.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if value, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// syncBuffer collects a process's output for the log.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// buildWebhook builds cmd/webhook into dir with the version the tests expect on injected pods.
func buildWebhook(dir string) (string, error) {
	binary := dir + "/egress-webhook"
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", binary, "egress.io/egress/cmd/webhook").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build cmd/webhook: %w\n%s", err, out)
	}
	return binary, nil
}

// testLogger logs through t, so output shows only for failed (or -v) tests.
func testLogger(t *testing.T) logr.Logger {
	return logr.New(&tlogSink{t: t})
}

type tlogSink struct {
	t      *testing.T
	name   string
	values []any
}

func (s *tlogSink) Init(logr.RuntimeInfo)             {}
func (s *tlogSink) Enabled(level int) bool            { return level == 0 }
func (s *tlogSink) WithName(name string) logr.LogSink { c := *s; c.name += "/" + name; return &c }
func (s *tlogSink) WithValues(kv ...any) logr.LogSink {
	c := *s
	c.values = append(append([]any{}, s.values...), kv...)
	return &c
}
func (s *tlogSink) Info(_ int, msg string, kv ...any)      { s.log("", msg, kv) }
func (s *tlogSink) Error(err error, msg string, kv ...any) { s.log("ERROR "+err.Error()+" ", msg, kv) }
func (s *tlogSink) log(prefix, msg string, kv []any) {
	defer func() { _ = recover() }() // logging after the test ended panics in t.Log
	var b strings.Builder
	b.WriteString(prefix + s.name + " " + msg)
	all := append(append([]any{}, s.values...), kv...)
	for i := 0; i+1 < len(all); i += 2 {
		fmt.Fprintf(&b, " %v=%v", all[i], all[i+1])
	}
	s.t.Log(b.String())
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tlsServing reports whether something serves TLS on 127.0.0.1:port.
func tlsServing(port int) bool {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
