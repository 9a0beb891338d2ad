// Package env builds the benchmark's world: a "pod" network namespace with egress-init's interception
// rules, joined by a veth to a "world" namespace that has an nginx origin (HTTP and HTTPS, a throwaway
// test CA) and a DNS server, all from internal/netnstest, plus the binaries every UID can run. Close
// stops every process it started and deletes the namespaces; it is safe to call after a partial New.
//
// Traffic never leaves these namespaces: the pod routes 198.18.0.0/15 (and 2001:db8::/32) to the world,
// plus the egress.local sentinel 240.0.0.1, which egress-init's rules redirect to loopback before any
// packet is sent; the world has no route anywhere.
package env

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"egress.io/egress/hack/bench/internal/proc"
	"egress.io/egress/internal/netnstest"
)

// Identities and addresses of the benchmark.
const (
	AppUID     = 1000         // the app: its TCP is intercepted
	SidecarUID = 2555         // the sidecar and the peer proxies: their traffic leaves untouched
	WorldIP    = "198.18.0.2" // origin and DNS
	SentinelIP = "240.0.0.1"  // what the sidecar's DNS proxy answers for NAME.egress.local
	OriginName = "api.example.test"
	ReloadName = "reload.example.test" // allowed and denied in turn by the reload benchmark
)

// OriginNames are the names the origin's certificate, DNS and hosts file know; all are WorldIP.
var OriginNames = []string{OriginName, ReloadName}

// Options configure New.
type Options struct {
	Cores       int   // worker processes/threads of nginx and haproxy, wrk threads
	BigFileSize int64 // size of the origin's /big
	OriginHTTP2 bool  // whether the origin offers HTTP/2 over TLS (ALPN)
	Binaries    []string
	Log         io.Writer // progress
}

// Env is the running world.
type Env struct {
	Pair  *netnstest.Pair
	Dir   string            // work directory, readable by every UID
	Bin   map[string]string // built binaries by name
	Certs Certs
	Procs *proc.Group

	log      io.Writer
	redirect int // capture port egress-init currently redirects to
}

// New builds the world. On error it has already cleaned up after itself.
func New(ctx context.Context, opts Options) (e *Env, err error) {
	e = &Env{log: opts.Log}
	if e.log == nil {
		e.log = io.Discard
	}
	defer func() {
		if err != nil {
			e.Close()
			e = nil
		}
	}()
	if e.Dir, err = netnstest.TempDir("bench-"); err != nil { // swept once this process is gone
		return e, fmt.Errorf("work directory: %w", err)
	}
	if err = os.Chmod(e.Dir, 0o755); err != nil {
		return e, fmt.Errorf("work directory: %w", err)
	}
	e.Procs = proc.NewGroup(e.Dir)

	e.logf("building %s", strings.Join(opts.Binaries, ", "))
	if e.Bin, err = build(filepath.Join(e.Dir, "bin"), opts.Binaries...); err != nil {
		return e, err
	}
	if err = ctx.Err(); err != nil {
		return e, err
	}
	if e.Certs, err = writeCerts(e.Dir, OriginNames); err != nil {
		return e, err
	}

	e.logf("creating the pod and world namespaces")
	if e.Pair, err = netnstest.CreatePair(); err != nil {
		return e, err
	}
	if err = e.configureNamespaces(); err != nil {
		return e, err
	}
	e.logf("starting the origin (nginx, testdns) in %s", e.Pair.World)
	if err = e.startWorld(opts); err != nil {
		return e, err
	}
	return e, ctx.Err()
}

// configureNamespaces adds the sentinel route, resolver files and socket tunables of the pod.
func (e *Env) configureNamespaces() error {
	steps := [][]string{
		{"ip", "-n", e.Pair.Pod, "route", "add", SentinelIP + "/32", "via", WorldIP},
		// Per-namespace tunables: many short upstream connections (the proof-of-concept nginx opens
		// one per request) must not run out of ports, and listen backlogs must hold 5,000 connects.
		{"ip", "netns", "exec", e.Pair.Pod, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"},
		{"ip", "netns", "exec", e.Pair.Pod, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"},
		{"ip", "netns", "exec", e.Pair.Pod, "sysctl", "-qw", "net.core.somaxconn=8192"},
		{"ip", "netns", "exec", e.Pair.World, "sysctl", "-qw", "net.core.somaxconn=8192"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	// `ip netns exec` bind-mounts /etc/netns/POD/* over /etc: every process in the pod resolves the
	// origin's names from this hosts file (so no contender pays for DNS in the measurements), and
	// nginx's resolver and libc fall back to the world's DNS server.
	etc := e.etcDir()
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return fmt.Errorf("pod resolver files: %w", err)
	}
	hosts := "127.0.0.1 localhost\n::1 localhost\n" + WorldIP + " " + strings.Join(OriginNames, " ") + "\n"
	for name, content := range map[string]string{"hosts": hosts, "resolv.conf": "nameserver " + WorldIP + "\n"} {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("pod resolver files: %w", err)
		}
	}
	return nil
}

func (e *Env) etcDir() string { return filepath.Join("/etc/netns", e.Pair.Pod) }

// Close stops every process, deletes the namespaces, the pod's /etc/netns files and the work directory
// (unless keep), and returns what failed.
func (e *Env) Close() error { return e.close(false) }

// CloseKeep is Close but leaves the work directory (logs, configs) for inspection.
func (e *Env) CloseKeep() error { return e.close(true) }

func (e *Env) close(keep bool) error {
	if e.Procs != nil {
		e.Procs.StopAll(3 * time.Second)
	}
	var errs []error
	if e.Pair != nil {
		errs = append(errs, os.RemoveAll(e.etcDir()), e.Pair.Remove())
	}
	if e.Dir != "" && !keep {
		errs = append(errs, os.RemoveAll(e.Dir))
	}
	return errors.Join(errs...)
}

// Redirect points egress-init's capture redirect at port (re-running egress-init reconciles its chains
// to exactly the new plan), unless it already points there.
func (e *Env) Redirect(port int) error {
	if e.redirect == port {
		return nil
	}
	cmd := netnstest.Command(e.Pair.Pod, 0, 0, e.Bin["egress-init"], "--capture-port", strconv.Itoa(port))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("egress-init --capture-port %d: %w: %s", port, err, out)
	}
	e.redirect = port
	return nil
}

// App returns a command run in the pod as the app (intercepted).
func (e *Env) App(ctx context.Context, name string, args ...string) *exec.Cmd {
	return e.podCommand(ctx, AppUID, name, args...)
}

// Bypass returns a command run in the pod as the sidecar's UID (not intercepted): the direct baseline
// and the peer proxies.
func (e *Env) Bypass(ctx context.Context, name string, args ...string) *exec.Cmd {
	return e.podCommand(ctx, SidecarUID, name, args...)
}

func (e *Env) podCommand(ctx context.Context, uid int, name string, args ...string) *exec.Cmd {
	c := netnstest.Command(e.Pair.Pod, uid, uid, name, args...)
	cmd := exec.CommandContext(ctx, c.Path, c.Args[1:]...)
	cmd.Env = c.Env
	return cmd
}

// OwnedDir creates dir under the work directory owned by the sidecar's UID, for a contender's files.
func (e *Env) OwnedDir(name string) (string, error) {
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	if err := os.Chown(dir, SidecarUID, SidecarUID); err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	return dir, nil
}

// DialPod connects from inside the pod namespace as root (loopback is never intercepted): for the
// admin endpoints and readiness checks.
func (e *Env) DialPod(ctx context.Context, network, addr string) (net.Conn, error) {
	return e.dialIn(ctx, e.Pair.Pod, network, addr)
}

func (e *Env) dialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := netnstest.Do(ns, func() (err error) {
		// One literal address: the socket is created on this goroutine, in ns.
		d := net.Dialer{Timeout: 2 * time.Second}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

func (e *Env) canDial(ns, addr string) bool {
	c, err := e.dialIn(context.Background(), ns, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// CanDialPod reports whether something in the pod accepts connections at addr.
func (e *Env) CanDialPod(addr string) bool { return e.canDial(e.Pair.Pod, addr) }

// PodHTTP returns an HTTP client whose connections start in the pod namespace, with a 5s timeout.
func (e *Env) PodHTTP() *http.Client { return e.PodHTTPTimeout(5 * time.Second) }

// PodHTTPTimeout is PodHTTP with another timeout (a CPU profile takes as long as it samples).
func (e *Env) PodHTTPTimeout(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DialContext: e.DialPod, DisableKeepAlives: true, Proxy: nil},
	}
}

func (e *Env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "bench: "+format+"\n", args...)
}

// DialWorld connects from inside the world namespace as root: for an egress gateway's admin endpoints.
func (e *Env) DialWorld(ctx context.Context, network, addr string) (net.Conn, error) {
	return e.dialIn(ctx, e.Pair.World, network, addr)
}

// WorldCommand returns a command that runs name in the world namespace as the sidecar's UID (an egress
// gateway).
func (e *Env) WorldCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := netnstest.Command(e.Pair.World, SidecarUID, SidecarUID, name, args...)
	cmd := exec.CommandContext(ctx, c.Path, c.Args[1:]...)
	cmd.Env = c.Env
	return cmd
}
