package kubelet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"egress.io/egress/internal/netnstest"
)

// Options say where and how the pod runs.
type Options struct {
	// Netns is the pod's network namespace, created by the caller.
	Netns string
	// PodIP is the pod's address as the node (this host) reaches it: probes go there.
	PodIP netip.Addr
	// Dir is a work directory readable by every UID, where volumes are materialised.
	Dir string
	// Binaries maps each container image to the local executable that stands in for its entrypoint.
	Binaries map[string]string
	// ImageEnv is the environment an image sets (a Dockerfile's ENV), by image: e.g. SSL_CERT_FILE for an
	// image whose trust store holds a test CA.
	ImageEnv map[string][]string
	// Client creates service-account tokens and reads config maps and secrets (an admin client).
	Client kubernetes.Interface
	// APIServerURL is the API server's address as reachable from the pod; APIServerServerName, if set, is
	// the name its certificate is checked against.
	APIServerURL, APIServerServerName string
	// Output returns where a container's stdout and stderr go (default: discarded).
	Output func(container string) io.Writer
	// InitTimeout bounds each run-to-completion init container (default 30s).
	InitTimeout time.Duration
}

// Pod is one pod being run.
type Pod struct {
	spec        *corev1.Pod
	opts        Options
	volumes     map[string]string
	running     map[string]*exec.Cmd
	exited      map[string]chan struct{}
	probeClient *http.Client
}

// Start runs the pod's init containers in order as the kubelet does: a regular one to completion (failing t
// if it exits non-zero), a native sidecar (restartPolicy Always) in the background, moving on once its
// startup probe succeeds. It does not start the app containers; run the app with Command.
func Start(t T, pod *corev1.Pod, opts Options) *Pod {
	t.Helper()
	if opts.InitTimeout == 0 {
		opts.InitTimeout = 30 * time.Second
	}
	if opts.Output == nil {
		opts.Output = func(string) io.Writer { return io.Discard }
	}
	p := &Pod{
		spec: pod.DeepCopy(), opts: opts,
		running: map[string]*exec.Cmd{}, exited: map[string]chan struct{}{},
		probeClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	t.Cleanup(p.stopAll)
	ctx := context.Background()
	var err error
	if p.volumes, err = p.materializeVolumes(ctx); err != nil {
		t.Fatalf("pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	for i := range p.spec.Spec.InitContainers {
		c := &p.spec.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			if err := p.startSidecar(ctx, c); err != nil {
				t.Fatalf("pod %s/%s: native sidecar %s: %v", pod.Namespace, pod.Name, c.Name, err)
			}
			continue
		}
		cmd, err := p.command(c, nil)
		if err != nil {
			t.Fatalf("pod %s/%s: init container %s: %v", pod.Namespace, pod.Name, c.Name, err)
		}
		out := &limitedBuffer{max: 64 << 10}
		// One writer for both streams: exec then never calls it from two goroutines at once.
		w := io.MultiWriter(out, opts.Output(c.Name))
		cmd.Stdout, cmd.Stderr = w, w
		if err := runWithTimeout(cmd, opts.InitTimeout); err != nil {
			t.Fatalf("pod %s/%s: init container %s: %v\n%s", pod.Namespace, pod.Name, c.Name, err, out.b)
		}
	}
	return p
}

// startSidecar starts a native sidecar and waits for its startup probe (or, without one, for nothing).
func (p *Pod) startSidecar(ctx context.Context, c *corev1.Container) error {
	if err := p.StartContainer(c.Name); err != nil {
		return err
	}
	if c.StartupProbe != nil {
		return p.waitProbe(ctx, c, c.StartupProbe)
	}
	return nil
}

// StartContainer starts the named container (init or regular) in the background with its spec's command,
// args, environment and user.
func (p *Pod) StartContainer(name string) error {
	c := p.container(name)
	if c == nil {
		return fmt.Errorf("no container %s", name)
	}
	cmd, err := p.command(c, nil)
	if err != nil {
		return err
	}
	w := p.opts.Output(name)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.running[name], p.exited[name] = cmd, done
	return nil
}

// WaitReady polls the container's readiness probe as its spec defines it, failing t if it never succeeds.
func (p *Pod) WaitReady(t T, name string) {
	t.Helper()
	c := p.container(name)
	if c == nil || c.ReadinessProbe == nil {
		t.Fatalf("container %s has no readiness probe", name)
	}
	if err := p.waitProbe(context.Background(), c, c.ReadinessProbe); err != nil {
		t.Fatalf("readiness of %s: %v", name, err)
	}
}

// Ready runs the container's readiness probe once.
func (p *Pod) Ready(name string) error {
	c := p.container(name)
	if c == nil || c.ReadinessProbe == nil {
		return fmt.Errorf("container %s has no readiness probe", name)
	}
	return p.probeOnce(context.Background(), c, c.ReadinessProbe)
}

// Kill sends SIGKILL to a running container and waits for it to exit.
func (p *Pod) Kill(name string) error {
	cmd, ok := p.running[name]
	if !ok {
		return fmt.Errorf("container %s is not running", name)
	}
	// `ip netns exec` and setpriv exec the binary, so the process is the container itself.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.exited[name]
	delete(p.running, name)
	return nil
}

// Command returns a command that runs name with args in the pod as the named container's user, with the
// container's environment: "the app".
func (p *Pod) Command(container, name string, args ...string) (*exec.Cmd, error) {
	c := p.container(container)
	if c == nil {
		return nil, fmt.Errorf("no container %s", container)
	}
	return p.command(c, append([]string{name}, args...))
}

// UID returns the user the named container runs as.
func (p *Pod) UID(container string) int64 {
	uid, _ := p.ids(p.container(container))
	return uid
}

func (p *Pod) command(c *corev1.Container, argv []string) (*exec.Cmd, error) {
	env, vars, err := containerEnv(p.spec, p.opts.PodIP.String(), c)
	if err != nil {
		return nil, err
	}
	for i, kv := range env {
		env[i] = remap(kv, c.VolumeMounts, p.volumes)
	}
	if argv == nil {
		argv = append(append([]string{}, c.Command...), c.Args...)
		if len(c.Command) == 0 {
			bin, ok := p.opts.Binaries[c.Image]
			if !ok {
				return nil, fmt.Errorf("no local binary for image %q", c.Image)
			}
			argv = append([]string{bin}, argv...)
		}
		for i := range argv {
			argv[i] = remap(expand(argv[i], vars), c.VolumeMounts, p.volumes)
		}
	}
	if kubeconfig, err := p.kubeconfigFor(c); err != nil {
		return nil, err
	} else if kubeconfig != "" {
		env = append(env, "KUBECONFIG="+kubeconfig)
	}
	uid, gid := p.ids(c)
	cmd := netnstest.Command(p.opts.Netns, int(uid), int(gid), argv[0], argv[1:]...)
	base := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=/"}, p.opts.ImageEnv[c.Image]...)
	cmd.Env = append(base, env...)
	return cmd, nil
}

// ids returns the container's runAsUser and runAsGroup, falling back to the pod's, then to root.
func (p *Pod) ids(c *corev1.Container) (uid, gid int64) {
	if psc := p.spec.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			uid = *psc.RunAsUser
		}
		if psc.RunAsGroup != nil {
			gid = *psc.RunAsGroup
		}
	}
	if c != nil && c.SecurityContext != nil {
		if c.SecurityContext.RunAsUser != nil {
			uid = *c.SecurityContext.RunAsUser
		}
		if c.SecurityContext.RunAsGroup != nil {
			gid = *c.SecurityContext.RunAsGroup
		}
	}
	return uid, gid
}

// kubeconfigFor writes a kubeconfig from the container's service-account token mount, standing in for the
// in-cluster variables (whose token path cannot be remapped).
func (p *Pod) kubeconfigFor(c *corev1.Container) (string, error) {
	for _, m := range c.VolumeMounts {
		if m.MountPath != serviceAccountMountPath || p.opts.APIServerURL == "" {
			continue
		}
		dir := p.volumes[m.Name]
		path := filepath.Join(p.opts.Dir, c.Name+".kubeconfig")
		serverName := ""
		if p.opts.APIServerServerName != "" {
			serverName = "    tls-server-name: " + p.opts.APIServerServerName + "\n"
		}
		content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: cluster
  cluster:
    server: %s
    certificate-authority: %s
%susers:
- name: pod
  user:
    tokenFile: %s
contexts:
- name: pod
  context: {cluster: cluster, user: pod, namespace: %s}
current-context: pod
`, p.opts.APIServerURL, filepath.Join(dir, "ca.crt"), serverName, filepath.Join(dir, "token"), p.spec.Namespace)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return "", err
		}
		return path, nil
	}
	return "", nil
}

func (p *Pod) container(name string) *corev1.Container {
	for _, list := range [][]corev1.Container{p.spec.Spec.InitContainers, p.spec.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func (p *Pod) stopAll() {
	for name, cmd := range p.running {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited[name]
	}
}

func runWithTimeout(cmd *exec.Cmd, timeout time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("did not finish within %v", timeout)
	}
}

// limitedBuffer keeps the first max bytes written, for error messages.
type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Spec returns the pod being run (do not modify it).
func (p *Pod) Spec() *corev1.Pod { return p.spec }
