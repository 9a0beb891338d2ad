package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/internal/controlplane"
	"egress.io/egress/internal/testworld"
	"egress.io/egress/pkg/webhook"
)

// Injection config the tests run the webhook with.
const (
	testInitImage    = "registry.example/egress-init:test"
	testSidecarImage = "registry.example/egress-sidecar:test"
)

// shared is what setupShared prepares once on the shared control plane.
var shared struct {
	once    sync.Once
	err     error
	certDir string // tls.crt/tls.key for 127.0.0.1, signed by caPEM
	caPEM   []byte
	port    int // the webhook's port; the MutatingWebhookConfiguration points there
	// applied is the output of a second kubectl apply -k manifests/, before the webhook is re-pointed.
	applied  string
	registry *prometheus.Registry
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
	if shared.port, err = freePort(); err != nil {
		return err
	}
	shared.registry = prometheus.NewRegistry()
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

// webhookConfig is the Config the tests run the webhook with: static certificates on 127.0.0.1.
func webhookConfig(t *testing.T) webhook.Config {
	cfg := webhook.DefaultConfig()
	cfg.Version = "v0.0.0-apiserver-test"
	cfg.InitImage, cfg.SidecarImage = testInitImage, testSidecarImage
	cfg.ExcludeOutboundCIDRs = "198.18.128.0/20"
	cfg.WebhookHost, cfg.WebhookPort = "127.0.0.1", shared.port
	cfg.CertDir, cfg.StaticCerts = shared.certDir, true
	cfg.MetricsAddr = "0"
	probe, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg.ProbeAddr = "127.0.0.1:" + strconv.Itoa(probe)
	return cfg
}

// startWebhook runs the webhook's manager in-process as the egress-webhook service account (so the
// manifests' RBAC is what it has), waits until it is ready (with static certificates), and returns a function
// that stops it and waits for it to exit; that also happens when the test ends.
func startWebhook(t *testing.T, cfg webhook.Config) (stop func()) {
	t.Helper()
	c := needControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	restCfg, err := c.ServiceAccountConfig(ctx, "egress-system", "egress-webhook")
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := webhook.NewManager(cfg, webhook.Options{RESTConfig: restCfg, Registry: shared.registry, Log: testLogger(t), AllowSeveralManagers: true})
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancelRun()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("manager: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("manager did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	if !cfg.StaticCerts {
		return stop
	}
	eventually(t, 20*time.Second, "webhook /readyz", func() (bool, string) {
		resp, err := http.Get("http://" + cfg.ProbeAddr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return stop
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// testLogger logs through t, so output shows only for failed (or -v) tests.
func testLogger(t *testing.T) logr.Logger {
	return logr.New(&tlogSink{t: t})
}

type tlogSink struct {
	t      *testing.T
	name   string
	values []any
	mu     *sync.Mutex
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
