package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// EnvAssets names the directory holding every binary the node runs (hack/build-node.sh prints it).
const EnvAssets = "EGRESS_NODE_ASSETS"

// assetBinaries are the programs the node runs from the assets directory.
var assetBinaries = []string{
	"etcd", "kube-apiserver", "kubectl", "kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler",
	"containerd", "ctr", "containerd-shim-runc-v2", "coredns",
}

// hostCommands are the Debian programs the node needs (hack/install-deps.sh installs them).
var hostCommands = []string{"ip", "nsenter", "iptables", "runc", "nginx"}

// cniPlugin is Debian's CNI plugin the node's network uses (package containernetworking-plugins).
const cniPlugin = "/usr/lib/cni/ptp"

// Options configure Start.
type Options struct {
	// Name names the cluster's namespaces, cgroups and state directory (default: t<pid>, unique per
	// process). A Detached cluster is found by name later (Attach).
	Name string
	// Assets is the directory of binaries (default $EGRESS_NODE_ASSETS).
	Assets string
	// Images are OCI image tarballs imported into containerd before the kubelet starts (more can be
	// imported later with ImportImages).
	Images []string
	// WorldNames are the names the world's DNS server answers with WorldIP and nginx serves, over HTTP and
	// over HTTPS with a certificate of the world's CA (WorldCA).
	WorldNames []string
	// Detached leaves the node running when this process exits (make cluster-up); otherwise it is killed
	// with this process.
	Detached bool
	// HostPort is the host loopback port that reaches the API server (default: a free one).
	HostPort int
	// Progress receives one line per step (default: discarded).
	Progress io.Writer
	// Timeout bounds Start (default 3 minutes).
	Timeout time.Duration
}

// Cluster is a running node.
type Cluster struct {
	Name string
	// Dir is the state directory.
	Dir string
	// Config is an admin (system:masters) client configuration; Client uses it.
	Config *rest.Config
	Client kubernetes.Interface
	// Assets holds the binaries (kubectl, ctr, ...).
	Assets string
	// NodeNetns and WorldNetns are the network namespaces (for `ip netns exec`).
	NodeNetns, WorldNetns string
	// WorldCA is the PEM file of the CA that signed the world's certificates.
	WorldCA string
	// Started is how long Start took, up to a Ready node with cluster DNS available.
	Started time.Duration

	layout   layout
	agent    process
	agentCmd *exec.Cmd
	exited   chan struct{}
	progress io.Writer
}

// AssetsDir returns $EGRESS_NODE_ASSETS after checking it holds every binary; the error says what is missing
// and how to build it.
func AssetsDir() (string, error) {
	dir := os.Getenv(EnvAssets)
	if dir == "" {
		return "", errors.New(EnvAssets + " is not set: run `make test` or " +
			"`export " + EnvAssets + "=$(hack/build-node.sh)` (from the repository root)")
	}
	return dir, checkAssets(dir)
}

func checkAssets(dir string) error {
	var missing []string
	for _, name := range assetBinaries {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	for _, name := range hostCommands {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name+" (Debian)")
		}
	}
	if _, err := os.Stat(cniPlugin); err != nil {
		missing = append(missing, cniPlugin+" (Debian containernetworking-plugins)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the node needs %v: run hack/install-deps.sh and `export %s=$(hack/build-node.sh)` (from the repository root); %s=%s",
			missing, EnvAssets, EnvAssets, dir)
	}
	return nil
}

func (c *Cluster) logf(format string, args ...any) {
	if c.progress != nil {
		fmt.Fprintf(c.progress, format+"\n", args...)
	}
}

// Start sweeps dead clusters, then brings a node up and waits until it is Ready with cluster DNS available.
// On error nothing is left behind.
func Start(opts Options) (_ *Cluster, err error) {
	begin := time.Now()
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("a node needs root (namespaces, cgroups, mounts); euid is %d", os.Geteuid())
	}
	if opts.Assets == "" {
		if opts.Assets, err = AssetsDir(); err != nil {
			return nil, err
		}
	} else if err := checkAssets(opts.Assets); err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = "t" + strconv.Itoa(os.Getpid())
	}
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}
	if err := Sweep(); err != nil {
		return nil, err
	}
	c := &Cluster{Name: opts.Name, Dir: stateDir(opts.Name), Assets: opts.Assets, progress: opts.Progress}
	c.layout = layout{c.Dir}
	c.NodeNetns, c.WorldNetns = netnsNames(opts.Name)
	if netnsExists(c.NodeNetns) || inUse(opts.Name) {
		return nil, fmt.Errorf("a cluster named %s is running (stop it first: make cluster-down)", opts.Name)
	}
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
	}()
	if err := os.MkdirAll(c.layout.logs(), 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(c.Dir, 0o755); err != nil {
		return nil, err
	}
	self, err := processOf(os.Getpid())
	if err != nil {
		return nil, err
	}
	if err := writeProcess(c.layout.owner(), self); err != nil {
		return nil, err
	}

	listener, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(opts.HostPort))
	if err != nil {
		return nil, fmt.Errorf("the API server's host port: %w", err)
	}
	defer listener.Close()
	hostPort := listener.Addr().(*net.TCPAddr).Port
	if err := writePKI(c.layout, hostPort); err != nil {
		return nil, err
	}
	root, err := cgroupRoot(opts.Name)
	if err != nil {
		return nil, err
	}
	created, err := createCgroups(root)
	if recordErr := recordCgroups(c.layout, root, created); err == nil {
		err = recordErr
	}
	if err != nil {
		return nil, err
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return nil, err
	}
	nodeImages, err := buildNodeImages(c.layout, opts.Assets)
	if err != nil {
		return nil, err
	}
	if err := writeConfigs(newConfigData(c.layout, runc, root, pauseRef)); err != nil {
		return nil, err
	}
	if c.WorldCA, err = writeWorld(c.layout, opts.WorldNames); err != nil {
		return nil, err
	}
	if err := createNetwork(opts.Name); err != nil {
		return nil, err
	}
	c.logf("node: namespaces %s and %s, state in %s", c.NodeNetns, c.WorldNetns, c.Dir)

	cfg := agentConfig{StateDir: c.Dir, Assets: opts.Assets, Images: append(nodeImages, opts.Images...), WorldNames: opts.WorldNames}
	if err := c.startAgent(cfg, listener, opts.Detached); err != nil {
		return nil, err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig()); err != nil {
		return nil, err
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	c.Started = time.Since(begin)
	c.logf("node: Ready with cluster DNS %s after %v", DNSServiceIP, c.Started.Round(100*time.Millisecond))
	return c, nil
}

// startAgent starts the agent: PID 1 of a new PID namespace, in a new mount namespace, inside the node's
// network namespace, with the host listener and the world's namespace as descriptors 3 and 4.
func (c *Cluster) startAgent(cfg agentConfig, listener net.Listener, detached bool) error {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.layout.agentConfig(), data, 0o644); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	lnFile, err := listener.(*net.TCPListener).File()
	if err != nil {
		return err
	}
	defer lnFile.Close()
	world, err := os.Open(filepath.Join("/run/netns", c.WorldNetns))
	if err != nil {
		return err
	}
	defer world.Close()
	out, err := os.OpenFile(c.layout.log(agentLogName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command("nsenter", "--net="+filepath.Join("/run/netns", c.NodeNetns), "--", self)
	cmd.Env = append(os.Environ(), envRole+"="+roleAgent, envConfig+"="+c.layout.agentConfig())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, out, out
	cmd.ExtraFiles = []*os.File{lnFile, world}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	if detached {
		cmd.SysProcAttr.Setsid = true
	} else {
		// The node dies with this process, even when it is killed with SIGKILL.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the node's agent: %w", err)
	}
	c.agentCmd = cmd
	c.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(c.exited) }()
	if c.agent, err = processOf(cmd.Process.Pid); err != nil {
		return err
	}
	return writeProcess(c.layout.agentPID(), c.agent)
}

// waitReady waits for the API server, a Ready node, cluster DNS and the default service account.
func (c *Cluster) waitReady(ctx context.Context) error {
	steps := []struct {
		what string
		ok   func() bool
	}{
		{"kube-apiserver /readyz", func() bool {
			_, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err == nil
		}},
		{"node " + NodeName + " Ready", func() bool {
			node, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
			if err != nil {
				return false
			}
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					return cond.Status == corev1.ConditionTrue
				}
			}
			return false
		}},
	}
	for _, step := range steps {
		if err := c.waitFor(ctx, step.what, step.ok); err != nil {
			return err
		}
		c.logf("node: %s", step.what)
	}
	if err := c.applyAddons(ctx); err != nil {
		return err
	}
	for _, step := range []struct {
		what string
		ok   func() bool
	}{
		{"cluster DNS (CoreDNS) available", func() bool {
			d, err := c.Client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
			return err == nil && d.Status.AvailableReplicas > 0
		}},
		{"the default service account", func() bool {
			_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			return err == nil
		}},
	} {
		if err := c.waitFor(ctx, step.what, step.ok); err != nil {
			return err
		}
		c.logf("node: %s", step.what)
	}
	return nil
}

// waitFor polls ok until it holds, the node's agent exits or ctx ends; the error quotes the agent's log.
func (c *Cluster) waitFor(ctx context.Context, what string, ok func() bool) error {
	for !ok() {
		select {
		case <-c.exited:
			return fmt.Errorf("waiting for %s: the node's agent exited:\n%s", what, c.Diagnostics())
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w\n%s", what, ctx.Err(), c.Diagnostics())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// Diagnostics returns the end of the agent's log and the fatal lines of the components' logs.
func (c *Cluster) Diagnostics() string {
	var b strings.Builder
	if data, err := os.ReadFile(c.layout.log(agentLogName)); err == nil {
		b.WriteString("agent log (" + c.layout.log(agentLogName) + "):\n" + tail(string(data), 30))
	}
	entries, _ := os.ReadDir(c.layout.logs())
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(c.layout.logs(), e.Name()))
		if err != nil {
			continue
		}
		var fatal []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "F") || strings.HasPrefix(line, "E") || strings.HasPrefix(line, "panic") || strings.Contains(line, "level=fatal") {
				fatal = append(fatal, line)
			}
		}
		if len(fatal) > 0 {
			b.WriteString("\n" + e.Name() + ":\n" + tail(strings.Join(fatal, "\n"), 8))
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// Attach returns the running cluster called name (started Detached, e.g. by make cluster-up).
func Attach(name string) (*Cluster, error) {
	c := &Cluster{Name: name, Dir: stateDir(name)}
	c.layout = layout{c.Dir}
	c.NodeNetns, c.WorldNetns = netnsNames(name)
	agent, err := readProcess(c.layout.agentPID())
	if err != nil || !agent.alive() {
		return nil, fmt.Errorf("no cluster %s is running (make cluster-up starts one)", name)
	}
	c.agent = agent
	var cfg agentConfig
	if data, err := os.ReadFile(c.layout.agentConfig()); err == nil {
		_ = json.Unmarshal(data, &cfg)
	}
	c.Assets = cfg.Assets
	c.WorldCA = c.layout.world("ca.pem")
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig()); err != nil {
		return nil, err
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop kills the node (every process of it goes with its agent) and removes its namespaces, cgroups and
// state directory. It is safe to call twice.
func (c *Cluster) Stop() error {
	if c.agentCmd != nil && c.agentCmd.Process != nil {
		_ = c.agentCmd.Process.Signal(syscall.SIGKILL)
		<-c.exited
		c.agentCmd = nil
	} else if c.agent.alive() {
		_ = syscall.Kill(c.agent.PID, syscall.SIGKILL)
		for i := 0; i < 300 && c.agent.alive(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return teardown(c.Name)
}
