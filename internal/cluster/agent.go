package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"egress.io/egress/internal/dnstest"
)

// Environment of a process this package starts by re-executing the calling binary (see Main).
const (
	envRole       = "EGRESS_NODE_ROLE"
	envConfig     = "EGRESS_NODE_CONFIG"
	roleAgent     = "agent"
	roleKubelet   = "kubelet"
	envSysctlDir  = "EGRESS_NODE_SYSCTLS"
	listenerFD    = 3 // the host loopback listener, in the agent
	worldNetnsFD  = 4 // the world's network namespace, in the agent
	childNetnsFD  = 3 // the world's network namespace, in a child the agent starts there
	worldDNSTTL   = 30 * time.Second
	stepTimeout   = 2 * time.Minute
	agentLogName  = "agent"
	kubeletBinary = "kubelet"
)

// agentConfig is what Start tells the agent (agent.json in the state directory).
type agentConfig struct {
	StateDir string
	Assets   string
	// Images are OCI tarballs imported into containerd before the kubelet starts.
	Images []string
	// WorldNames are answered by the world's DNS server with WorldIP.
	WorldNames []string
}

// Main runs the node agent, or the kubelet's launcher, when this process was started as one by Start, and
// then exits; otherwise it returns at once. Call it first in main (or TestMain) of every program that
// starts a cluster.
func Main() {
	var err error
	switch os.Getenv(envRole) {
	case "":
		return
	case roleAgent:
		err = runAgent(os.Getenv(envConfig))
	case roleKubelet:
		err = execKubelet(os.Args[1:])
	default:
		err = fmt.Errorf("unknown %s %q", envRole, os.Getenv(envRole))
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", os.Getenv(envRole), err)
	os.Exit(1)
}

// agent is PID 1 of the node's PID namespace.
type agent struct {
	cfg agentConfig
	l   layout
	log *os.File

	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus // started processes, by PID
	early   map[int]syscall.WaitStatus      // reaped before they were registered
}

func (a *agent) logf(format string, args ...any) {
	fmt.Fprintf(a.log, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func runAgent(configPath string) error {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	a := &agent{log: os.Stderr, waiting: map[int]chan syscall.WaitStatus{}, early: map[int]syscall.WaitStatus{}}
	if err := json.Unmarshal(data, &a.cfg); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	a.l = layout{a.cfg.StateDir}
	a.logf("agent pid %d (host pid in %s), starting", os.Getpid(), a.l.agentPID())

	// Reap everything: containerd's shims are re-parented here.
	children := make(chan os.Signal, 16)
	signal.Notify(children, syscall.SIGCHLD)
	go a.reap(children)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	if err := a.mountPrivate(); err != nil {
		return fmt.Errorf("mounts: %w", err)
	}
	if err := a.start(); err != nil {
		a.logf("FAILED: %v", err)
		return err
	}
	a.logf("all started")
	sig := <-stop
	a.logf("%v: stopping (the kernel ends every process of the node with this one)", sig)
	os.Exit(0)
	return nil
}

// mountPrivate gives the node its own mounts: nothing it mounts reaches the host, and /run, /var/lib and
// /var/log (paths no flag moves: shim sockets, pod network namespaces, CNI's cache, container logs) are the
// state directory's.
func (a *agent) mountPrivate() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := unix.Mount("egress-node-run", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting /run: %w", err)
	}
	for _, dir := range []string{a.l.varLib(), a.l.varLog(), filepath.Join(a.l.varLib(), "kubelet")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	for _, b := range [][2]string{{a.l.varLib(), "/var/lib"}, {a.l.varLog(), "/var/log"}, {a.l.conf("resolv.conf"), "/etc/resolv.conf"}} {
		if err := unix.Mount(b[0], b[1], "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s on %s: %w", b[0], b[1], err)
		}
	}
	// The kubelet mounts volumes in a mount namespace of its own (execKubelet); a shared root directory
	// makes them reach containerd and runc here.
	if err := unix.Mount("/var/lib/kubelet", "/var/lib/kubelet", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding /var/lib/kubelet: %w", err)
	}
	if err := unix.Mount("", "/var/lib/kubelet", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("sharing /var/lib/kubelet: %w", err)
	}
	return nil
}

// start brings the node up, in order.
func (a *agent) start() error {
	bin := func(name string) string { return filepath.Join(a.cfg.Assets, name) }
	if err := a.startWorld(); err != nil {
		return err
	}

	if err := a.run("etcd", bin("etcd"), "--name", NodeName, "--data-dir", "/var/lib/etcd",
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", NodeName+"=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn"); err != nil {
		return err
	}
	if err := a.waitHTTP("etcd", "http://127.0.0.1:2379/health", nil); err != nil {
		return err
	}

	pki := a.l.pki
	if err := a.run("kube-apiserver", bin("kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--advertise-address="+NodeIP, "--bind-address=0.0.0.0", "--secure-port="+strconv.Itoa(apiServerPort),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--client-ca-file="+pki("ca.pem"),
		"--tls-cert-file="+pki("apiserver.pem"), "--tls-private-key-file="+pki("apiserver.key"),
		"--service-account-key-file="+pki("sa.pub"), "--service-account-signing-key-file="+pki("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc."+ClusterDomain,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate="+pki("apiserver-kubelet-client.pem"),
		"--kubelet-client-key="+pki("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+pki("ca.pem"),
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true", "--endpoint-reconciler-type=lease", "--profiling=false"); err != nil {
		return err
	}
	go a.proxyAPIServer()

	if err := a.run("containerd", bin("containerd"), "--config", a.l.conf("containerd.toml")); err != nil {
		return err
	}
	if err := a.waitFor("containerd's socket", func() bool {
		_, err := a.output(bin("ctr"), "--address", a.l.containerdSock(), "version")
		return err == nil
	}); err != nil {
		return err
	}
	for _, image := range a.cfg.Images {
		if _, err := a.output(bin("ctr"), "--address", a.l.containerdSock(), "-n", "k8s.io", "images", "import", image); err != nil {
			return fmt.Errorf("importing %s: %w", image, err)
		}
	}
	a.logf("imported %d images", len(a.cfg.Images))

	client, err := a.adminHTTPClient()
	if err != nil {
		return err
	}
	if err := a.waitHTTP("kube-apiserver", "https://127.0.0.1:6443/readyz", client); err != nil {
		return err
	}

	if err := a.runKubelet(bin(kubeletBinary)); err != nil {
		return err
	}
	kcm := a.l.kubeconfig("kube-controller-manager")
	if err := a.run("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+kcm, "--authentication-kubeconfig="+kcm, "--authorization-kubeconfig="+kcm,
		"--service-account-private-key-file="+pki("sa.key"), "--root-ca-file="+pki("ca.pem"),
		"--use-service-account-credentials=true", "--leader-elect=false", "--bind-address=127.0.0.1",
		"--service-cluster-ip-range="+ServiceCIDR, "--cluster-cidr="+PodCIDR, "--allocate-node-cidrs=false",
		"--profiling=false"); err != nil {
		return err
	}
	scheduler := a.l.kubeconfig("kube-scheduler")
	if err := a.run("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+scheduler, "--authentication-kubeconfig="+scheduler, "--authorization-kubeconfig="+scheduler,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--profiling=false"); err != nil {
		return err
	}
	return a.run("kube-proxy", bin("kube-proxy"), "--config="+a.l.conf("kube-proxy.yaml"))
}

// output runs a short command to completion and returns its output. (It must not use exec.Cmd.Wait: the
// reaper collects every child, so the command's status comes from the reaper.)
func (a *agent) output(argv ...string) (string, error) {
	out, err := os.CreateTemp("", "egress-node-cmd-")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "PATH="+a.cfg.Assets+":"+os.Getenv("PATH"))
	done, err := a.startWatched(cmd)
	if err != nil {
		return "", err
	}
	var status syscall.WaitStatus
	select {
	case status = <-done:
	case <-time.After(stepTimeout):
		_ = cmd.Process.Kill()
		status = <-done
	}
	data, _ := os.ReadFile(out.Name())
	if !status.Exited() || status.ExitStatus() != 0 {
		return string(data), fmt.Errorf("%s: %s: %s", strings.Join(argv, " "), exitText(status), strings.TrimSpace(string(data)))
	}
	return string(data), nil
}

// startWatched starts cmd and returns where the reaper delivers its exit status.
func (a *agent) startWatched(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	done := make(chan syscall.WaitStatus, 1)
	if status, ok := a.early[pid]; ok {
		delete(a.early, pid)
		done <- status
	} else {
		a.waiting[pid] = done
	}
	return done, nil
}

// run starts a component with its output in logs/NAME.log and watches it: an exit is logged.
func (a *agent) run(name string, argv ...string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	return a.startCmd(name, cmd)
}

func (a *agent) startCmd(name string, cmd *exec.Cmd) error {
	out, err := os.OpenFile(a.l.log(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.Env == nil {
		cmd.Env = append(os.Environ(), "PATH="+a.cfg.Assets+":"+os.Getenv("PATH"))
	}
	done, err := a.startWatched(cmd)
	if err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	a.logf("%s started, pid %d", name, pid)
	go func() {
		status := <-done
		a.logf("%s (pid %d) exited: %v (see %s)", name, pid, exitText(status), a.l.log(name))
	}()
	return nil
}

func exitText(s syscall.WaitStatus) string {
	if s.Signaled() {
		return "killed by " + s.Signal().String()
	}
	return "exit status " + strconv.Itoa(s.ExitStatus())
}

// reap collects every child that exits, ours or re-parented here.
func (a *agent) reap(sigchld <-chan os.Signal) {
	for range sigchld {
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			a.mu.Lock()
			if ch, ok := a.waiting[pid]; ok {
				delete(a.waiting, pid)
				ch <- status
			} else {
				a.early[pid] = status
			}
			a.mu.Unlock()
		}
	}
}

// runKubelet starts the kubelet through execKubelet, in a mount namespace of its own.
func (a *agent) runKubelet(kubelet string) error {
	values := map[string]string{
		// What the kubelet would set host-wide (setupKernelTunables): it reads these instead.
		"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10", "kernel/panic_on_oops": "1",
		"kernel/keys/root_maxkeys": "1000000", "kernel/keys/root_maxbytes": "25000000",
	}
	for name, value := range values {
		path := a.l.sysctl(name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, kubelet,
		"--config="+a.l.conf("kubelet.yaml"), "--kubeconfig="+a.l.kubeconfig("kubelet"),
		"--hostname-override="+NodeName, "--node-ip="+NodeIP, "--v=1")
	cmd.Env = append(os.Environ(), envRole+"="+roleKubelet, envSysctlDir+"="+a.l.path("sysctl"),
		"PATH="+a.cfg.Assets+":"+os.Getenv("PATH"))
	// A new mount namespace with the node's mounts and their propagation (shared /var/lib/kubelet).
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	return a.startCmd("kubelet", cmd)
}

// execKubelet runs in the kubelet's mount namespace: it binds the files of EGRESS_NODE_SYSCTLS over their
// /proc/sys entries, so that the kubelet reads the values it wants and never writes the host's, and then
// becomes the kubelet. (Doing this in the node's own mount namespace would stop runc from mounting /proc in
// containers: the kernel refuses a proc mount while an overmounted one is visible.)
func execKubelet(argv []string) error {
	dir := os.Getenv(envSysctlDir)
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if err := unix.Mount(path, filepath.Join("/proc/sys", rel), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s over /proc/sys/%s: %w", path, rel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envRole+"=") && !strings.HasPrefix(kv, envSysctlDir+"=") {
			env = append(env, kv)
		}
	}
	return syscall.Exec(argv[0], argv, env)
}

// startWorld serves the world's DNS (in this process, on sockets opened in the world's namespace) and runs
// its nginx there.
func (a *agent) startWorld() error {
	world := os.NewFile(worldNetnsFD, "world-netns")
	records := map[string][]netip.Addr{}
	for _, name := range a.cfg.WorldNames {
		records[name] = []netip.Addr{netip.MustParseAddr(WorldIP)}
	}
	dns := dnstest.New(records, worldDNSTTL)
	if err := inNetns(world, func() error { return dns.Listen(WorldIP + ":53") }); err != nil {
		return fmt.Errorf("the world's DNS server: %w", err)
	}
	conf := a.l.world("nginx.conf")
	cmd := exec.Command("nsenter", "--net=/proc/self/fd/"+strconv.Itoa(childNetnsFD), "--",
		"nginx", "-p", a.l.world(""), "-c", conf)
	cmd.ExtraFiles = []*os.File{world}
	if err := a.startCmd("world-nginx", cmd); err != nil {
		return err
	}
	return a.waitFor("the world's nginx", func() bool {
		var ok bool
		_ = inNetns(world, func() error {
			conn, err := net.DialTimeout("tcp", WorldIP+":80", time.Second)
			if err == nil {
				conn.Close()
				ok = true
			}
			return nil
		})
		return ok
	})
}

// inNetns runs fn on a thread inside the network namespace of file ns; sockets fn opens stay there.
func inNetns(ns *os.File, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer origin.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and is discarded with this goroutine.
			done <- errors.Join(fnErr, fmt.Errorf("leaving the network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- fnErr
	}()
	return <-done
}

// proxyAPIServer forwards connections from the host's loopback listener (opened by Start in the host's
// network namespace) to the API server.
func (a *agent) proxyAPIServer() {
	ln, err := net.FileListener(os.NewFile(listenerFD, "host-listener"))
	if err != nil {
		a.logf("host listener: %v", err)
		return
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			a.logf("host listener: %v", err)
			return
		}
		go func() {
			defer conn.Close()
			upstream, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(apiServerPort), 5*time.Second)
			if err != nil {
				return
			}
			defer upstream.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(upstream, conn); upstream.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(conn, upstream); conn.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func (a *agent) adminHTTPClient() (*http.Client, error) {
	caPEM, err := os.ReadFile(a.l.pki("ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(a.l.pki("admin.pem"), a.l.pki("admin.key"))
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

func (a *agent) waitHTTP(what, url string, client *http.Client) error {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	return a.waitFor(what, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (a *agent) waitFor(what string, ok func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not ready after %v", what, stepTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
	a.logf("%s ready", what)
	return nil
}
