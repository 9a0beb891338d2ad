package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options configure Start. The zero value is what most tests want.
type Options struct {
	// ServiceClusterIPRange is kube-apiserver's --service-cluster-ip-range (default 198.18.128.0/20, a
	// benchmarking range that no real network here uses).
	ServiceClusterIPRange string
	// APIServerArgs are extra or overriding kube-apiserver flags, without the leading "--".
	APIServerArgs map[string][]string
	// Output receives both processes' logs (default: discarded, or os.Stderr when
	// KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT=true).
	Output io.Writer
	// StartTimeout bounds the start of each process and the wait for /readyz (default 60s).
	StartTimeout time.Duration
	// Address is the IP address kube-apiserver listens on (default 127.0.0.1). Its serving certificate
	// names it, and Config and the kubeconfig use it: an end-to-end test sets a host address that a pod's
	// network namespace can reach.
	Address string
}

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	// Config is an admin (system:masters) client configuration; copy it before changing it.
	Config *rest.Config
	// KubeconfigPath is a kubeconfig file with the same identity, for the real kubectl.
	KubeconfigPath string
	// AssetsDir holds the binaries (KUBEBUILDER_ASSETS).
	AssetsDir string
	// Dir is the private work directory (certificates, kubeconfig); it is removed by Stop.
	Dir string

	env          *envtest.Environment
	clientset    kubernetes.Interface
	startTimeout time.Duration
	mu           sync.Mutex
	stopped      bool
}

// Start starts etcd and kube-apiserver and waits until /readyz answers ok.
func Start(opts Options) (_ *ControlPlane, err error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	if opts.ServiceClusterIPRange == "" {
		opts.ServiceClusterIPRange = "198.18.128.0/20"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	dir, err := os.MkdirTemp("", "egress-controlplane-")
	if err != nil {
		return nil, fmt.Errorf("creating the control plane's directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	certDir := filepath.Join(dir, "apiserver")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the API server's certificate directory: %w", err)
	}

	out := opts.Output
	if out == nil && os.Getenv("KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT") == "true" {
		out = os.Stderr
	}
	// A fixed CertDir (not envtest's own temporary one) keeps the serving certificate, the CA and the
	// service-account key across StopAPIServer/StartAPIServer.
	apiServer := &envtest.APIServer{CertDir: certDir, Out: out, Err: out}
	if opts.Address != "" {
		port, err := freePort(opts.Address)
		if err != nil {
			return nil, err
		}
		apiServer.SecureServing.Address, apiServer.SecureServing.Port = opts.Address, strconv.Itoa(port)
	}
	args := apiServer.Configure()
	args.Set("service-cluster-ip-range", opts.ServiceClusterIPRange)
	// envtest turns the ServiceAccount admission plugin off; a real cluster has it on.
	args.Disable("disable-admission-plugins")
	// Close open watches when stopping instead of waiting for them, so the API server exits in seconds
	// even while informers are connected (StopAPIServer in outage tests).
	args.Set("shutdown-watch-termination-grace-period", "2s")
	for name, values := range opts.APIServerArgs {
		args.Set(name, values...)
	}
	env := &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			APIServer:   apiServer,
			Etcd:        &envtest.Etcd{Out: out, Err: out},
			KubectlPath: filepath.Join(assets, "kubectl"),
		},
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: opts.StartTimeout,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	env.ControlPlane.APIServer.Path = filepath.Join(assets, "kube-apiserver")
	env.ControlPlane.Etcd.Path = filepath.Join(assets, "etcd")
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", assets, err)
	}
	cp := &ControlPlane{Config: cfg, AssetsDir: assets, Dir: dir, env: env, startTimeout: opts.StartTimeout}
	defer func() {
		if err != nil {
			_ = env.Stop()
		}
	}()
	cp.KubeconfigPath = filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(cp.KubeconfigPath, env.KubeConfig, 0o600); err != nil {
		return nil, fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	if cp.clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("admin clientset: %w", err)
	}
	if err := cp.waitReady(); err != nil {
		return nil, err
	}
	return cp, nil
}

// freePort returns a TCP port that is free on address now.
func freePort(address string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(address, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s for kube-apiserver: %w", address, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Clientset returns an admin clientset.
func (cp *ControlPlane) Clientset() kubernetes.Interface { return cp.clientset }

// APIServerURL returns the API server's https URL.
func (cp *ControlPlane) APIServerURL() string { return cp.Config.Host }

// Stop stops kube-apiserver, waits for it to exit, then stops etcd and removes Dir. It is safe to call twice.
func (cp *ControlPlane) Stop() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return nil
	}
	cp.stopped = true
	err := cp.env.Stop() // the API server first, then etcd; each waited for
	return errors.Join(err, os.RemoveAll(cp.Dir))
}

// StopAPIServer stops kube-apiserver (etcd keeps running) and waits for it to exit.
func (cp *ControlPlane) StopAPIServer() error {
	if err := cp.env.ControlPlane.APIServer.Stop(); err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same address with the same
// certificates and keys, and waits for /readyz.
func (cp *ControlPlane) StartAPIServer() error {
	if err := cp.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("restarting kube-apiserver: %w", err)
	}
	return cp.waitReady()
}

// waitReady polls /readyz until it answers ok or StartTimeout passes.
func (cp *ControlPlane) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), cp.startTimeout)
	defer cancel()
	var last error
	for {
		body, err := cp.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("%w: %s", err, body)
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready after %s: %w", cp.startTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
